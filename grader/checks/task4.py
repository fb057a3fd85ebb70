"""Task 4: the forward process of eq. (27), x_t against its marginal N(√ᾱ_t x_0, (1 − ᾱ_t) I)."""

from __future__ import annotations

import numpy as np

from ddpm_lab.check import graded
from ddpm_lab.check.settings import ForwardMarginals, PureNoiseAtT
from grader.checks.base import FORWARD, Context, Outcome, check, forward_arrays
from grader.safe import declared


def noisy(ctx: Context, t: int) -> tuple[np.ndarray, np.ndarray]:
    arrays = forward_arrays(ctx)
    x0 = declared(arrays, FORWARD, "x0").astype(np.float64)
    return x0, declared(arrays, FORWARD, f"t{t}", size=len(x0)).astype(np.float64)


@check("task4", "pure_noise_at_T", PureNoiseAtT)
def pure_noise_at_T(ctx: Context, cfg: PureNoiseAtT) -> Outcome:
    t = ctx.refs.schedule.steps
    return graded.pure_noise_at_T(*noisy(ctx, t), t, ctx.refs.sqrt_alpha_bar(t), ctx.z)


@check("task4", "forward_marginals", ForwardMarginals)
def forward_marginals(ctx: Context, cfg: ForwardMarginals) -> Outcome:
    pairs = {t: noisy(ctx, t) for t in cfg.timesteps}
    return graded.forward_marginals(pairs, {t: ctx.refs.sqrt_alpha_bar(t) for t in pairs}, ctx.z)
