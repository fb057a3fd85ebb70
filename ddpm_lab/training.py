"""Training ε̂(x_t, t, w) with the noise-prediction loss (Task 6), resumable and guarded against divergence.

Each step draws a batch x_0, timesteps t uniform on {1, …, T} and noise ε_0 ~ N(0, I), forms x_t by
eq. (27) and minimizes the batch loss of eq. (38), ‖ε̂(x_t, t, w) − ε_0‖², averaged over the batch and
the pixels (a constant factor of eq. 38, absorbed by the learning rate): :func:`noise_prediction_errors`,
the part the lab's Task 6 asks for. The lab's sum starts at t = 2 (eq. 36); t = 1 is included here because
the sampler evaluates ε̂ at t = 1 for its last step.

The whole training set lives on the compute device (3000 images are 12 MB): no DataLoader. All
randomness comes from one generator whose state is checkpointed, so a resumed run continues exactly
where the interrupted one stopped.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from torch import nn

from ddpm_lab import io
from ddpm_lab.errors import TrainingDiverged
from ddpm_lab.rules import Rules
from ddpm_lab.schedule import NoiseSchedule, q_sample
from ddpm_lab.streams import seed_of
from ddpm_lab.unet import mixed_precision

Precision = Callable[[torch.device], contextlib.AbstractContextManager]  # the U-Net's forward pass's precision, by device


@dataclass(frozen=True, kw_only=True)
class TrainConfig:
    """How the U-Net is trained (Task 6). No defaults: the lab's values are params.yaml's ``train`` section."""

    epochs: int
    batch_size: int
    learning_rate: float
    warmup_steps: int
    ema_decay: float
    grad_clip: float
    checkpoint_every: int
    seed: int
    lr_schedule: str  # after the warm-up: constant, or falling to zero at the last step: cosine, linear
    ema_warmup: bool  # EMA decay min(ema_decay, (1 + step) / (10 + step)): the first weights fade sooner
    loss_weighting: str  # "none": eq. (38) (for a v-predicting U-Net, ‖v̂ − v‖²); "min_snr": min-SNR-γ
    min_snr_gamma: float

    def __post_init__(self) -> None:
        rules = Rules(self)
        for name in ("epochs", "batch_size", "checkpoint_every"):
            rules.integer(name, low=1)
        rules.integer("warmup_steps", low=0)
        rules.integer("seed", low=0)
        rules.number("learning_rate", low=0, low_open=True)
        rules.number("grad_clip", low=0, low_open=True)
        rules.number("ema_decay", low=0, high=1, high_open=True)
        rules.choice("lr_schedule", ("constant", "cosine", "linear"))
        rules.flag("ema_warmup")
        rules.choice("loss_weighting", ("none", "min_snr"))
        rules.number("min_snr_gamma", low=0, low_open=True)
        rules.raise_problems()


@dataclass
class TrainState:
    model: nn.Module
    ema: nn.Module
    optimizer: torch.optim.Optimizer
    generator: torch.Generator
    epoch: int = 0
    step: int = 0
    history: list[float] = field(default_factory=list)
    resumed_from: int = 0  # the epoch a resumed run started at
    total_steps: int = 0  # optimizer steps of the whole run: where a decaying learning rate reaches zero

    def to_dict(self, identity: dict) -> dict:
        return {
            "identity": identity,
            "model": self.model.state_dict(),
            "ema": self.ema.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "generator": self.generator.get_state(),
            "epoch": self.epoch,
            "step": self.step,
            "history": list(self.history),
        }


def run_identity(model: nn.Module, schedule: NoiseSchedule, images: torch.Tensor, config: TrainConfig) -> dict:
    """What a checkpoint must share with a run to resume it: every setting but the epoch count (unless the
    learning rate decays over the run: then its length is part of it), the model's architecture, the schedule
    and the training images themselves."""
    settings = asdict(config)
    if config.lr_schedule == "constant":
        settings.pop("epochs")
    shapes = {name: list(p.shape) for name, p in model.state_dict().items()}
    digest = hashlib.sha1(images.detach().cpu().contiguous().numpy().tobytes())
    digest.update(schedule.alpha_bars.numpy().tobytes())
    return {"settings": settings, "parameter_shapes": shapes, "data_and_schedule_sha1": digest.hexdigest()}


def new_state(model: nn.Module, config: TrainConfig) -> TrainState:
    """A fresh state for ``model`` (already on its device): Adam, fused into one kernel on a GPU."""
    fused = next(model.parameters()).device.type == "cuda"
    optimizer = torch.optim.Adam(model.parameters(), lr=config.learning_rate, fused=fused or None)
    ema = copy.deepcopy(model).requires_grad_(False)
    return TrainState(model, ema, optimizer, torch.Generator().manual_seed(seed_of(config.seed, "training")))


def load_state(state: TrainState, path: Path, identity: dict, epochs: int) -> bool:
    """Restore ``state`` from ``path`` if it holds a checkpoint of the same run; return whether it did."""
    if not path.exists():
        return False
    saved = torch.load(path, map_location="cpu", weights_only=True)
    if saved.get("identity") != identity or saved["epoch"] > epochs:
        return False
    state.model.load_state_dict(saved["model"])
    state.ema.load_state_dict(saved["ema"])
    state.optimizer.load_state_dict(saved["optimizer"])
    state.generator.set_state(saved["generator"])
    state.epoch, state.step, state.history = saved["epoch"], saved["step"], list(saved["history"])
    state.resumed_from = state.epoch
    return True


def ema_decay_at(step: int, config: TrainConfig) -> float:
    """The EMA decay after optimizer step ``step`` (0-based): ``ema_decay``, or with ``ema_warmup`` the smaller
    (1 + step) / (10 + step), so the randomly initialised weights do not linger in the average."""
    return min(config.ema_decay, (1 + step) / (10 + step)) if config.ema_warmup else config.ema_decay


@torch.no_grad()
def update_ema(ema: nn.Module, model: nn.Module, decay: float) -> None:
    """ema ← ema + (1 − decay) · (model − ema), every parameter in one call; buffers copied."""
    torch._foreach_lerp_(list(ema.parameters()), list(model.parameters()), 1 - decay)
    for e, b in zip(ema.buffers(), model.buffers()):
        e.copy_(b)


def learning_rate_at(step: int, config: TrainConfig, total_steps: int) -> float:
    """The learning rate of optimizer step ``step`` (0-based) of ``total_steps``: a linear warm-up over
    ``warmup_steps`` steps to ``learning_rate``, then constant, or falling to zero at the last step along a
    half cosine or a straight line (``lr_schedule``)."""
    warm = min(1.0, (step + 1) / max(1, config.warmup_steps))
    if config.lr_schedule == "constant" or step < config.warmup_steps:
        return config.learning_rate * warm
    progress = (step - config.warmup_steps) / max(1, total_steps - config.warmup_steps)
    fall = 0.5 * (1 + math.cos(math.pi * progress)) if config.lr_schedule == "cosine" else 1 - progress
    return config.learning_rate * max(0.0, fall)


def loss_weights(schedule: NoiseSchedule, t: torch.Tensor, config: TrainConfig, prediction: str) -> torch.Tensor | None:
    """Weights of each image's ‖ε̂ − ε_0‖² in the batch loss; None: the lab's eq. (38), unweighted.

    With SNR_t = ᾱ_t / (1 − ᾱ_t): a v-predicting U-Net's own loss ‖v̂ − v‖² is ‖ε̂ − ε_0‖² / ᾱ_t, since
    ε̂ − ε_0 = √ᾱ_t (v̂ − v); min-SNR-γ (Hang et al., 2023) weighs ‖ε̂ − ε_0‖² by min(SNR_t, γ) / SNR_t whichever
    the U-Net predicts (for v that is its min(SNR_t, γ) / (SNR_t + 1) on ‖v̂ − v‖²).
    """
    alpha_bar = schedule.alpha_bars[t]
    if config.loss_weighting == "min_snr":
        snr = alpha_bar / (1 - alpha_bar)
        return snr.clamp(max=config.min_snr_gamma) / snr
    return 1 / alpha_bar if prediction == "v" else None


def noise_prediction_errors(
    model: nn.Module, schedule: NoiseSchedule, x0: torch.Tensor, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """The terms of eq. (38)'s batch loss, one per image of the batch ``x0`` (B, C, H, W) — Task 6.

    1. Draw t, one timestep per image, uniform on {1, …, T} (T = ``schedule.steps``), with ``generator``.
       The lab's sum starts at t = 2 (eq. 36); t = 1 is included because the sampler's last step evaluates
       ε̂ at t = 1.
    2. Draw the noise ε_0 ~ N(0, I), the shape of ``x0``, with ``generator`` (a CPU generator: draw on the CPU,
       then move it to ``x0``'s device). Draw both with ``generator`` alone, so that a resumed run goes on
       exactly where it stopped.
    3. Form x_t = √ᾱ_t x_0 + √(1 − ᾱ_t) ε_0 of eq. (27) (:func:`~ddpm_lab.schedule.q_sample`).
    4. Predict the noise: ε̂ = ``model(x_t, t)``, t on x_t's device.
    5. Each image's squared error ‖ε̂(x_t, t, w) − ε_0‖², averaged over its pixels (eq. (38)'s term divided by
       the pixel count, a constant factor that the learning rate absorbs), as float32.

    Returns the errors (B,) and the timesteps t (B,) that were drawn.
    """
    # BEGIN SOLUTION
    device = x0.device
    t = torch.randint(1, schedule.steps + 1, (len(x0),), generator=generator)  # 1
    noise = torch.randn(x0.shape, generator=generator).to(device)  # 2
    x_t = q_sample(schedule, x0, t, noise)  # 3
    predicted = model(x_t, t.to(device))  # 4
    return (predicted.float() - noise).square().mean(dim=(1, 2, 3)), t  # 5
    # END SOLUTION
    # STUB: raise NotImplementedError("Task 6: x_t of eq. (27) for a random t and the loss of eq. (38), image by image")


def training_step(
    state: TrainState, schedule: NoiseSchedule, x0: torch.Tensor, config: TrainConfig, precision: Precision = mixed_precision
) -> torch.Tensor:
    """One optimizer step on the batch ``x0``; returns its loss (a 0-d tensor on the model's device).

    1. Eq. (38)'s terms, image by image (:func:`noise_prediction_errors`), the U-Net run under ``precision(device)``:
       bf16 on a GPU, fp32 on a CPU by default (:func:`~ddpm_lab.unet.mixed_precision`).
    2. The batch loss: their mean, weighted by :func:`loss_weights` where the config departs from the lab.
    3. On a CPU, stop at once on a NaN or infinite loss, before the weights take it in. On a GPU that check
       would make the host wait for the device every step: :func:`train` checks each epoch's loss instead,
       before anything is saved.
    4. Gradient step with the warm-up learning rate and clipped gradients; then the EMA of the weights.
    """
    device = x0.device
    with precision(device):  # 1
        errors, t = noise_prediction_errors(state.model, schedule, x0, state.generator)
    weights = loss_weights(schedule, t.cpu(), config, state.model.config.prediction)  # 2
    loss = errors.mean() if weights is None else (weights.to(device) * errors).mean()
    if loss.device.type == "cpu" and not torch.isfinite(loss):  # 3
        raise TrainingDiverged(
            f"loss became {loss.item()} at epoch {state.epoch + 1}, step {state.step + 1}; last good checkpoint kept"
        )
    for group in state.optimizer.param_groups:  # 4
        group["lr"] = learning_rate_at(state.step, config, state.total_steps)
    state.optimizer.zero_grad(set_to_none=True)
    loss.backward()
    nn.utils.clip_grad_norm_(state.model.parameters(), config.grad_clip)
    state.optimizer.step()
    update_ema(state.ema, state.model, ema_decay_at(state.step, config))
    state.step += 1
    return loss.detach()


def train(
    model: nn.Module,
    schedule: NoiseSchedule,
    images: torch.Tensor,
    config: TrainConfig,
    device: str | torch.device = "cpu",
    checkpoint: Path | None = None,
    on_epoch: Callable[[int, float], None] | None = None,
    precision: Precision = mixed_precision,
) -> TrainState:
    """Train ``model`` in place for ``config.epochs`` epochs, resuming from ``checkpoint`` when it matches;
    ``on_epoch(epoch, loss)`` after each epoch; the U-Net's forward pass under ``precision(device)``
    (:func:`training_step`).

    Writes ``checkpoint`` atomically every ``config.checkpoint_every`` epochs and at the end. A NaN or
    infinite loss raises :class:`TrainingDiverged` at once, before anything of the broken state is saved.
    """
    device = torch.device(device)
    model.to(device)
    state = new_state(model, config)
    identity = run_identity(model, schedule, images, config)
    if checkpoint is not None and load_state(state, checkpoint, identity, config.epochs):
        print(f"resuming from {checkpoint} at epoch {state.epoch}")
    state.ema.to(device)
    data = images.to(device)
    n = len(data)
    state.total_steps = config.epochs * math.ceil(n / config.batch_size)
    for epoch in range(state.epoch, config.epochs):
        model.train()
        order = torch.randperm(n, generator=state.generator)
        total = torch.zeros((), device=device)
        for i in range(math.ceil(n / config.batch_size)):
            idx = order[i * config.batch_size : (i + 1) * config.batch_size]
            total += training_step(state, schedule, data[idx.to(device)], config, precision) * len(idx)
        state.history.append((total / n).item())  # the host waits for the device here, once an epoch
        if not math.isfinite(state.history[-1]):
            raise TrainingDiverged(f"loss became {state.history[-1]} in epoch {epoch + 1}; last good checkpoint kept")
        state.epoch = epoch + 1
        if on_epoch:
            on_epoch(state.epoch, state.history[-1])
        if checkpoint is not None and (state.epoch % config.checkpoint_every == 0 or state.epoch == config.epochs):
            io.torch_save(checkpoint, state.to_dict(identity))
    return state
