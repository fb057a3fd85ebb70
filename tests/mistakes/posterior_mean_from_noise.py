"""Task 5, ddpm_lab.schedule.posterior_mean_from_noise: μ_p of eq. (35)."""

TARGET, TASK = "ddpm_lab.schedule.posterior_mean_from_noise", 5


def plus_sign(schedule, x_t, noise, t):
    """The noise term added where eq. (35) subtracts it."""
    alpha = schedule.at(schedule.alphas, t, x_t)
    alpha_bar = schedule.at(schedule.alpha_bars, t, x_t)
    return (x_t + (1 - alpha) / (1 - alpha_bar).sqrt() * noise) / alpha.sqrt()


def root_of_one_minus_alpha_bar_forgotten(schedule, x_t, noise, t):
    """(1 − α_t) / (1 − ᾱ_t) where eq. (35) divides by √(1 − ᾱ_t)."""
    alpha = schedule.at(schedule.alphas, t, x_t)
    alpha_bar = schedule.at(schedule.alpha_bars, t, x_t)
    return (x_t - (1 - alpha) / (1 - alpha_bar) * noise) / alpha.sqrt()


def alpha_bar_everywhere(schedule, x_t, noise, t):
    """ᾱ_t in place of α_t throughout (the two symbols confused)."""
    alpha_bar = schedule.at(schedule.alpha_bars, t, x_t)
    return (x_t - (1 - alpha_bar) / (1 - alpha_bar).sqrt() * noise) / alpha_bar.sqrt()


def multiplied_by_root_alpha(schedule, x_t, noise, t):
    """√α_t · x_t where eq. (35) has x_t / √α_t."""
    alpha = schedule.at(schedule.alphas, t, x_t)
    alpha_bar = schedule.at(schedule.alpha_bars, t, x_t)
    return alpha.sqrt() * x_t - (1 - alpha) / ((1 - alpha_bar).sqrt() * alpha.sqrt()) * noise


def t_off_by_one(schedule, x_t, noise, t):
    """α_{t−1} and ᾱ_{t−1}: the step below the one being undone."""
    alpha = schedule.at(schedule.alphas, t - 1, x_t)
    alpha_bar = schedule.at(schedule.alpha_bars, t - 1, x_t).clamp(max=1 - 1e-12)
    return (x_t - (1 - alpha) / (1 - alpha_bar).sqrt() * noise) / alpha.sqrt()
