"""The learned backward process (Task 5): ancestral sampling with p(x_{t−1} | x_t) of eq. (33).

At each step, for t = T, …, 1:

    x_{t−1} = μ_p(x_t, t) + σ(t) · z,   z ~ N(0, I)  (no noise at t = 1)

with μ_p from the predicted noise, eq. (35), and σ²(t) = σ_q²(t) = (1 − ᾱ_{t−1}) / (1 − ᾱ_t) · (1 − α_t), the
variance of eq. (28). Options (each off by default except where params.yaml says otherwise;
reports/ablation/table.md has what each costs or buys):

- ``clip_x0``: form x̂_0 from ε̂ (eq. 27 solved for x_0), clip it to [−1, 1] and take μ from eq. (29) —
  algebraically eq. (35) when nothing is clipped;
- ``start``: ``"standard_normal"`` x_T ~ N(0, I) as in the lab, or ``"forward_marginal"``,
  x_T = √ᾱ_T · m + √(1 − ᾱ_T) · ε with m the mean training image (what eq. 27 actually gives at t = T);
- ``variance``: ``"posterior"`` σ_q²(t) as the lab says, or ``"beta"`` (1 − α_t);
- ``steps``: fewer than T steps, on a subsequence of 1..T (respacing, as in improved DDPM): the same update
  with the schedule re-derived on that subsequence, ᾱ kept;
- ``spacing_power``: that subsequence τ_i ≈ T · (i / S)^p: p = 1 evenly spaced, p = 2 DDIM's "quadratic";
  above 1 the steps crowd near t = 0, where the last of the noise leaves the strokes;
- ``eta``: the scale η of each step's fresh noise, σ = η · σ_q with the mean adjusted (DDIM's family,
  :func:`step_noise`): 1 is the lab's sampler, 0 DDIM's deterministic one, above 1 more noise and less of ε̂.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from ddpm_lab.data import to_uint8
from ddpm_lab.rules import Rules
from ddpm_lab.schedule import NoiseSchedule, posterior_mean_from_noise, posterior_mean_from_x0, predict_x0
from ddpm_lab.unet import UNet


@dataclass(frozen=True, kw_only=True)
class SamplerConfig:
    """How samples are drawn (Task 5). No defaults: the lab's values are params.yaml's ``sampler`` section, and
    the sampler exactly as the lab writes it is :data:`LAB_LITERAL`."""

    steps: int | None  # None or T: every timestep; fewer: respaced
    spacing_power: float  # which timesteps a respaced sampler visits: τ_i ≈ T (i/S)^p, 1 evenly spaced
    start: str  # x_T from standard_normal (the lab's) or forward_marginal (eq. 27 with the mean training image)
    variance: str  # posterior: σ_q²(t) (the lab's); beta: 1 − α_t
    clip_x0: bool
    eta: float  # σ = η·σ_q: 1 eq. (33) as the lab writes it; 0 no fresh noise after x_T (DDIM); above 1 more
    batch_size: int
    use_ema: bool  # which weights of the trained model to sample with: for whoever loads the model

    def __post_init__(self) -> None:
        rules = Rules(self)
        if self.steps is not None:
            rules.integer("steps", low=1)
        rules.number("spacing_power", low=1)
        rules.choice("start", ("standard_normal", "forward_marginal"))
        rules.choice("variance", ("posterior", "beta"))
        rules.flag("clip_x0")
        rules.number("eta", low=0)
        if rules.ok("eta", "variance") and self.eta != 1:
            rules.that("eta", self.variance == "posterior", f"other than 1 needs variance 'posterior', got {self.variance!r}")
        rules.flag("use_ema")
        rules.integer("batch_size", low=1)
        rules.raise_problems()

    @classmethod
    def literal(cls, batch_size: int, **changes) -> SamplerConfig:
        """The sampler as the lab writes eq. (33) (:data:`LAB_LITERAL`) on EMA weights, ``batch_size`` images at
        once, with ``changes`` on top."""
        return cls(**{**LAB_LITERAL, "use_ema": True, "batch_size": batch_size, **changes})

    def describe(self, total_steps: int) -> str:
        """The settings in words, as figure titles print them."""
        steps = min(self.steps or total_steps, total_steps)
        return (
            f"{'EMA' if self.use_ema else 'raw'} weights, x_T from {self.start.replace('_', ' ')}, "
            f"{steps} of {total_steps} steps{f' (spacing power {self.spacing_power:g})' if steps < total_steps else ''}, "
            f"{self.variance} variance{', x_0 clipped' if self.clip_x0 else ''}"
            f"{f', eta {self.eta:g}' if self.eta != 1 else ''}"
        )


LAB_LITERAL = {
    "steps": None,
    "spacing_power": 1.0,
    "start": "standard_normal",
    "variance": "posterior",
    "clip_x0": False,
    "eta": 1.0,
}
"""The sampler as the lab writes eq. (33): every one of the T steps, x_T from N(0, I), the posterior variance
σ_q²(t), x̂_0 unclipped, fresh noise at σ_q: ``dataclasses.replace(config, **LAB_LITERAL)``, or
``SamplerConfig.literal(batch_size)``."""


def respaced(schedule: NoiseSchedule, steps: int | None, power: float = 1.0) -> tuple[NoiseSchedule, torch.Tensor]:
    """The schedule on ``steps`` timesteps 0 = τ_0 < τ_1 < … < τ_S = T, and the original timestep of each.

    1. The subsequence τ_i = round(T · (i / S)^power), each at least one above the one before: power 1 evenly
       spaced, 2 DDIM's "quadratic" choice (Song, Meng and Ermon, 2021, appendix D.2). At S = 100 of T = 500,
       power 1.5 visits every t up to 4 and steps by up to 8 near T; power 2 every t up to 20, then up to 10.
    2. Keeping ᾱ on it defines α'_i = ᾱ_{τ_i} / ᾱ_{τ_{i−1}}, so eqs. (27)–(35) hold unchanged on the
       subsequence; with steps = T it is the schedule itself.
    """
    total = schedule.steps
    if power < 1:  # below 1 the steps would crowd near T and the last could pass it
        raise ValueError(f"power must be >= 1, got {power}")
    if steps is None or steps >= total:
        return schedule, torch.arange(total + 1)
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    visited = [0]  # 1
    for i in range(1, steps + 1):
        visited.append(max(round(total * (i / steps) ** power), visited[-1] + 1))
    taus = torch.tensor(visited)
    alpha_bars = schedule.alpha_bars[taus]  # 2
    alphas = torch.ones_like(alpha_bars)
    alphas[1:] = alpha_bars[1:] / alpha_bars[:-1]
    return NoiseSchedule(alphas=alphas, alpha_bars=alpha_bars), taus


def sample_generator(seed: int, index: int) -> torch.Generator:
    """The CPU generator of sample ``index`` of a run of stream seed ``seed``: its own stream, derived from the pair
    by NumPy's ``SeedSequence``, so that any sample can be drawn again alone, in any batch, on any device."""
    return torch.Generator().manual_seed(int(np.random.SeedSequence([seed, index]).generate_state(1, np.uint64)[0]))


