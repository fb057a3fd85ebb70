"""Task 6, ddpm_lab.training.noise_prediction_errors: eq. (38)'s terms for a batch."""

import torch

from ddpm_lab.schedule import q_sample

TARGET, TASK = "ddpm_lab.training.noise_prediction_errors", 6


def _errors(model, schedule, x0, t, noise, target=None):
    x_t = q_sample(schedule, x0, t, noise)
    predicted = model(x_t, t.to(x0.device))
    target = noise if target is None else target
    return (predicted.float() - target).square().mean(dim=(1, 2, 3)), t


def t_from_zero(model, schedule, x0, generator):
    """torch.randint(0, T): t = 0 drawn (ᾱ_0 = 1, no noise at all), t = T never."""
    t = torch.randint(0, schedule.steps, (len(x0),), generator=generator)
    return _errors(model, schedule, x0, t, torch.randn(x0.shape, generator=generator))


def upper_bound_exclusive(model, schedule, x0, generator):
    """torch.randint(1, T): its upper bound is exclusive, so t = T is never drawn."""
    t = torch.randint(1, schedule.steps, (len(x0),), generator=generator)
    return _errors(model, schedule, x0, t, torch.randn(x0.shape, generator=generator))


def t_from_two_as_eq_36(model, schedule, x0, generator):
    """Eq. (36)'s sum from t = 2: the sampler's last step then asks ε̂ at a t it never trained on."""
    t = torch.randint(2, schedule.steps + 1, (len(x0),), generator=generator)
    return _errors(model, schedule, x0, t, torch.randn(x0.shape, generator=generator))


def one_t_for_the_batch(model, schedule, x0, generator):
    """One t for the whole batch."""
    t = torch.randint(1, schedule.steps + 1, (1,), generator=generator)
    return _errors(model, schedule, x0, t, torch.randn(x0.shape, generator=generator))


def x0_as_the_target(model, schedule, x0, generator):
    """The clean image as the target: predicting x_0, not eq. (38)'s noise."""
    t = torch.randint(1, schedule.steps + 1, (len(x0),), generator=generator)
    return _errors(model, schedule, x0, t, torch.randn(x0.shape, generator=generator), target=x0)


def noise_drawn_twice(model, schedule, x0, generator):
    """One draw of noise for x_t and another for the target."""
    t = torch.randint(1, schedule.steps + 1, (len(x0),), generator=generator)
    x_t = q_sample(schedule, x0, t, torch.randn(x0.shape, generator=generator))
    predicted = model(x_t, t)
    return (predicted - torch.randn(x0.shape, generator=generator)).square().mean(dim=(1, 2, 3)), t


def summed_over_pixels(model, schedule, x0, generator):
    """Eq. (38)'s ‖·‖² summed over the pixels, where the docstring averages (the learning rate is tuned for the mean)."""
    t = torch.randint(1, schedule.steps + 1, (len(x0),), generator=generator)
    noise = torch.randn(x0.shape, generator=generator)
    predicted = model(q_sample(schedule, x0, t, noise), t)
    return (predicted - noise).square().sum(dim=(1, 2, 3)), t


def absolute_error(model, schedule, x0, generator):
    """|ε̂ − ε_0| where eq. (38) squares."""
    t = torch.randint(1, schedule.steps + 1, (len(x0),), generator=generator)
    noise = torch.randn(x0.shape, generator=generator)
    predicted = model(q_sample(schedule, x0, t, noise), t)
    return (predicted - noise).abs().mean(dim=(1, 2, 3)), t


def without_the_generator(model, schedule, x0, generator):
    """t and ε_0 drawn from torch's global generator: a resumed run would not go on where it stopped."""
    t = torch.randint(1, schedule.steps + 1, (len(x0),))
    return _errors(model, schedule, x0, t, torch.randn_like(x0))


def one_number_for_the_batch(model, schedule, x0, generator):
    """The batch's mean returned, where the function returns one term per image."""
    t = torch.randint(1, schedule.steps + 1, (len(x0),), generator=generator)
    noise = torch.randn(x0.shape, generator=generator)
    predicted = model(q_sample(schedule, x0, t, noise), t)
    return (predicted - noise).square().mean(), t
