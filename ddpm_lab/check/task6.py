"""Task 6: eq. (38)'s terms for a batch (t drawn, x_t formed by eq. (27), the noise predicted, the squared error),
and a short training run through them.

The U-Net is replaced by a stand-in (:class:`Witness`) that records the x_t and t it is given and predicts a
fixed pattern: the noise that made each x_t then follows from eq. (27), and each image's error can be
recomputed here, whatever order the function draws its numbers in.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ddpm_lab.check import Check, Mismatch
from ddpm_lab.check.task4 import lab_schedule

BATCH, SHAPE, SEED = 8000, (1, 4, 4), 11  # 8000 draws of t on 1..500: t = 1 and t = 500 each missed with p < 1e-6


class Witness(nn.Module):
    """Predicts ``pattern`` (plus w·x_t with w = 0, so the loss has a gradient) and records its inputs."""

    def __init__(self, pattern: torch.Tensor) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.zeros(()))
        self.pattern = pattern
        self.inputs: list[tuple[torch.Tensor, torch.Tensor]] = []

    def forward(self, x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        self.inputs.append((x_t.detach().clone(), torch.as_tensor(t).detach().clone()))
        return self.pattern.to(x_t.dtype) + self.w * x_t


def one_batch(seed: int = SEED) -> dict:
    """Call the function once on a batch of BATCH small images; return what it returned and what its model saw."""
    from ddpm_lab.training import noise_prediction_errors

    data = torch.Generator().manual_seed(1)
    x0 = torch.rand((BATCH, *SHAPE), generator=data) * 2 - 1
    witness = Witness(torch.randn((BATCH, *SHAPE), generator=data))
    returned = noise_prediction_errors(witness, lab_schedule(), x0, torch.Generator().manual_seed(seed))
    if not (isinstance(returned, tuple) and len(returned) == 2):
        raise Mismatch(f"returned {type(returned).__name__}, expected the pair (errors, t)")
    errors, t = returned
    if len(witness.inputs) != 1:
        raise Mismatch(f"called the model {len(witness.inputs)} times for one batch, expected once, on x_t and t")
    x_t, seen_t = witness.inputs[0]
    return {"x0": x0, "pattern": witness.pattern, "errors": errors, "t": t, "x_t": x_t, "seen_t": seen_t}


def check_t() -> str:
    batch, steps = one_batch(), lab_schedule().steps
    t = batch["t"]
    if not isinstance(t, torch.Tensor) or t.shape != (BATCH,) or t.dtype.is_floating_point:
        raise Mismatch(
            f"returned t as {getattr(t, 'dtype', type(t).__name__)} of shape {tuple(getattr(t, 'shape', ()))}, "
            f"expected integers, one per image ({BATCH},)"
        )
    if batch["seen_t"].shape != t.shape or not torch.equal(batch["seen_t"].cpu().long(), t.cpu().long()):
        raise Mismatch("the t given to the model is not the t returned: return the timesteps x_t was made with")
    low, high = int(t.min()), int(t.max())
    if len(set(t.tolist())) == 1:
        raise Mismatch(f"every image of the batch got t = {low}: draw one t per image, shape (B,)")
    if (low, high) != (1, steps):
        cause = {
            (0, steps - 1): "torch.randint(0, T) draws 0..T−1: the lab's t runs from 1",
            (1, steps - 1): "torch.randint(1, T) stops at T − 1: its upper bound is exclusive, write T + 1",
            (2, steps): "eq. (36)'s sum starts at t = 2, but the sampler's last step evaluates ε̂ at t = 1: draw from 1",
        }.get((low, high))
        raise Mismatch(
            f"t ranged over {low}..{high} in {BATCH} draws, the docstring's t runs over 1..{steps}"
            + (f": {cause}?" if cause else "")
        )
    mean, spread = t.double().mean().item(), math.sqrt((steps**2 - 1) / 12 / BATCH)
    if abs(mean - (steps + 1) / 2) > 5 * spread:
        raise Mismatch(
            f"t averaged {mean:.1f} over {BATCH} draws; uniform on 1..{steps} averages {(steps + 1) / 2} "
            f"± {5 * spread:.1f}: draw t uniformly (torch.randint)"
        )
    return f"one t per image, uniform on 1..{steps} ({BATCH} draws: {low}..{high}, mean {mean:.1f})"


def implied_noise(batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
    """ε_0 solved from eq. (27) for each image with 1 ≤ t ≤ T, and which images those are."""
    schedule = lab_schedule()
    t = batch["seen_t"].cpu().long().reshape(-1).expand(len(batch["x0"]))  # one t for the batch: the same for all
    valid = (t >= 1) & (t <= schedule.steps)
    ab = schedule.alpha_bars[t.clamp(0, schedule.steps)].reshape(-1, 1, 1, 1)
    noise = (batch["x_t"].double().cpu() - ab.sqrt() * batch["x0"].double()) / (1 - ab).clamp(min=1e-12).sqrt()
    return noise, valid


REDUCTIONS = {
    "mean of the squared errors over the pixels": lambda d: d.square().mean(dim=(1, 2, 3)),
    "sum of the squared errors over the pixels": lambda d: d.square().sum(dim=(1, 2, 3)),
    "mean of the absolute errors": lambda d: d.abs().mean(dim=(1, 2, 3)),
    "norm, not squared": lambda d: d.square().sum(dim=(1, 2, 3)).sqrt(),
}
RIGHT = "mean of the squared errors over the pixels"


def match(batch: dict) -> tuple[str, str] | None:
    """(target, reduction) that the returned errors are, to float32's rounding, or None. Images at t < 20 are left
    out: there √(1 − ᾱ_t) ≈ 0.01 to 0.05, and the float32 rounding of ᾱ_t moves the noise that x_t implies by
    up to 1e-4 of itself."""
    errors = batch["errors"]
    if not isinstance(errors, torch.Tensor):
        raise Mismatch(f"returned errors as {type(errors).__name__}, expected a tensor of one error per image")
    errors = errors.detach().double().cpu().reshape(-1)
    noise, valid = implied_noise(batch)
    if errors.numel() != 1:  # image by image: the images whose implied noise float32 leaves exact enough
        valid &= batch["seen_t"].cpu().long().reshape(-1).expand(len(valid)) >= 20
    targets = {"ε_0": noise, "x_0": batch["x0"].double(), "x_t": batch["x_t"].double().cpu()}
    pattern = batch["pattern"].double()
    for target, value in targets.items():
        for name, reduce in REDUCTIONS.items():
            per_image = reduce(pattern - value)
            candidate = per_image if errors.numel() != 1 else per_image[valid].mean().reshape(1)
            keep = valid if errors.numel() != 1 else torch.ones(1, dtype=torch.bool)
            if errors.numel() == candidate.numel() and torch.allclose(errors[keep], candidate[keep], rtol=1e-3, atol=1e-4):
                return target, name
    return None


def check_target() -> str:
    batch = one_batch()
    noise, valid = implied_noise(batch)
    noise, x0 = noise[valid], batch["x0"][valid].double()
    n = noise.numel()
    mean, std = noise.mean().item(), noise.std().item()
    corr = torch.corrcoef(torch.stack([noise.flatten(), x0.flatten()]))[0, 1].item()
    if abs(mean) > 5 / math.sqrt(n) or abs(std - 1) > 5 / math.sqrt(2 * n) or abs(corr) > 5 / math.sqrt(n):
        raise Mismatch(
            f"x_t is not eq. (27) of x_0 and the t drawn: the noise it implies has mean {mean:.3f}, std {std:.3f} and "
            f"correlation {corr:.3f} with x_0, where N(0, I) has 0, 1, 0 (is q_sample right? `python -m ddpm_lab.check 4`)"
        )
    found = match(batch)
    if found is not None and found[0] == "ε_0":
        return "the target is the noise ε_0 that made each x_t (eq. (27)), not x_0, x_t or a second draw"
    if found is not None:
        raise Mismatch(f"the errors are those of ε̂ against {found[0]}; eq. (38)'s target is the noise ε_0 that made x_t")
    raise Mismatch(
        "the errors are not those of ε̂ against the noise that made x_t (nor x_0, nor x_t): noise drawn twice, one for "
        "x_t and another for the target?"
    )


def check_loss() -> str:
    batch = one_batch()
    errors = batch["errors"]
    if isinstance(errors, torch.Tensor) and errors.numel() == 1 and BATCH > 1:
        raise Mismatch(f"returned one number for the batch; the function returns eq. (38)'s terms, one per image ({BATCH},)")
    if not isinstance(errors, torch.Tensor) or errors.shape != (BATCH,):
        raise Mismatch(f"returned errors of shape {tuple(getattr(errors, 'shape', ()))}, expected one per image ({BATCH},)")
    if not errors.requires_grad:
        raise Mismatch("the errors carry no gradient back to the model's weights: compute them from the model's output")
    found = match(batch)
    if found is None:  # the target is wrong (another line says so): judge the reduction by its scale alone
        pattern, pixels = batch["pattern"].double(), math.prod(SHAPE)
        fresh = pattern.square().mean().item() + 1  # E (ε̂ − ε')² per pixel for noise ε' independent of ε̂
        scale = errors.detach().double().mean().item() / fresh
        if abs(scale - 1) < 0.05:
            return "the mean of the squared errors over each image's pixels (judged by its scale: the target is wrong)"
        cause = "summed over the pixels where the docstring averages" if abs(scale / pixels - 1) < 0.05 else None
        raise Mismatch(
            f"the errors average {scale:.3g}× the mean squared error of ε̂ against noise"
            + (f": {cause}?" if cause else ": not eq. (38)'s squared error")
        )
    if found[1] != RIGHT:
        cause = {
            "sum of the squared errors over the pixels": "the docstring averages over the pixels (a constant factor "
            "of eq. (38) that the learning rate is tuned for)"
        }.get(found[1], "eq. (38) squares the error")
        raise Mismatch(
            f"each image's error is the {found[1]}, eq. (38)'s term is the squared error, averaged over the pixels: {cause}"
        )
    return "‖ε̂ − ε_0‖² averaged over each image's pixels, one per image, with a gradient to the weights"


def check_generator() -> str:
    first, again, other = one_batch(SEED), one_batch(SEED), one_batch(SEED + 1)
    same = torch.equal(first["t"], again["t"]) and torch.equal(first["x_t"], again["x_t"])
    if not same:
        raise Mismatch(
            "the same generator state gave other t or x_t: draw t and ε_0 with `generator` "
            "(torch.randint(..., generator=generator), torch.randn(..., generator=generator))"
        )
    if torch.equal(first["x_t"], other["x_t"]):
        raise Mismatch("another generator seed gave the same x_t: the draws must come from `generator`")
    return "t and ε_0 come from the generator handed in: the same state, the same batch (a resumed run goes on exactly)"


def bars(n: int = 32) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    base = torch.zeros(n, 1, 8, 8)
    base[:, :, 2:6, 3:5] = 1  # a bar, like a "1"
    return (base + 0.05 * torch.randn(base.shape, generator=g)).clamp(0, 1) * 2 - 1


def check_training() -> str:
    from ddpm_lab.schedule import NoiseSchedule
    from ddpm_lab.training import TrainConfig, train
    from ddpm_lab.unet import UNet, UNetConfig

    torch.manual_seed(0)
    schedule = NoiseSchedule.linear(0.9999, 0.98, 50)
    small = UNetConfig(
        image_size=8,
        base_channels=8,
        channel_mults=(1, 2),
        attention=True,
        attention_levels=(),
        blocks_per_level=1,
        dropout=0.0,
        prediction="eps",
        groups=8,
        patch_size=1,
        full_res_channels=0,
        full_res_groups=8,
        full_res_stem_block=True,
    )
    model = UNet(small, schedule)
    config = TrainConfig(
        epochs=30,
        batch_size=16,
        learning_rate=3e-3,
        warmup_steps=5,
        ema_decay=0.999,
        grad_clip=1.0,
        checkpoint_every=10,
        seed=0,
        lr_schedule="constant",
        ema_warmup=False,
        loss_weighting="none",
        min_snr_gamma=5.0,
    )
    state = train(model, schedule, bars(), config)
    first, last = sum(state.history[:5]) / 5, sum(state.history[-5:]) / 5
    if not last < 0.7 * first:
        raise Mismatch(
            f"a short training run (30 epochs on 32 images of a bar, a small U-Net) took the loss from "
            f"{first:.3f} to {last:.3f}; with eq. (38) it falls below 0.7× ({0.7 * first:.3f})"
        )
    return f"a short training run (30 epochs on 32 images of a bar) lowered the loss from {first:.3f} to {last:.3f}"


def checks() -> list[Check]:
    return [
        Check(6, "eq. (38)", "noise_prediction_errors: t", check_t),
        Check(6, "eq. (38)", "noise_prediction_errors: the target", check_target),
        Check(6, "eq. (38)", "noise_prediction_errors: the squared error", check_loss),
        Check(6, "eq. (38)", "noise_prediction_errors: the generator", check_generator),
        Check(6, "eq. (38)", "a short training run", check_training),
    ]
