"""The noise schedule and the Gaussian algebra of the forward and backward processes.

Equation numbers refer to Lab 7 (``shared/lab/lab7-generative-diffusion-models.md``).
Indices follow the lab: timesteps run ``t = 1, ..., T`` and ``alphas[t]`` is α_t;
index 0 holds α_0 := 1 (so ᾱ_0 = 1, "no noise"), which makes ``alpha_bars[t - 1]``
valid for every t ≥ 1.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ddpm_lab.rules import Rules


@dataclass(frozen=True)
class NoiseSchedule:
    """α_t, ᾱ_t and the posterior variance σ_q²(t), all as float64 tensors of length T + 1."""

    alphas: torch.Tensor
    alpha_bars: torch.Tensor

    @classmethod
    def linear(cls, alpha_start: float, alpha_end: float, steps: int) -> NoiseSchedule:
        """α_t decreasing linearly from ``alpha_start`` (t = 1) to ``alpha_end`` (t = T) — Task 4."""
        rules = Rules({"steps": steps, "alpha_start": alpha_start, "alpha_end": alpha_end})
        rules.integer("steps", low=1)
        rules.number("alpha_start", low=0, high=1, low_open=True, high_open=True)
        rules.number("alpha_end", low=0, high=1, low_open=True, high_open=True)
        if rules.ok("steps", "alpha_start") and steps > 1:
            rules.that(
                "alpha_end",
                alpha_end < alpha_start,
                f"α_t must decrease, so alpha_end < alpha_start; got {alpha_end!r} >= {alpha_start!r}",
            )
        rules.raise_problems()
        alphas = torch.ones(steps + 1, dtype=torch.float64)
        alphas[1:] = torch.linspace(alpha_start, alpha_end, steps, dtype=torch.float64)
        return cls.from_alphas(alphas)

    @classmethod
    def from_alphas(cls, alphas: torch.Tensor) -> NoiseSchedule:
        """ᾱ_t = ∏_{i=1}^{t} α_i (below eq. 27)."""
        alphas = alphas.to(torch.float64)
        return cls(alphas=alphas, alpha_bars=torch.cumprod(alphas, dim=0))

    @property
    def steps(self) -> int:
        """T, the number of diffusion steps."""
        return self.alphas.numel() - 1

    @property
    def posterior_variance(self) -> torch.Tensor:
        """σ_q²(t) = (1 − ᾱ_{t−1}) / (1 − ᾱ_t) · (1 − α_t), the variance of q(x_{t−1} | x_t, x_0) in eq. (28).

        Index 0 is 0 by convention; σ_q²(1) = 0 as well, since ᾱ_0 = 1.
        """
        var = torch.zeros_like(self.alphas)
        var[1:] = (1 - self.alpha_bars[:-1]) / (1 - self.alpha_bars[1:]) * (1 - self.alphas[1:])
        return var

    def at(self, values: torch.Tensor, t: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        """Gather ``values[t]`` per batch element and shape it to broadcast against ``like``."""
        out = values.to(like.device)[t.to(like.device)].to(like.dtype)
        return out.reshape(-1, *([1] * (like.dim() - 1)))


def forward_step(schedule: NoiseSchedule, x_prev: torch.Tensor, t: int, noise: torch.Tensor) -> torch.Tensor:
    """One forward step, eq. (25): x_t = √α_t · x_{t−1} + √(1 − α_t) · ε_t."""
    alpha = schedule.alphas[t].item()
    return alpha**0.5 * x_prev + (1 - alpha) ** 0.5 * noise


def q_sample(schedule: NoiseSchedule, x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
    """Jump straight to step t, eq. (27): x_t = √ᾱ_t · x_0 + √(1 − ᾱ_t) · ε_0 — Task 4.

    ``x0`` and ``noise``: (B, C, H, W); ``t``: a LongTensor (B,), one timestep per image, 0 ≤ t ≤ T (ᾱ_0 = 1:
    x_t is x_0 at t = 0). ᾱ_t is ``schedule.alpha_bars[t]``, the cumulative product of the α_i (not α_t);
    ``schedule.at(schedule.alpha_bars, t, x0)`` gathers it per image, shaped to broadcast against ``x0``.
    Returns x_t, shaped as ``x0``.
    """
    # BEGIN SOLUTION
    alpha_bar = schedule.at(schedule.alpha_bars, t, x0)
    return alpha_bar.sqrt() * x0 + (1 - alpha_bar).sqrt() * noise
    # END SOLUTION
    # STUB: raise NotImplementedError("Task 4: x_t of the forward process, eq. (27)")


def posterior_mean_from_x0(schedule: NoiseSchedule, x_t: torch.Tensor, x0: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """μ_q(x_t, x_0), eq. (29): [√α_t (1 − ᾱ_{t−1}) x_t + √ᾱ_{t−1} (1 − α_t) x_0] / (1 − ᾱ_t)."""
    alpha = schedule.at(schedule.alphas, t, x_t)
    alpha_bar = schedule.at(schedule.alpha_bars, t, x_t)
    alpha_bar_prev = schedule.at(schedule.alpha_bars, t - 1, x_t)
    return (alpha.sqrt() * (1 - alpha_bar_prev) * x_t + alpha_bar_prev.sqrt() * (1 - alpha) * x0) / (1 - alpha_bar)


def posterior_mean_from_noise(schedule: NoiseSchedule, x_t: torch.Tensor, noise: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """μ_q(x_t, ε_0) of eq. (30); with the predicted noise ε̂(x_t, t) in place of ε_0 it is μ_p of eq. (35) — Task 5:

        x_t / √α_t − (1 − α_t) / (√(1 − ᾱ_t) √α_t) · ε

    ``x_t`` and ``noise``: (B, C, H, W); ``t``: a LongTensor (B,), one timestep per image, 1 ≤ t ≤ T. α_t is
    ``schedule.alphas[t]``, ᾱ_t ``schedule.alpha_bars[t]``; ``schedule.at`` gathers either per image.
    """
    # BEGIN SOLUTION
    alpha = schedule.at(schedule.alphas, t, x_t)
    alpha_bar = schedule.at(schedule.alpha_bars, t, x_t)
    return (x_t - (1 - alpha) / (1 - alpha_bar).sqrt() * noise) / alpha.sqrt()
    # END SOLUTION
    # STUB: raise NotImplementedError("Task 5: the mean mu_p of the backward step from the predicted noise, eq. (35)")


def predict_x0(schedule: NoiseSchedule, x_t: torch.Tensor, noise: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """x_0 solved from eq. (27) given x_t and ε: (x_t − √(1 − ᾱ_t) ε) / √ᾱ_t."""
    alpha_bar = schedule.at(schedule.alpha_bars, t, x_t)
    return (x_t - (1 - alpha_bar).sqrt() * noise) / alpha_bar.sqrt()
