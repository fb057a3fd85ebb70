"""Task 5, ddpm_lab.sampler.backward_step: one step of eq. (33)."""

import torch

from ddpm_lab.schedule import posterior_mean_from_noise

TARGET, TASK = "ddpm_lab.sampler.backward_step", 5


def _mean(schedule, x_t, eps, t):
    return posterior_mean_from_noise(schedule, x_t, eps, torch.full((len(x_t),), t, dtype=torch.long))


def variance_as_scale(schedule, x_t, eps, t, z):
    """z scaled by σ_q²(t): eq. (33) writes N(μ, σ_q(t)) and σ_q(t) is read as the scale of σ_q²'s formula."""
    mean = _mean(schedule, x_t, eps, t)
    return mean if z is None else mean + schedule.posterior_variance[t].item() * z


def beta_variance(schedule, x_t, eps, t, z):
    """√(1 − α_t), the other variance of DDPM papers, where the lab's eq. (33) keeps σ_q(t)."""
    mean = _mean(schedule, x_t, eps, t)
    return mean if z is None else mean + (1 - schedule.alphas[t]).sqrt().item() * z


def own_noise(schedule, x_t, eps, t, z):
    """Noise drawn inside instead of the z handed in: the samples no longer follow the seed."""
    mean = _mean(schedule, x_t, eps, t)
    return mean if z is None else mean + schedule.posterior_variance[t].sqrt().item() * torch.randn_like(x_t)


def noise_even_at_t_1(schedule, x_t, eps, t, z):
    """The noise added at every step, t = 1 too, where z is None."""
    return _mean(schedule, x_t, eps, t) + schedule.posterior_variance[t].sqrt().item() * z


def mean_of_eq_29_with_the_noise(schedule, x_t, eps, t, z):
    """Eq. (29)'s μ_q(x_t, x_0) with ε̂ in x_0's place: eqs. (29) and (30) confused."""
    a, ab, ab_prev = schedule.alphas[t], schedule.alpha_bars[t], schedule.alpha_bars[t - 1]
    mean = ((a.sqrt() * (1 - ab_prev) * x_t + ab_prev.sqrt() * (1 - a) * eps) / (1 - ab)).to(x_t.dtype)
    return mean if z is None else mean + schedule.posterior_variance[t].sqrt().item() * z
