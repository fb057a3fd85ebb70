"""Task 4, ddpm_lab.schedule.q_sample: x_t of eq. (27)."""

import torch

TARGET, TASK = "ddpm_lab.schedule.q_sample", 4


def alpha_where_alpha_bar_belongs(schedule, x0, t, noise):
    """α_t of eq. (25), one step, where eq. (27) jumps with ᾱ_t."""
    alpha = schedule.at(schedule.alphas, t, x0)
    return alpha.sqrt() * x0 + (1 - alpha).sqrt() * noise


def square_roots_forgotten(schedule, x0, t, noise):
    """ᾱ_t and 1 − ᾱ_t without their square roots."""
    alpha_bar = schedule.at(schedule.alpha_bars, t, x0)
    return alpha_bar * x0 + (1 - alpha_bar) * noise


def t_off_by_one(schedule, x0, t, noise):
    """ᾱ_{t−1}: indices shifted as if alpha_bars[0] were ᾱ_1."""
    alpha_bar = schedule.at(schedule.alpha_bars, (t - 1).clamp(min=0), x0)
    return alpha_bar.sqrt() * x0 + (1 - alpha_bar).sqrt() * noise


def one_t_for_the_batch(schedule, x0, t, noise):
    """ᾱ of the first image's t for every image (a scalar index where a gather belongs)."""
    alpha_bar = schedule.alpha_bars[t[0]].to(x0.dtype)
    return alpha_bar.sqrt() * x0 + (1 - alpha_bar).sqrt() * noise


def fresh_noise(schedule, x0, t, noise):
    """Noise drawn anew inside, the `noise` argument ignored."""
    alpha_bar = schedule.at(schedule.alpha_bars, t, x0)
    return alpha_bar.sqrt() * x0 + (1 - alpha_bar).sqrt() * torch.randn_like(x0)