def fresh_noise(generators: list[torch.Generator], shape: tuple) -> torch.Tensor:
    """One draw of N(0, I) of ``shape`` from each sample's generator, stacked (on the CPU)."""
    return torch.stack([torch.randn(shape, generator=g) for g in generators])


def start_noise(
    schedule: NoiseSchedule, config: SamplerConfig, noise: torch.Tensor, mean_image: torch.Tensor | None
) -> torch.Tensor:
    """x_T from the first noise draw of each sample: the noise itself, or eq. (27) at t = T with the mean image."""
    if config.start == "standard_normal":
        return noise
    if mean_image is None:
        raise ValueError("start='forward_marginal' needs the mean training image")
    alpha_bar = schedule.alpha_bars[-1].item()
    return alpha_bar**0.5 * mean_image.reshape(1, *noise.shape[1:]) + (1 - alpha_bar) ** 0.5 * noise


def backward_step(schedule: NoiseSchedule, x_t: torch.Tensor, eps: torch.Tensor, t: int, z: torch.Tensor | None) -> torch.Tensor:
    """x_{t−1} from x_t and the predicted noise ε̂(x_t, t): one step of the backward process, eq. (33) — Task 5.

    1. The mean μ_p(x_t, t) of eq. (35), from ε̂: :func:`~ddpm_lab.schedule.posterior_mean_from_noise`, whose t
       is a tensor of one timestep per image (here all equal to ``t``).
    2. The standard deviation σ_q(t), the square root of eq. (28)'s variance σ_q²(t) =
       ``schedule.posterior_variance[t]`` (a variance: z is scaled by its square root).
    3. x_{t−1} = μ_p + σ_q(t) · z, with the noise z ~ N(0, I) that the sampler hands in (it draws every step's
       noise from seeded generators, one per sample: the same seed, the same samples; draw none here). At t = 1 ``z`` is
       None and no noise is added: x_0 = μ_p.

    ``t`` is an int, 1 ≤ t ≤ T; ``x_t``, ``eps`` and ``z`` have one shape, (B, C, H, W).
    """
    # BEGIN SOLUTION
    mean = posterior_mean_from_noise(schedule, x_t, eps, torch.full((len(x_t),), t, dtype=torch.long))  # 1
    if z is None:  # 3, at t = 1
        return mean
    sigma = schedule.posterior_variance[t].sqrt().item()  # 2
    return mean + sigma * z  # 3
    # END SOLUTION
    # STUB: raise NotImplementedError("Task 5: one step of the backward process, eq. (33)")


