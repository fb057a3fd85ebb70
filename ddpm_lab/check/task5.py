"""Task 5: the mean μ_p of eq. (35), one step of the backward process of eq. (33), and the whole process."""

from __future__ import annotations

import math

import torch

from ddpm_lab.check import Check, Mismatch
from ddpm_lab.check.measure import close, coefficients, mix, named, per_image, to, worst
from ddpm_lab.check.task4 import alpha_bar, lab_schedule
from ddpm_lab.schedule import NoiseSchedule

TIMESTEPS = (1, 2, 100, 250, 499, 500)


def lab_mean(schedule: NoiseSchedule, t: int) -> tuple[float, float]:
    """Eq. (35)'s μ_p = c_x · x_t + c_ε · ε̂: (c_x, c_ε) = (1/√α_t, −(1 − α_t) / (√(1 − ᾱ_t) √α_t))."""
    a, ab = float(schedule.alphas[t]), alpha_bar(schedule, t)
    return 1 / math.sqrt(a), -(1 - a) / (math.sqrt(1 - ab) * math.sqrt(a))


def lab_sigma(schedule: NoiseSchedule, t: int) -> float:
    """σ_q(t), the square root of eq. (28)'s variance (1 − ᾱ_{t−1}) / (1 − ᾱ_t) · (1 − α_t)."""
    a, ab, ab_prev = float(schedule.alphas[t]), alpha_bar(schedule, t), alpha_bar(schedule, t - 1)
    return math.sqrt((1 - ab_prev) / (1 - ab) * (1 - a))


def mean_causes(schedule: NoiseSchedule, t: int, on_x: float, on_eps: float) -> str | None:
    """The likely cause of a wrong μ_p, from its two coefficients."""
    a, ab = float(schedule.alphas[t]), alpha_bar(schedule, t)
    right_x, right_eps = lab_mean(schedule, t)
    before = float(schedule.alphas[t - 1])  # α_0 = 1
    if close(on_x, 1 / math.sqrt(before), 1e-9) and not close(on_x, right_x, 1e-9):
        return "α_{t−1} and ᾱ_{t−1}: t off by one"
    if close(on_x, right_x):
        return named(
            on_eps,
            {
                "+ where eq. (35) subtracts the noise term": -right_eps,
                "1 − ᾱ_t without its square root": -(1 - a) / ((1 - ab) * math.sqrt(a)),
                "ᾱ_t where α_t belongs in the numerator": -(1 - ab) / (math.sqrt(1 - ab) * math.sqrt(a)),
                "α_t where ᾱ_t belongs under the root": -(1 - a) / (math.sqrt(1 - a) * math.sqrt(a)),
                "the noise term not divided by √α_t": -(1 - a) / math.sqrt(1 - ab),
            },
        )
    return named(
        on_x,
        {
            "x_t multiplied by √α_t where eq. (35) divides": math.sqrt(a),
            "x_t divided by α_t without its square root": 1 / a,
            "ᾱ_t where α_t belongs": 1 / math.sqrt(ab),
            "x_t left out": 0.0,
        },
    )


def check_mean() -> str:
    from ddpm_lab.schedule import posterior_mean_from_noise

    schedule = lab_schedule()
    generator = torch.Generator().manual_seed(5)
    n = len(TIMESTEPS)
    x_t, eps = (torch.randn((n, 1, 8, 8), generator=generator, dtype=torch.float64) for _ in range(2))
    out = posterior_mean_from_noise(schedule, x_t, eps, torch.tensor(TIMESTEPS))
    measured = per_image(out, (x_t, eps), TIMESTEPS, "μ_p of x_t and the noise")
    expected = [lab_mean(schedule, t) for t in TIMESTEPS]
    i = worst(measured, expected, relative=True)
    if i is not None:
        (on_x, on_eps), right, t = measured[i], expected[i], TIMESTEPS[i]
        cause = mean_causes(schedule, t, on_x, on_eps)
        raise Mismatch(
            f"μ_p at t = {t} is {mix(('x_t', 'ε̂'), [on_x, on_eps])}, the lab's is {mix(('x_t', 'ε̂'), list(right))}"
            + (f": {cause}?" if cause else "")
        )
    return "x_t/√α_t − (1 − α_t)/(√(1 − ᾱ_t)√α_t)·ε̂, image by image, at t = " + ", ".join(map(str, TIMESTEPS))


