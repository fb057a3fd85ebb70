"""Task 3: the class-balanced MNIST subset, matched to MNIST itself, and its scaling to [-1, 1]."""

from __future__ import annotations

import numpy as np

from ddpm_lab.check import graded
from ddpm_lab.check.settings import BalancedSubset, ValueRange
from grader.checks.base import FORWARD, SUBSET, Context, Outcome, check, forward_arrays, subset_arrays, subset_images
from grader.safe import declared


def nearest_subset_images(ctx: Context) -> tuple[np.ndarray, np.ndarray]:
    """Each subset image's RMS distance to its nearest MNIST training image, and that image's index: once a grading."""
    images = subset_images(ctx)
    return ctx.once("nearest:subset", lambda: ctx.refs.nearest_training_image(images))


@check("task3", "balanced_subset", BalancedSubset)
def balanced_subset(ctx: Context, cfg: BalancedSubset) -> Outcome:
    images = subset_images(ctx)
    labels = declared(subset_arrays(ctx), SUBSET, "labels", n=len(images))
    return graded.balanced_subset(images, labels, cfg, lambda _: nearest_subset_images(ctx), ctx.refs.train_images[1])


@check("task3", "value_range", ValueRange)
def value_range(ctx: Context, cfg: ValueRange) -> Outcome:
    x0 = declared(forward_arrays(ctx), FORWARD, "x0")
    return graded.value_range(x0, cfg, ctx.refs.nearest_training_image)