def variant_step(
    schedule: NoiseSchedule, x_t: torch.Tensor, eps: torch.Tensor, t: int, config: SamplerConfig, z: torch.Tensor | None
) -> torch.Tensor:
    """The backward step with the options this pipeline adds to the lab's (``clip_x0``, ``variance: beta``).

    1. The mean: with ``clip_x0``, x̂_0 from eq. (27) solved for x_0, clipped to [−1, 1], and μ_q(x_t, x̂_0)
       of eq. (29) (the same value as eq. (35) when nothing is clipped); else eq. (35).
    2. The variance: σ_q²(t) of eq. (28) ("posterior") or 1 − α_t ("beta").
    3. x_{t−1} = mean + σ(t) · z; no noise at t = 1 (``z`` is None).
    """
    steps = torch.full((len(x_t),), t, dtype=torch.long)
    if config.clip_x0:  # 1
        mean = posterior_mean_from_x0(schedule, x_t, predict_x0(schedule, x_t, eps, steps).clamp(-1, 1), steps)
    else:
        mean = posterior_mean_from_noise(schedule, x_t, eps, steps)
    if z is None:  # 3, at t = 1
        return mean
    variance = schedule.posterior_variance[t] if config.variance == "posterior" else 1 - schedule.alphas[t]  # 2
    return mean + variance.sqrt().item() * z  # 3


def step(
    schedule: NoiseSchedule, x_t: torch.Tensor, eps: torch.Tensor, t: int, config: SamplerConfig, z: torch.Tensor | None
) -> torch.Tensor:
    """The lab's step, :func:`backward_step`, unless ``config`` selects one of the options of :func:`variant_step`."""
    if config.clip_x0 or config.variance != "posterior":
        return variant_step(schedule, x_t, eps, t, config, z)
    return backward_step(schedule, x_t, eps, t, z)


def step_noise(schedule: NoiseSchedule, eps: torch.Tensor, t: int, eta: float, z: torch.Tensor) -> torch.Tensor:
    """The noise z' that the lab's step (:func:`backward_step`) scales by σ_q(t) so that it becomes a step of DDIM's
    family (Song, Meng and Ermon, 2021, eq. 12) with σ(t) = η · σ_q(t):

        x_{t−1} = √ᾱ_{t−1} · x̂_0 + √(1 − ᾱ_{t−1} − σ²(t)) · ε̂ + σ(t) · z.

    1. σ²(t) = min(η² σ_q²(t), 1 − ᾱ_{t−1}): η = 0 adds no fresh noise after x_T (DDIM's deterministic
       sampler), η = 1 is the lab's σ_q of eq. (28), and at the cap the step keeps nothing of ε̂: it re-noises
       x̂_0 with fresh noise alone.
    2. Eq. (35)'s mean is √ᾱ_{t−1} · x̂_0 + √(1 − ᾱ_{t−1} − σ_q²(t)) · ε̂ (x̂_0 from eq. 27 solved for x_0), so
       the line above is μ_p + σ_q(t) · z' with
       z' = (σ / σ_q) · z + c_t · ε̂,   c_t = (√(1 − ᾱ_{t−1} − σ²) − √(1 − ᾱ_{t−1} − σ_q²)) / σ_q.
       With ``clip_x0`` the mean is eq. (29)'s of the clipped x̂_0 and z' the same: DDIM's step where nothing is
       clipped.

    ``t`` ≥ 2 (at t = 1 no noise is added and σ_q(1) = 0).
    """
    variance = schedule.posterior_variance[t]
    rest = 1 - schedule.alpha_bars[t - 1]
    sigma2 = torch.clamp(eta**2 * variance, max=rest)  # 1
    c_t = ((rest - sigma2).sqrt() - (rest - variance).sqrt()) / variance.sqrt()  # 2
    return (sigma2 / variance).sqrt().item() * z + c_t.item() * eps


