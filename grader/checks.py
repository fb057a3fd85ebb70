"""The checks, one function each, keyed by (task, check) as in rubric.yaml. The rules of Tasks 1–4 live in
:mod:`ddpm_lab.check.graded`, which the student edition's own check runs too: here they get the submission's
arrays, read defensively.

Nothing a submission claims earns a point. Each check measures what it grades from the submitted arrays
(samples, noisy images, CSVs) against the grader's own references (:mod:`grader.references`): the FID is
recomputed, the digits are classified, the samples are compared with MNIST's training images, the subset
is matched to MNIST itself. A claimed number is only compared with the measured one.

A check returns an :class:`Outcome`; it raises :class:`grader.safe.Rejected` for an unusable file, which
the runner turns into a failed check with that one line.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from ddpm_lab.check import graded
from ddpm_lab.check.graded import FAILED, NOT_RUN, PASSED, Outcome  # noqa: F401  (the grader's names for them)
from grader.identity import NOBODY, Identity
from grader.references import References
from grader.safe import Rejected, Submission, array, finite, number, vector


@dataclass
class Context:
    sub: Submission
    z: float
    refs: References
    identity: Identity = NOBODY  # whose run the grader was told this is (grader/identity.py)
    draw_seed: int = 0  # the grader's own random picks of this grading (grader/model.py)
    memo: dict = field(default_factory=dict)  # measurements shared by several checks of one submission

    def once(self, key: str, compute: Callable):
        if key not in self.memo:
            try:
                self.memo[key] = (True, compute())
            except Exception as err:  # the same failure for every check that needs it
                self.memo[key] = (False, err)
        ok, value = self.memo[key]
        if not ok:
            raise value
        return value


CHECKS: dict[tuple[str, str], Callable[[Context, dict], Outcome]] = {}


def check(task: str, name: str):
    def register(fn):
        CHECKS[(task, name)] = fn
        return fn

    return register


# Task 1 ---------------------------------------------------------------------------------------------


def gaussian_samples(ctx: Context) -> np.ndarray:
    cols = ctx.sub.csv_columns("gaussian_demo/samples.csv", ("x1", "x2"))
    return np.stack([cols["x1"], cols["x2"]], axis=1)


@check("task1", "samples_moments")
def samples_moments(ctx: Context, cfg: dict) -> Outcome:
    return graded.samples_moments(gaussian_samples(ctx), cfg, ctx.z)


# Task 2 ---------------------------------------------------------------------------------------------


def gndm_data(ctx: Context) -> np.ndarray:
    cols = ctx.sub.csv_columns("gndm_fit/data.csv", ("x1", "x2"))
    return np.stack([cols["x1"], cols["x2"]], axis=1)


def gndm(ctx: Context) -> tuple[np.ndarray, np.ndarray]:
    metrics = ctx.sub.json("gndm_fit/metrics.json")
    return vector(metrics, "learned_mean", "gndm_fit/metrics.json", 2), gndm_data(ctx)


@check("task2", "data_distribution")
def data_distribution(ctx: Context, cfg: dict) -> Outcome:
    return graded.data_distribution(gndm(ctx)[1], cfg, ctx.z)


@check("task2", "learned_mean")
def learned_mean(ctx: Context, cfg: dict) -> Outcome:
    return graded.learned_mean(*gndm(ctx), cfg)


# Task 3 ---------------------------------------------------------------------------------------------


SUBSET = "mnist_subset/subset.npz"


def subset_images(ctx: Context) -> np.ndarray:
    """The subset's uint8 images, read once per grading (Task 3, the seed's draws and the weights' checks use them)."""
    size = ctx.refs.image_size
    return array(ctx.once("subset", lambda: ctx.sub.npz(SUBSET)), "images", SUBSET, np.uint8, (None, size, size))


@check("task3", "balanced_subset")
def balanced_subset(ctx: Context, cfg: dict) -> Outcome:
    images = subset_images(ctx)
    labels = array(ctx.once("subset", lambda: ctx.sub.npz(SUBSET)), "labels", SUBSET, shape=(len(images),))

    def nearest(found: np.ndarray):
        return ctx.once("nearest:subset", lambda: ctx.refs.nearest_training_image(found))

    return graded.balanced_subset(images, labels, cfg, nearest, ctx.refs.train_images[1])


