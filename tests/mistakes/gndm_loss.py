"""Task 2, ddpm_lab.gaussian.gndm_loss: the NLL of eq. (22), constants dropped."""

import numpy as np

TARGET, TASK = "ddpm_lab.gaussian.gndm_loss", 2


def minus_sign_as_printed(x, mu):
    """Eq. (23) as the lab prints it, with its minus sign: maximizing the likelihood's negative."""
    return -0.5 * (x - mu).square().sum(dim=1).mean()


def without_the_half(x, mu):
    """The ½ of eq. (22)'s exponent dropped."""
    return (x - mu).square().sum(dim=1).mean()


def sum_over_samples(x, mu):
    """Σ over the samples without eq. (23)'s 1/N."""
    return 0.5 * (x - mu).square().sum()


def norm_not_squared(x, mu):
    """‖x − μ‖ where eq. (22) squares it."""
    return 0.5 * (x - mu).norm(dim=1).mean()


def through_numpy(x, mu):
    """Computed in numpy: the right number, but nothing autograd can differentiate."""
    return 0.5 * np.mean(np.sum((x.numpy() - mu.detach().numpy()) ** 2, axis=1))
