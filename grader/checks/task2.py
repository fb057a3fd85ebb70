"""Task 2: the GNDM's data and the mean it learned by minimising the NLL (rules in :mod:`ddpm_lab.check.graded`)."""

from __future__ import annotations

import numpy as np

from ddpm_lab import artifacts
from ddpm_lab.check import graded
from ddpm_lab.check.settings import DataDistribution, LearnedMean
from grader.checks.base import Context, Outcome, check, gndm_data
from grader.safe import vector

GNDM_METRICS = artifacts.metrics("gndm_fit")
LEARNED_MEAN = GNDM_METRICS.key("learned_mean")


def gndm(ctx: Context) -> tuple[np.ndarray, np.ndarray]:
    return vector(ctx.sub.json(GNDM_METRICS.path), LEARNED_MEAN, GNDM_METRICS.path, 2), gndm_data(ctx)


@check("task2", "data_distribution", DataDistribution)
def data_distribution(ctx: Context, cfg: DataDistribution) -> Outcome:
    return graded.data_distribution(gndm_data(ctx), cfg, ctx.z)


@check("task2", "learned_mean", LearnedMean)
def learned_mean(ctx: Context, cfg: LearnedMean) -> Outcome:
    return graded.learned_mean(*gndm(ctx), cfg)
