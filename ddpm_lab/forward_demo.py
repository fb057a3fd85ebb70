"""Task 4's numbers: how close x_T of eq. (27) is to pure noise."""

from __future__ import annotations

import torch

from ddpm_lab.schedule import NoiseSchedule, q_sample


def noisy_versions(schedule: NoiseSchedule, x0: torch.Tensor, timesteps: list[int], seed: int) -> dict[int, torch.Tensor]:
    """x_t for each t in ``timesteps`` (t = 0 is x_0 itself), each with its own draw of ε_0."""
    generator = torch.Generator().manual_seed(seed)
    out = {}
    for t in timesteps:
        noise = torch.randn(x0.shape, generator=generator, dtype=torch.float64)
        out[t] = q_sample(schedule, x0.double(), torch.tensor([t]), noise)
    return out


def noise_statistics(x_t: torch.Tensor, x0: torch.Tensor) -> dict[str, float]:
    """Pixel mean, std, and correlation with x_0 of one noisy image."""
    a, b = x_t.flatten().double(), x0.flatten().double()
    corr = torch.corrcoef(torch.stack([a, b]))[0, 1].item()
    return {"mean": a.mean().item(), "std": a.std().item(), "corr_with_x0": corr}


def theoretical_statistics(schedule: NoiseSchedule, t: int, x0: torch.Tensor) -> dict[str, float]:
    """What eq. (27) predicts for those: mean √ᾱ_t·mean(x_0), std √(ᾱ_t·var(x_0) + 1 − ᾱ_t), and
    correlation √ᾱ_t·std(x_0) / that std."""
    ab = schedule.alpha_bars[t].item()
    m, v = x0.double().mean().item(), x0.double().var().item()
    std = (ab * v + 1 - ab) ** 0.5
    return {"mean": ab**0.5 * m, "std": std, "corr_with_x0": ab**0.5 * v**0.5 / std, "sqrt_alpha_bar": ab**0.5}
