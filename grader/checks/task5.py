"""Task 5: the backward process of eq. (33) draws distinct, non-constant images."""

from __future__ import annotations

from grader.checks.base import GRID_SAMPLES, Context, Outcome, check, check_settings, samples

SamplesValid = check_settings("SamplesValid", min_std=("number", {"low": 0}))


@check("task5", "samples_valid", SamplesValid)
def samples_valid(ctx: Context, cfg: SamplesValid) -> Outcome:
    images = samples(ctx, GRID_SAMPLES)
    per_image_std = images.reshape(len(images), -1).std(axis=1)
    distinct = len({img.tobytes() for img in images})
    ok = len(images) > 1 and per_image_std.min() >= cfg.min_std and distinct == len(images)
    return Outcome.of(
        ok,
        f"{len(images)} samples, {distinct} distinct, min per-image std {per_image_std.min():.1f}",
        f"distinct, non-constant images (per-image std >= {cfg.min_std})",
        f"The backward process produced {len(images)} distinct images.",
    )
