"""Task 7: the FID samples: counted, recognised as digits, new (not copies of MNIST), the FID recomputed, and
drawn from the handed-in weights (:mod:`grader.checks.regenerate`)."""

from __future__ import annotations

import numpy as np

from ddpm_lab import artifacts
from grader.checks.base import (
    FID_SAMPLES,
    NOT_RUN,
    Context,
    Outcome,
    check,
    check_settings,
    digit_measures,
    recomputed_fid,
    samples,
)
from grader.checks.regenerate import regenerate
from grader.checks.task6 import REGENERATION, SHARE
from grader.safe import Rejected, finite, number

FID_METRICS = artifacts.metrics("fid")
N_GENERATED, FID = FID_METRICS.key("n_generated"), FID_METRICS.key("fid")

SampleCounts = check_settings("SampleCounts", min_generated=("integer", {"low": 2}))
DigitsRecognised = check_settings("DigitsRecognised", min_confident_share=SHARE, min_digit_share=SHARE, max_digit_share=SHARE)
NotTrainingCopies = check_settings("NotTrainingCopies", copy_distance=("number", {"low": 0}), max_copy_share=SHARE)
FidThreshold = check_settings("FidThreshold", max_fid=("number", {"low": 0, "low_open": True}))
FidClaim = check_settings("FidClaim", relative_tolerance=("number", {"low": 0}))
SamplesRegenerate = check_settings("SamplesRegenerate", **REGENERATION)
BlackBackgrounds = check_settings("BlackBackgrounds", max_relative_error=("number", {"low": 0}))


@check("task7", "sample_counts", SampleCounts)
def sample_counts(ctx: Context, cfg: SampleCounts) -> Outcome:
    claimed = number(ctx.sub.json(FID_METRICS.path), N_GENERATED, FID_METRICS.path)
    saved = len(samples(ctx, FID_SAMPLES))
    distinct = len({img.tobytes() for img in samples(ctx, FID_SAMPLES)})
    ok = saved == claimed and saved >= cfg.min_generated and distinct == saved
    return Outcome.of(
        ok,
        f"{saved} saved samples ({distinct} distinct; claimed {claimed:g})",
        f">= {cfg.min_generated} distinct samples, as many as claimed",
        f"FID uses {saved} generated samples against the statistics of the 10,000 MNIST test images.",
    )


@check("task7", "digits_recognised", DigitsRecognised)
def digits_recognised(ctx: Context, cfg: DigitsRecognised) -> Outcome:
    m = digit_measures(ctx, FID_SAMPLES)
    shares = m.shares
    ok = (
        m.confident_share >= cfg.min_confident_share
        and shares.min() >= cfg.min_digit_share
        and shares.max() <= cfg.max_digit_share
    )
    counts = ", ".join(str(c) for c in m.counts)
    return Outcome.of(
        ok,
        f"{m.confident_share:.1%} of {m.n} recognised as digits with confidence, {m.not_digit_share:.1%} "
        f"called not a digit; per digit 0-9 [{counts}]",
        f">= {cfg.min_confident_share:.0%} recognised; each digit between {cfg.min_digit_share:.0%} "
        f"and {cfg.max_digit_share:.0%} of the samples",
        f"The grader's digit classifier recognises {m.confident_share:.1%} of the {m.n} samples with confidence; "
        f"every digit appears (from {int(min(m.counts))} to {int(max(m.counts))} samples per digit).",
    )


@check("task7", "not_training_copies", NotTrainingCopies)
def not_training_copies(ctx: Context, cfg: NotTrainingCopies) -> Outcome:
    """Samples must be new images: neither near-copies of MNIST's training images nor of its test images (the
    FID reference itself, which copies would score well against)."""
    images = samples(ctx, FID_SAMPLES)
    distance, _ = ctx.once("nearest:fid", lambda: ctx.refs.nearest_training_image(images))
    share = float((distance < cfg.copy_distance).mean())
    test_copies = float((ctx.refs.nearest_test_image(images)[0] < cfg.copy_distance).mean())
    test_distance = ctx.refs.test_image_distances(len(images))
    test_share = float((test_distance < cfg.copy_distance).mean())
    return Outcome.of(
        share <= cfg.max_copy_share and test_copies <= cfg.max_copy_share,
        f"{share:.1%} of the samples lie within {cfg.copy_distance} (RMS, 0-255) of an MNIST training image, "
        f"{test_copies:.1%} of a test image; median distance to the training images {np.median(distance):.1f} "
        f"(real test images: {test_share:.1%} within, median {np.median(test_distance):.1f})",
        f"at most {cfg.max_copy_share:.0%} near-copies of either",
        f"The samples are new images: {share:.1%} are near-copies of a training image (real test images: "
        f"{test_share:.1%}) and {test_copies:.1%} of a test image; the median distance to the nearest "
        f"training image is {np.median(distance):.1f} against {np.median(test_distance):.1f} for real test images.",
    )


@check("task7", "fid_threshold", FidThreshold)
def fid_threshold(ctx: Context, cfg: FidThreshold) -> Outcome:
    score, limit = recomputed_fid(ctx), f"<= {cfg.max_fid}"
    if score is None:
        return Outcome(NOT_RUN, "FID not computed (--no-fid)", limit)
    n = len(samples(ctx, FID_SAMPLES))
    verdict = f"FID (clean-fid, mode clean) = {score:.2f}, recomputed by the grader."
    return Outcome.of(score <= cfg.max_fid, f"FID {score:.2f}, recomputed from the {n} saved samples", limit, verdict)


@check("task7", "fid_claim", FidClaim)
def fid_claim(ctx: Context, cfg: FidClaim) -> Outcome:
    claimed = finite(ctx.sub.json(FID_METRICS.path).get(FID), f"{FID_METRICS.path} {FID}")
    if claimed < 0:
        raise Rejected(f"{FID_METRICS.path} {FID}: {claimed} is negative, and an FID never is")
    score = recomputed_fid(ctx)
    if score is None:
        return Outcome(NOT_RUN, f"claimed {claimed:.3f}; not recomputed (--no-fid)", "the recomputed FID")
    rel, tolerance = abs(score - claimed) / max(score, 1e-9), cfg.relative_tolerance
    measured = f"claimed {claimed:.3f}, recomputed {score:.3f} ({rel:.2%} apart)"
    verdict = f"The FID the pipeline reported ({claimed:.2f}) agrees with the grader's ({score:.2f})."
    return Outcome.of(rel <= tolerance, measured, f"within {tolerance:.0%} of the recomputed FID", verdict)


@check("task7", "samples_regenerate", SamplesRegenerate)
def samples_regenerate(ctx: Context, cfg: SamplesRegenerate) -> Outcome:
    return regenerate(ctx, FID_SAMPLES, "fid_noise", cfg.k, cfg.max_pixel_difference)


@check("task7", "black_backgrounds", BlackBackgrounds)
def black_backgrounds(ctx: Context, cfg: BlackBackgrounds) -> Outcome:
    images = samples(ctx, FID_SAMPLES)
    reference = ctx.refs.mean_pixel_training
    mean = float(images.mean())
    err = abs(mean - reference) / reference
    return Outcome.of(
        err <= cfg.max_relative_error,
        f"mean pixel {mean:.1f} vs MNIST's {reference:.1f} ({err:.1%})",
        f"within {cfg.max_relative_error:.0%}",
        f"Mean pixel of the samples {mean:.1f}, of MNIST's training images {reference:.1f}.",
    )