def check_step() -> str:
    from ddpm_lab.sampler import backward_step

    schedule = lab_schedule()
    generator = torch.Generator().manual_seed(6)
    for t in (500, 250, 2, 1):
        x_t, eps, z = (torch.randn((4, 1, 8, 8), generator=generator, dtype=torch.float64) for _ in range(3))
        if t == 1:
            try:
                out = backward_step(schedule, x_t, eps, 1, None)
            except TypeError as err:
                raise Mismatch(f"at t = 1, where z is None, raised TypeError ({err}): at t = 1 return μ_p, no noise") from None
            if not isinstance(out, torch.Tensor):
                raise Mismatch(f"at t = 1 (z is None) returned {type(out).__name__}, expected x_0 = μ_p")
            (on_x, on_eps), residual = coefficients(out, x_t, eps)
            on_z = 0.0
        else:
            out = backward_step(schedule, x_t, eps, t, z)
            if not isinstance(out, torch.Tensor):
                raise Mismatch(f"at t = {t} returned {type(out).__name__}, expected the tensor x_(t−1)")
            (on_x, on_eps, on_z), residual = coefficients(out, x_t, eps, z)
        if residual > 1e-4:
            raise Mismatch(
                f"x_(t−1) at t = {t} is not a mix of x_t, ε̂ and the z handed in (residual {residual:.2g}): use `z`, draw "
                "no noise of your own (the sampler draws it from the seed)"
            )
        right_x, right_eps = lab_mean(schedule, t)
        sigma = lab_sigma(schedule, t)
        if not (close(on_x, right_x) and close(on_eps, right_eps)):
            cause = mean_causes(schedule, t, on_x, on_eps)
            raise Mismatch(
                f"the mean of x_(t−1) at t = {t} is {mix(('x_t', 'ε̂'), [on_x, on_eps])}, eq. (35)'s μ_p is "
                f"{mix(('x_t', 'ε̂'), [right_x, right_eps])}" + (f": {cause}?" if cause else "")
            )
        if not close(abs(on_z), sigma):
            a = float(schedule.alphas[t])
            cause = named(
                abs(on_z),
                {
                    "the variance σ_q²(t) where its square root σ_q(t) scales z": sigma**2,
                    "√(1 − α_t), DDPM's other variance, not eq. (33)'s σ_q(t)": math.sqrt(1 - a),
                    "1 − α_t without its square root": 1 - a,
                    "no noise added": 0.0,
                },
            )
            raise Mismatch(
                f"x_(t−1) at t = {t} adds {abs(on_z):.4g}·z, eq. (33) adds σ_q(t)·z = {sigma:.4g}·z"
                + (f": {cause}?" if cause else "")
            )
    return "x_(t−1) = μ_p of eq. (35) + σ_q(t)·z at t = 500, 250, 2, and μ_p alone at t = 1"


def check_process() -> str:
    """The lab's whole backward process with the exact ε̂ of a data set of one image must return that image."""
    from ddpm_lab.sampler import SamplerConfig, sample

    schedule = lab_schedule()
    target = torch.linspace(-1, 1, 16).reshape(1, 1, 4, 4)

    def exact_noise(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        ab = schedule.alpha_bars[t].to(x.dtype).reshape(-1, 1, 1, 1)
        return (x - ab.sqrt() * target) / (1 - ab).sqrt()

    lab = SamplerConfig.literal(batch_size=8)
    out = sample(exact_noise, schedule, 8, (1, 4, 4), lab, seed=0)
    error = float((out - target).abs().max())
    if not error < 1e-3:
        raise Mismatch(
            f"the 500 steps from x_T ~ N(0, I) with the exact ε̂ of a one-image data set end {error:.3g} from that image; "
            "the lab's backward process returns it to 1e-3"
        )
    return f"500 steps from x_T ~ N(0, I) with the exact ε̂ of a one-image data set return that image {to(error)}"


def checks() -> list[Check]:
    return [
        Check(5, "eq. (35)", "posterior_mean_from_noise", check_mean),
        Check(5, "eq. (33)", "backward_step", check_step),
        Check(5, "eq. (33)", "the backward process, x_T to x_0", check_process),
    ]