def forward_arrays(ctx: Context) -> dict[str, np.ndarray]:
    return ctx.sub.npz("forward_demo/noisy.npz")


@check("task3", "value_range")
def value_range(ctx: Context, cfg: dict) -> Outcome:
    x0 = array(forward_arrays(ctx), "x0", "forward_demo/noisy.npz", shape=(None, None))
    return graded.value_range(x0, cfg, ctx.refs.nearest_training_image)


# Task 4 ---------------------------------------------------------------------------------------------


def _noisy(ctx: Context, t: int) -> tuple[np.ndarray, np.ndarray]:
    arrays = forward_arrays(ctx)
    x0 = array(arrays, "x0", "forward_demo/noisy.npz", shape=(None, None)).astype(np.float64)
    return x0, array(arrays, f"t{t}", "forward_demo/noisy.npz", shape=x0.shape).astype(np.float64)


@check("task4", "pure_noise_at_T")
def pure_noise_at_T(ctx: Context, cfg: dict) -> Outcome:
    t = ctx.refs.schedule.steps
    return graded.pure_noise_at_T(*_noisy(ctx, t), t, ctx.refs.sqrt_alpha_bar(t), ctx.z)


@check("task4", "forward_marginals")
def forward_marginals(ctx: Context, cfg: dict) -> Outcome:
    noisy = {t: _noisy(ctx, t) for t in cfg["timesteps"]}
    return graded.forward_marginals(noisy, {t: ctx.refs.sqrt_alpha_bar(t) for t in noisy}, ctx.z)


# Task 5 and 6 ---------------------------------------------------------------------------------------


def samples(ctx: Context, relative: str) -> np.ndarray:
    def load():
        size = ctx.refs.image_size
        return array(ctx.sub.npz(relative), "images", relative, np.uint8, (None, size, size))

    return ctx.once(f"samples:{relative}", load)


@check("task5", "samples_valid")
def samples_valid(ctx: Context, cfg: dict) -> Outcome:
    images = samples(ctx, "sample_grid/samples.npz")
    per_image_std = images.reshape(len(images), -1).std(axis=1)
    distinct = len({img.tobytes() for img in images})
    ok = len(images) > 1 and per_image_std.min() >= cfg["min_std"] and distinct == len(images)
    return Outcome.of(
        ok,
        f"{len(images)} samples, {distinct} distinct, min per-image std {per_image_std.min():.1f}",
        f"distinct, non-constant images (per-image std >= {cfg['min_std']})",
        f"The backward process produced {len(images)} distinct images.",
    )


def loss_curve(ctx: Context) -> tuple[np.ndarray, np.ndarray]:
    cols = ctx.sub.csv_columns("train/loss.csv", ("epoch", "loss"))
    return cols["epoch"], cols["loss"]


@check("task6", "epochs")
def epochs(ctx: Context, cfg: dict) -> Outcome:
    """At least ``min_epochs`` epochs, numbered 1..N, and a first epoch that starts from an untrained network:
    an untrained ε̂ outputs about 0, so its eq. (38) loss is about E‖ε‖²/pixels = 1."""
    epoch, loss = loss_curve(ctx)
    n = len(epoch)
    consecutive = np.array_equal(epoch, np.arange(1, n + 1))
    first = float(loss[0]) if n else float("nan")
    ok = n >= cfg["min_epochs"] and consecutive and first >= cfg["min_first_epoch_loss"]
    measured = f"{n} epochs{'' if consecutive else ' (not numbered 1..N)'}, first epoch's loss {first:.3f}"
    expected = f">= {cfg['min_epochs']} epochs numbered 1..N, the first from scratch (loss >= {cfg['min_first_epoch_loss']})"
    return Outcome.of(ok, measured, expected, f"The U-Net was trained for {n} epochs from scratch (first loss {first:.3f}).")


