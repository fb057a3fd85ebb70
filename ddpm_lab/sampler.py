"""The learned backward process (Task 5): ancestral sampling with p(x_{t−1} | x_t) of eq. (33).

At each step, for t = T, …, 1:

    x_{t−1} = μ_p(x_t, t) + σ(t) · z,   z ~ N(0, I)  (no noise at t = 1)

with μ_p from the predicted noise, eq. (35), and σ²(t) = σ_q²(t) = (1 − ᾱ_{t−1}) / (1 − ᾱ_t) · (1 − α_t), the
variance of eq. (28). Options (each off by default except where params.yaml says otherwise; README
"Sampler options" has the numbers):

- ``clip_x0``: form x̂_0 from ε̂ (eq. 27 solved for x_0), clip it to [−1, 1] and take μ from eq. (29) —
  algebraically eq. (35) when nothing is clipped;
- ``start``: ``"standard_normal"`` x_T ~ N(0, I) as in the lab, or ``"forward_marginal"``,
  x_T = √ᾱ_T · m + √(1 − ᾱ_T) · ε with m the mean training image (what eq. 27 actually gives at t = T);
- ``variance``: ``"posterior"`` σ_q²(t) as the lab says, or ``"beta"`` (1 − α_t);
- ``timesteps``: a decreasing subsequence of 1..T (respacing, as in improved DDPM): the same update with
  the schedule re-derived on that subsequence, ᾱ kept.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable

import torch

from ddpm_lab.schedule import NoiseSchedule, posterior_mean_from_noise, posterior_mean_from_x0, predict_x0


@dataclass(frozen=True)
class SamplerConfig:
    steps: int | None = None  # None or T: every timestep; fewer: evenly respaced
    start: str = "standard_normal"
    variance: str = "posterior"
    clip_x0: bool = False
    batch_size: int = 500

    def __post_init__(self) -> None:
        if self.start not in ("standard_normal", "forward_marginal"):
            raise ValueError(f"start must be standard_normal or forward_marginal, got {self.start!r}")
        if self.variance not in ("posterior", "beta"):
            raise ValueError(f"variance must be posterior or beta, got {self.variance!r}")


def respaced(schedule: NoiseSchedule, steps: int | None) -> tuple[NoiseSchedule, torch.Tensor]:
    """The schedule on ``steps`` evenly spaced timesteps ending at T, and the original timestep of each.

    Keeping ᾱ on the subsequence τ_1 < … < τ_S defines α'_i = ᾱ_{τ_i} / ᾱ_{τ_{i−1}}, so eqs. (27)–(35)
    hold unchanged on it; with steps = T it is the schedule itself.
    """
    total = schedule.steps
    if steps is None or steps >= total:
        return schedule, torch.arange(total + 1)
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    taus = torch.linspace(total, 0, steps + 1).round().long().flip(0).unique()
    alpha_bars = schedule.alpha_bars[taus]
    alphas = torch.ones_like(alpha_bars)
    alphas[1:] = alpha_bars[1:] / alpha_bars[:-1]
    return NoiseSchedule(alphas=alphas, alpha_bars=alpha_bars), taus


def start_noise(
    schedule: NoiseSchedule, config: SamplerConfig, shape: tuple, generator: torch.Generator, mean_image: torch.Tensor | None
) -> torch.Tensor:
    noise = torch.randn(shape, generator=generator)
    if config.start == "standard_normal":
        return noise
    if mean_image is None:
        raise ValueError("start='forward_marginal' needs the mean training image")
    alpha_bar = schedule.alpha_bars[-1].item()
    return alpha_bar**0.5 * mean_image.reshape(1, *shape[1:]) + (1 - alpha_bar) ** 0.5 * noise


@torch.no_grad()
def sample(
    model: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    schedule: NoiseSchedule,
    n: int,
    shape: tuple[int, int, int],
    config: SamplerConfig = SamplerConfig(),
    seed: int = 0,
    device: str | torch.device = "cpu",
    mean_image: torch.Tensor | None = None,
    progress: Callable[[Iterable], Iterable] | None = None,
) -> torch.Tensor:
    """Draw ``n`` samples (n, *shape) in model range, batch by batch; the same seed gives the same samples.

    All randomness comes from one CPU generator seeded with ``seed`` and is drawn in a fixed order, so the
    result does not depend on the device beyond floating-point rounding.
    """
    device = torch.device(device)
    sub, taus = respaced(schedule, config.steps)
    variance = sub.posterior_variance if config.variance == "posterior" else 1 - sub.alphas
    generator = torch.Generator().manual_seed(seed)
    batches = []
    starts = list(range(0, n, config.batch_size))
    steps = list(range(sub.steps, 0, -1))
    work = [(s, i) for s in starts for i in steps]
    iterator = iter(progress(work) if progress else work)
    for start in starts:
        size = min(config.batch_size, n - start)
        x = start_noise(sub, config, (size, *shape), generator, mean_image).to(device)
        for i in steps:
            next(iterator)
            t = torch.full((size,), i, dtype=torch.long)
            eps = model(x, taus[t].to(device)).float()
            if config.clip_x0:
                x0 = predict_x0(sub, x, eps, t).clamp(-1, 1)
                mean = posterior_mean_from_x0(sub, x, x0, t)
            else:
                mean = posterior_mean_from_noise(sub, x, eps, t)
            if i > 1:
                z = torch.randn((size, *shape), generator=generator).to(device)
                x = mean + variance[i].sqrt().item() * z
            else:
                x = mean
        batches.append(x.cpu())
    return torch.cat(batches)
