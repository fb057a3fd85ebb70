"""Task 2: the GNDM's data and the mean it learned by minimising the NLL (rules in :mod:`ddpm_lab.check.graded`)."""

from __future__ import annotations

import numpy as np

from ddpm_lab.check import graded
from ddpm_lab.check.settings import DataDistribution, LearnedMean
from grader.checks.base import Context, Outcome, check, gndm_data
from grader.safe import vector


def gndm(ctx: Context) -> tuple[np.ndarray, np.ndarray]:
    metrics = ctx.sub.json("gndm_fit/metrics.json")
    return vector(metrics, "learned_mean", "gndm_fit/metrics.json", 2), gndm_data(ctx)


@check("task2", "data_distribution", DataDistribution)
def data_distribution(ctx: Context, cfg: DataDistribution) -> Outcome:
    return graded.data_distribution(gndm_data(ctx), cfg, ctx.z)


@check("task2", "learned_mean", LearnedMean)
def learned_mean(ctx: Context, cfg: LearnedMean) -> Outcome:
    return graded.learned_mean(*gndm(ctx), cfg)