@check("task6", "loss_falls")
def loss_falls(ctx: Context, cfg: dict) -> Outcome:
    _, loss = loss_curve(ctx)
    if len(loss) < 2:
        raise Rejected("train/loss.csv: fewer than 2 epochs")
    tenth = max(1, len(loss) // 10)
    first, last = loss[:tenth].mean(), loss[-tenth:].mean()
    ratio = last / first if first > 0 else math.inf
    return Outcome.of(
        ratio <= cfg["max_ratio"],
        f"last tenth {last:.4f} / first tenth {first:.4f} = {ratio:.3f}",
        f"<= {cfg['max_ratio']}",
        f"The loss fell from {first:.4f} (mean of the first tenth of the epochs) to "
        f"{last:.4f} (last tenth); final epoch {loss[-1]:.4f}.",
        figures=["train/loss.png"],
    )


def digit_measures(ctx: Context, relative: str):
    from ddpm_lab import classifier

    confidence = ctx.refs.rubric["digits"]["confidence"]
    return ctx.once(f"digits:{relative}", lambda: classifier.measure(ctx.refs.classifier, samples(ctx, relative), confidence))


@check("task6", "sample_grid")
def sample_grid(ctx: Context, cfg: dict) -> Outcome:
    rows = cfg["rows"]
    images = samples(ctx, "sample_grid/samples.npz")
    measures = digit_measures(ctx, "sample_grid/samples.npz")
    ok = len(images) == rows * rows and measures.confident_share >= cfg["min_confident_share"]
    return Outcome.of(
        ok,
        f"{len(images)} samples, {measures.confident_share:.0%} recognised as digits, "
        f"{measures.not_digit_share:.0%} called not a digit",
        f"{rows * rows} samples ({rows}x{rows}), at least {cfg['min_confident_share']:.0%} recognised",
        f"{len(images)} samples in a {rows}x{rows} grid; the grader's classifier recognises "
        f"{measures.confident_share:.0%} of them as digits.",
        figures=["sample_grid/grid.png"],
    )


# Task 7 ---------------------------------------------------------------------------------------------

FID_SAMPLES = "fid/samples.npz"


@check("task7", "sample_counts")
def sample_counts(ctx: Context, cfg: dict) -> Outcome:
    claimed = number(ctx.sub.json("fid/metrics.json"), "n_generated", "fid/metrics.json")
    saved = len(samples(ctx, FID_SAMPLES))
    distinct = len({img.tobytes() for img in samples(ctx, FID_SAMPLES)})
    ok = saved == claimed and saved >= cfg["min_generated"] and distinct == saved
    return Outcome.of(
        ok,
        f"{saved} saved samples ({distinct} distinct; claimed {claimed:g})",
        f">= {cfg['min_generated']} distinct samples, as many as claimed",
        f"FID uses {saved} generated samples against the statistics of the 10,000 MNIST test images.",
    )


@check("task7", "digits_recognised")
def digits_recognised(ctx: Context, cfg: dict) -> Outcome:
    m = digit_measures(ctx, FID_SAMPLES)
    shares = m.shares
    ok = (
        m.confident_share >= cfg["min_confident_share"]
        and shares.min() >= cfg["min_digit_share"]
        and shares.max() <= cfg["max_digit_share"]
    )
    counts = ", ".join(str(c) for c in m.counts)
    return Outcome.of(
        ok,
        f"{m.confident_share:.1%} of {m.n} recognised as digits with confidence, {m.not_digit_share:.1%} "
        f"called not a digit; per digit 0-9 [{counts}]",
        f">= {cfg['min_confident_share']:.0%} recognised; each digit between {cfg['min_digit_share']:.0%} "
        f"and {cfg['max_digit_share']:.0%} of the samples",
        f"The grader's digit classifier recognises {m.confident_share:.1%} of the {m.n} samples with confidence; "
        f"every digit appears (from {int(min(m.counts))} to {int(max(m.counts))} samples per digit).",
    )


@check("task7", "not_training_copies")
def not_training_copies(ctx: Context, cfg: dict) -> Outcome:
    """Samples must be new images: neither near-copies of MNIST's training images nor of its test images (the
    FID reference itself, which copies would score well against)."""
    images = samples(ctx, FID_SAMPLES)
    distance, _ = ctx.once("nearest:fid", lambda: ctx.refs.nearest_training_image(images))
    share = float((distance < cfg["copy_distance"]).mean())
    test_copies = float((ctx.refs.nearest_test_image(images)[0] < cfg["copy_distance"]).mean())
    test_distance = ctx.refs.test_image_distances(len(images))
    test_share = float((test_distance < cfg["copy_distance"]).mean())
    return Outcome.of(
        share <= cfg["max_copy_share"] and test_copies <= cfg["max_copy_share"],
        f"{share:.1%} of the samples lie within {cfg['copy_distance']} (RMS, 0-255) of an MNIST training image, "
        f"{test_copies:.1%} of a test image; median distance to the training images {np.median(distance):.1f} "
        f"(real test images: {test_share:.1%} within, median {np.median(test_distance):.1f})",
        f"at most {cfg['max_copy_share']:.0%} near-copies of either",
        f"The samples are new images: {share:.1%} are near-copies of a training image (real test images: "
        f"{test_share:.1%}) and {test_copies:.1%} of a test image; the median distance to the nearest "
        f"training image is {np.median(distance):.1f} against {np.median(test_distance):.1f} for real test images.",
    )


def recomputed_fid(ctx: Context) -> float | None:
    if not ctx.refs.fid_enabled:
        return None
    return ctx.once("fid", lambda: ctx.refs.fid(samples(ctx, FID_SAMPLES)))


@check("task7", "fid_threshold")
def fid_threshold(ctx: Context, cfg: dict) -> Outcome:
    score, limit = recomputed_fid(ctx), f"<= {cfg['max_fid']}"
    if score is None:
        return Outcome(NOT_RUN, "FID not computed (--no-fid)", limit)
    n = len(samples(ctx, FID_SAMPLES))
    verdict = f"FID (clean-fid, mode clean) = {score:.2f}, recomputed by the grader."
    return Outcome.of(score <= cfg["max_fid"], f"FID {score:.2f}, recomputed from the {n} saved samples", limit, verdict)


@check("task7", "fid_claim")
def fid_claim(ctx: Context, cfg: dict) -> Outcome:
    claimed = ctx.sub.json("fid/metrics.json").get("fid")
    claimed = finite(claimed, "fid/metrics.json fid")
    if claimed < 0:
        raise Rejected(f"fid/metrics.json fid: {claimed} is negative, and an FID never is")
    score = recomputed_fid(ctx)
    if score is None:
        return Outcome(NOT_RUN, f"claimed {claimed:.3f}; not recomputed (--no-fid)", "the recomputed FID")
    rel, tolerance = abs(score - claimed) / max(score, 1e-9), cfg["relative_tolerance"]
    measured = f"claimed {claimed:.3f}, recomputed {score:.3f} ({rel:.2%} apart)"
    verdict = f"The FID the pipeline reported ({claimed:.2f}) agrees with the grader's ({score:.2f})."
    return Outcome.of(rel <= tolerance, measured, f"within {tolerance:.0%} of the recomputed FID", verdict)


@check("task7", "black_backgrounds")
def black_backgrounds(ctx: Context, cfg: dict) -> Outcome:
    images = samples(ctx, FID_SAMPLES)
    reference = ctx.refs.mean_pixel_training
    mean = float(images.mean())
    err = abs(mean - reference) / reference
    return Outcome.of(
        err <= cfg["max_relative_error"],
        f"mean pixel {mean:.1f} vs MNIST's {reference:.1f} ({err:.1%})",
        f"within {cfg['max_relative_error']:.0%}",
        f"Mean pixel of the samples {mean:.1f}, of MNIST's training images {reference:.1f}.",
    )


# The run, and the checks tied to the handed-in weights: their own modules, registered here ----------------

from grader import model, seeds  # noqa: E402, F401
