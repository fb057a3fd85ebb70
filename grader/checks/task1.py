"""Task 1: 1000 samples of a standard 2-D normal (the rule: :func:`ddpm_lab.check.graded.samples_moments`)."""

from __future__ import annotations

from ddpm_lab.check import graded
from ddpm_lab.check.settings import SamplesMoments
from grader.checks.base import Context, Outcome, check, gaussian_samples


@check("task1", "samples_moments", SamplesMoments)
def samples_moments(ctx: Context, cfg: SamplesMoments) -> Outcome:
    return graded.samples_moments(gaussian_samples(ctx), cfg, ctx.z)