def full_precision(device: torch.device) -> contextlib.AbstractContextManager:
    """The U-Net's forward pass while sampling: fp32 on every device, with cuDNN's TF32 convolutions (on by
    default on a GPU) turned off; training runs it in bf16 on a GPU (:func:`ddpm_lab.unet.mixed_precision`). The
    grader draws a run's samples again from its weights on a CPU in fp32 and allows 8 levels of 255 (rubric:
    task7.samples_regenerate); a sampler in bf16, or with TF32 convolutions, leaves samples beyond that."""
    if device.type != "cuda":
        return contextlib.nullcontext()
    cudnn = torch.backends.cudnn
    return cudnn.flags(enabled=cudnn.enabled, benchmark=cudnn.benchmark, deterministic=cudnn.deterministic, allow_tf32=False)


@torch.no_grad()
def sample(
    model: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    schedule: NoiseSchedule,
    n: int,
    shape: tuple[int, int, int],
    config: SamplerConfig,
    seed: int = 0,
    device: str | torch.device = "cpu",
    mean_image: torch.Tensor | None = None,
    progress: Callable[[int, int], None] | None = None,
    observe: Callable[[int, torch.Tensor], None] | None = None,
    indices: list[int] | None = None,
) -> torch.Tensor:
    """Draw ``n`` samples (n, *shape) in model range, batch by batch; the same seed gives the same samples.
    Each step is :func:`step` (the lab's :func:`backward_step` at the lab's settings), its fresh noise z mixed
    with the predicted noise by :func:`step_noise` where ``config.eta`` is not 1. ``progress(done, total)`` after
    each step of each batch; ``observe(t, x_t)`` with each batch's x_T and then with x_t after each step (t on the
    original 0..T scale), for a figure of the trajectory.

    Sample i draws all of its noise, x_T's first and then each step's z, from its own CPU generator
    (:func:`sample_generator` of ``seed`` and i). So sample i is the same whatever the batch it is drawn in and
    whatever the device, up to floating-point rounding, and ``indices`` draws only the samples named (n is then
    their number): a grader regenerates a few samples of a run from its weights without drawing them all.
    """
    device = torch.device(device)
    indices = list(range(n)) if indices is None else [int(i) for i in indices]
    if len(indices) != n:
        raise ValueError(f"{len(indices)} indices for {n} samples")
    sub, taus = respaced(schedule, config.steps, config.spacing_power)
    starts = range(0, len(indices), config.batch_size)
    total, done = len(starts) * sub.steps, 0
    batches = []
    for start in starts:
        generators = [sample_generator(seed, i) for i in indices[start : start + config.batch_size]]
        size = len(generators)
        x = start_noise(sub, config, fresh_noise(generators, shape), mean_image).to(device)
        if observe:
            observe(int(taus[-1]), x)
        for i in range(sub.steps, 0, -1):
            with full_precision(device):
                eps = model(x, taus[torch.full((size,), i, dtype=torch.long)].to(device)).float()
            z = fresh_noise(generators, shape).to(device) if i > 1 else None
            if z is not None and config.eta != 1:
                z = step_noise(sub, eps, i, config.eta, z)
            x = step(sub, x, eps, i, config, z)
            if observe:
                observe(int(taus[i - 1]), x)
            done += 1
            if progress:
                progress(done, total)
        batches.append(x.cpu())
    return torch.cat(batches)


def generate(
    model: UNet,
    schedule: NoiseSchedule,
    n: int,
    config: SamplerConfig,
    seed: int,
    device: str | torch.device = "cpu",
    mean_image: torch.Tensor | None = None,
    progress: Callable[[int, int], None] | None = None,
    observe: Callable[[int, torch.Tensor], None] | None = None,
    indices: list[int] | None = None,
) -> np.ndarray:
    """``n`` samples of a trained U-Net (or those of ``indices``, :func:`sample`) as the pipeline stores images:
    uint8 (n, H, W), digits bright on black."""
    c, size = model.config.channels, model.config.image_size
    samples = sample(
        model.to(device),
        schedule,
        n,
        (c, size, size),
        config,
        seed=seed,
        device=device,
        mean_image=mean_image,
        progress=progress,
        observe=observe,
        indices=indices,
    )
    return to_uint8(samples)


class Trajectory:
    """An ``observe`` callback for :func:`sample`: keeps the first ``n`` images of the first batch at each of
    ``times`` (each moved to the nearest timestep the sampler visits), as float arrays (n, H, W) in model range."""

    def __init__(self, schedule: NoiseSchedule, config: SamplerConfig, times: list[int], n: int) -> None:
        _, taus = respaced(schedule, config.steps, config.spacing_power)
        self.times = sorted({int(taus[(taus - t).abs().argmin()]) for t in times}, reverse=True)
        self.n = n
        self.kept: dict[int, np.ndarray] = {}

    def __call__(self, t: int, x: torch.Tensor) -> None:
        if t in self.times and t not in self.kept:
            self.kept[t] = x[: self.n, 0].float().cpu().numpy()
