"""Task 4: x_t of the forward process, eq. (27), at the lab's schedule (α_t linear 0.9999 → 0.98, T = 500)."""

from __future__ import annotations

import math

import torch

from ddpm_lab.check import Check, Mismatch
from ddpm_lab.check.measure import close, mix, named, per_image, worst
from ddpm_lab.schedule import NoiseSchedule

TIMESTEPS = (0, 1, 2, 100, 250, 499, 500)


def lab_schedule() -> NoiseSchedule:
    return NoiseSchedule.linear(0.9999, 0.98, 500)


def alpha_bar(schedule: NoiseSchedule, t: int) -> float:
    """ᾱ_t = ∏_{i ≤ t} α_i, recomputed here from the α_t (ᾱ_0 = 1), outside the index range NaN."""
    return float(torch.prod(schedule.alphas[1 : t + 1])) if 0 <= t <= schedule.steps else math.nan


def x0_causes(schedule: NoiseSchedule, t: int) -> dict[str, float]:
    a = float(schedule.alphas[t])
    return {
        "α_t where ᾱ_t belongs": math.sqrt(a),
        "ᾱ_t without its square root": alpha_bar(schedule, t),
        "α_t without its square root, where √ᾱ_t belongs": a,
        "ᾱ_{t−1}: t off by one": math.sqrt(alpha_bar(schedule, t - 1)),
        "ᾱ_{t+1}: t off by one": math.sqrt(alpha_bar(schedule, t + 1)),
    }


def noise_causes(schedule: NoiseSchedule, t: int) -> dict[str, float]:
    a = float(schedule.alphas[t])
    return {
        "α_t where ᾱ_t belongs": math.sqrt(1 - a),
        "1 − ᾱ_t without its square root": 1 - alpha_bar(schedule, t),
        "√ᾱ_t on the noise too": math.sqrt(alpha_bar(schedule, t)),
        "ᾱ_{t−1}: t off by one": math.sqrt(1 - alpha_bar(schedule, t - 1)),
        "ᾱ_{t+1}: t off by one": math.sqrt(1 - alpha_bar(schedule, t + 1)),
    }


def check_q_sample() -> str:
    from ddpm_lab.schedule import q_sample

    schedule = lab_schedule()
    generator = torch.Generator().manual_seed(4)
    x0 = torch.rand((len(TIMESTEPS), 1, 8, 8), generator=generator, dtype=torch.float64) * 2 - 1
    noise = torch.randn((len(TIMESTEPS), 1, 8, 8), generator=generator, dtype=torch.float64)
    t = torch.tensor(TIMESTEPS)
    out = q_sample(schedule, x0, t, noise)
    measured = per_image(out, (x0, noise), TIMESTEPS, "x_t of x_0 and the noise")
    firsts = {round(c, 6) for c, _ in measured}
    expected = [(math.sqrt(alpha_bar(schedule, t)), math.sqrt(1 - alpha_bar(schedule, t))) for t in TIMESTEPS]
    i = worst(measured, expected)
    if i is not None:
        (on_x0, on_noise), right, step = measured[i], expected[i], TIMESTEPS[i]
        if len(firsts) == 1:
            cause = "every image took the first image's t: gather ᾱ_t per image (schedule.at(schedule.alpha_bars, t, x0))"
        elif not close(on_x0, right[0]):
            cause = named(on_x0, x0_causes(schedule, step))
        else:
            cause = named(on_noise, noise_causes(schedule, step))
        raise Mismatch(
            f"x_t at t = {step} is {mix(('x_0', 'ε_0'), [on_x0, on_noise])}, the lab's is "
            f"{mix(('x_0', 'ε_0'), list(right))}" + (f": {cause}?" if cause else "")
        )
    return "x_t = √ᾱ_t·x_0 + √(1 − ᾱ_t)·ε_0, image by image, at t = " + ", ".join(map(str, TIMESTEPS))


def checks() -> list[Check]:
    return [Check(4, "eq. (27)", "q_sample", check_q_sample)]
