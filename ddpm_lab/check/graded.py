"""The rules of the graded checks of Tasks 1–4, shared by the grader and by the student's own check.

Each rule takes arrays (already read, shapes checked) and the check's settings from the rubric, and returns an
:class:`Outcome`: the grader runs it on a submission's files read defensively (``grader.checks``), the student's
check on the ``reports/`` that ``dvc repro`` wrote (:mod:`.reports`). One rule, one threshold, in both places.
None of these needs a trained model or a file of the grader's: Tasks 1, 2 and 4 need only the lab's schedule,
Task 3 MNIST's own training images (``nearest`` finds a subset's images among them).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from ddpm_lab import artifacts
from ddpm_lab.check import settings

PASSED, FAILED, NOT_RUN = "passed", "failed", "not run"


class Rejected(Exception):
    """A submitted file that cannot be used; the message is one line for the grade report."""


@dataclass
class Outcome:
    status: str  # PASSED, FAILED or NOT_RUN
    measured: str
    expected: str
    answer: str = ""  # the lab report's sentence for this result
    figures: list[str] = field(default_factory=list)  # the student's own PNGs, shown beside the grader's

    @classmethod
    def of(cls, ok: bool, *args, **kwargs) -> Outcome:
        return cls(PASSED if ok else FAILED, *args, **kwargs)


def within(value: float, target: float, tolerance: float) -> bool:
    return abs(value - target) <= tolerance


# Task 1 ---------------------------------------------------------------------------------------------------------


def samples_moments(x: np.ndarray, cfg: settings.SamplesMoments, z: float) -> Outcome:
    """Task 1's samples have the mean and covariance of N(0, I) within ``z`` standard errors."""
    n = len(x)
    if n < cfg.min_samples:
        raise Rejected(f"{artifacts.GAUSSIAN_SAMPLES.path}: {n} samples, the lab asks for {cfg.min_samples}")
    mean, cov = x.mean(0), np.cov(x, rowvar=False)
    # standard errors under N(0, I): mean 1/√n; variance √(2/n); covariance √(1/n)
    tol_mean, tol_var, tol_cov = z / math.sqrt(n), z * math.sqrt(2 / n), z / math.sqrt(n)
    ok = (
        all(within(m, 0, tol_mean) for m in mean)
        and within(cov[0, 0], 1, tol_var)
        and within(cov[1, 1], 1, tol_var)
        and within(cov[0, 1], 0, tol_cov)
    )
    measured = (
        f"n={n}, mean=[{mean[0]:.3f}, {mean[1]:.3f}], "
        f"cov=[[{cov[0, 0]:.3f}, {cov[0, 1]:.3f}], [{cov[1, 0]:.3f}, {cov[1, 1]:.3f}]]"
    )
    expected = f"|mean| <= {tol_mean:.3f}, |var-1| <= {tol_var:.3f}, |cov12| <= {tol_cov:.3f}"
    return Outcome.of(
        ok,
        measured,
        expected,
        f"The {n} samples have sample mean [{mean[0]:.3f}, {mean[1]:.3f}] and sample "
        f"covariance [[{cov[0, 0]:.3f}, {cov[0, 1]:.3f}], [{cov[1, 0]:.3f}, {cov[1, 1]:.3f}]], consistent with N(0, I).",
        figures=[artifacts.GAUSSIAN_SCATTER.path],
    )


# Task 2 ---------------------------------------------------------------------------------------------------------


def data_distribution(data: np.ndarray, cfg: settings.DataDistribution, z: float) -> Outcome:
    """Task 2's data are draws of N(true_mean, I): their means and variances within ``z`` standard errors."""
    n = len(data)
    if n < cfg.min_samples:
        raise Rejected(f"{artifacts.GNDM_DATA.path}: {n} samples, the lab asks for {cfg.min_samples}")
    target = np.array(cfg.true_mean, dtype=float)
    mean, var = data.mean(0), data.var(0, ddof=1)
    tol_mean, tol_var = z / math.sqrt(n), z * math.sqrt(2 / n)
    ok = all(within(m, t, tol_mean) for m, t in zip(mean, target)) and all(within(v, 1, tol_var) for v in var)
    return Outcome.of(
        ok,
        f"n={n}, mean=[{mean[0]:.3f}, {mean[1]:.3f}], var=[{var[0]:.3f}, {var[1]:.3f}]",
        f"mean within {tol_mean:.3f} of {target.tolist()}, variances within {tol_var:.3f} of 1",
        f"The {n} data points are a sample of N({target.tolist()}, I).",
    )


def learned_mean(learned: np.ndarray, data: np.ndarray, cfg: settings.LearnedMean) -> Outcome:
    """Task 2's μ* is the minimizer of the NLL, the data's sample mean, to ``tolerance``."""
    sample_mean = data.mean(0)
    gap = float(np.abs(learned - sample_mean).max())
    return Outcome.of(
        gap <= cfg.tolerance,
        f"mu*=[{learned[0]:.4f}, {learned[1]:.4f}], max |mu* - mean(data)| = {gap:.2e}",
        f"the minimizer of the NLL, the data's sample mean [{sample_mean[0]:.4f}, {sample_mean[1]:.4f}], to {cfg.tolerance:.0e}",
        f"Gradient descent on the NLL gives mu* = [{learned[0]:.4f}, {learned[1]:.4f}], the sample mean of the data "
        f"(the closed-form minimizer) to {gap:.1e}: the learned p(x, mu*) matches the data.",
        figures=[artifacts.GNDM_FIT.path],
    )


# Task 3 ---------------------------------------------------------------------------------------------------------

Nearest = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]  # uint8 images → (RMS distance, index) in MNIST


def balanced_subset(
    images: np.ndarray, labels: np.ndarray, cfg: settings.BalancedSubset, nearest: Nearest, mnist_labels: np.ndarray
) -> Outcome:
    """Every image of the subset is an MNIST training image (prepared at the lab's size) carrying that image's own
    label, all distinct, ``n_images // 10`` of each digit."""
    if labels.dtype.kind not in "iu":
        raise Rejected(f"{artifacts.SUBSET.path} labels: dtype {labels.dtype}, expected integers")
    distance, index = nearest(images)
    found_labels = mnist_labels[index]
    is_mnist = distance <= cfg.max_rms_distance
    true_label = labels.astype(np.int64) == found_labels
    distinct = len(np.unique(index[is_mnist]))
    counts = np.bincount(found_labels[is_mnist & true_label], minlength=10)
    ok = (
        len(images) == cfg.n_images
        and is_mnist.all()
        and true_label.all()
        and distinct == len(images)
        and all(counts == cfg.n_images // 10)
    )
    shown = ", ".join(str(c) for c in counts)
    size = images.shape[-1]
    return Outcome.of(
        ok,
        f"{len(images)} images, {int(is_mnist.sum())} found among MNIST's training images "
        f"({distinct} distinct), {int(true_label.sum())} with their true label; per digit [{shown}]",
        f"{cfg.n_images} distinct MNIST training images with their labels, {cfg.n_images // 10} of each digit",
        f"The training subset holds {len(images)} distinct MNIST training images of {size}x{size} pixels, {shown} per digit 0-9.",
        figures=[artifacts.SUBSET_PREVIEW.path],
    )


def value_range(x0: np.ndarray, cfg: settings.ValueRange, nearest: Nearest) -> Outcome:
    """The forward demo's x_0 is a training image as the model sees it: mapped linearly from [0, 255] to the
    rubric's range. Mapping it back must give an MNIST training image; any other scaling would not."""
    low, high = cfg.range
    lo, hi = float(x0.min()), float(x0.max())
    unit = (x0.astype(np.float64) - low) / (high - low) * 255
    distance, _ = nearest(unit.round().clip(0, 255).astype(np.uint8)[None])
    ok = low <= lo < hi <= high and distance[0] <= cfg.max_rms_distance
    return Outcome.of(
        ok,
        f"x_0 spans [{lo:.3f}, {hi:.3f}]; mapped back to [0, 255] it lies {distance[0]:.1f} (RMS) from an MNIST training image",
        f"within [{low}, {high}], and an MNIST image once mapped back",
        f"Pixels are scaled linearly from [0, 255] to [{low:g}, {high:g}] (the forward demo's x_0 spans "
        f"[{lo:.3f}, {hi:.3f}] and maps back onto an MNIST training image).",
    )


def pixel_matrix(images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Images as rows of float32 pixels, and each row's squared norm: the pool :func:`nearest` searches."""
    x = images.reshape(len(images), -1).astype(np.float32)
    return x, (x * x).sum(1)


def nearest(images: np.ndarray, pool: np.ndarray, pool_sq: np.ndarray, chunk: int = 500) -> tuple[np.ndarray, np.ndarray]:
    """For each uint8 image, the RMS pixel distance (0-255) to its nearest image of the pool, and that image's row."""
    distances, indices = [], []
    for start in range(0, len(images), chunk):
        a = images[start : start + chunk].reshape(-1, pool.shape[1]).astype(np.float32)
        closest = ((a * a).sum(1)[:, None] + pool_sq[None, :] - 2 * a @ pool.T).argmin(1)
        exact = ((a - pool[closest]) ** 2).sum(1)  # recomputed directly: no cancellation error
        distances.append(np.sqrt(exact / pool.shape[1]))
        indices.append(closest)
    return np.concatenate(distances), np.concatenate(indices)


# Task 4 ---------------------------------------------------------------------------------------------------------


def forward_moments(x0: np.ndarray, xt: np.ndarray, s: float, z: float) -> tuple[bool, dict, dict, dict]:
    """Eq. (27) per pixel: x_t = s·x0 + √(1 − s²)·ε, so mean ≈ s·mean(x0), std ≈ √(s² var(x0) + 1 − s²),
    corr(x_t, x0) ≈ s·std(x0)/std(x_t); standard errors over n pixels: 1/√n (mean, corr), 1/√(2n) (std)."""
    n = x0.size
    exp_std = math.sqrt(s * s * x0.var() + 1 - s * s)
    expected = {"mean": s * x0.mean(), "std": exp_std, "corr": s * x0.std() / exp_std}
    tol = {"mean": z / math.sqrt(n), "std": z / math.sqrt(2 * n), "corr": z / math.sqrt(n)}
    corr = float(np.corrcoef(xt.ravel(), x0.ravel())[0, 1]) if x0.std() > 0 and xt.std() > 0 else float("nan")
    measured = {"mean": float(xt.mean()), "std": float(xt.std(ddof=1)), "corr": corr}
    return all(within(measured[k], expected[k], tol[k]) for k in expected), measured, expected, tol


def pure_noise_at_T(x0: np.ndarray, xt: np.ndarray, t: int, s: float, z: float) -> Outcome:
    """x_T has the moments eq. (27) gives it at t = T, where √ᾱ_T = ``s``."""
    ok, measured, expected, tol = forward_moments(x0, xt, s, z)
    return Outcome.of(
        ok,
        ", ".join(f"{k}={measured[k]:.3f}" for k in measured),
        ", ".join(f"{k}={expected[k]:.3f}±{tol[k]:.3f}" for k in expected),
        f"At t = {t}, sqrt(alpha_bar) = {s:.4f}: the noisy image has mean {measured['mean']:.3f}, std "
        f"{measured['std']:.3f} and correlation {measured['corr']:.3f} with x_0, as pure N(0, I) noise would within "
        f"the sampling error of {x0.size} pixels.",
        figures=[artifacts.FORWARD_FIGURE.path],
    )


def forward_marginals(noisy: dict[int, tuple[np.ndarray, np.ndarray]], roots: dict[int, float], z: float) -> Outcome:
    """Every asked timestep's x_t (``noisy[t]`` = (x_0, x_t)) has the moments eq. (27) gives it (√ᾱ_t = ``roots[t]``)."""
    rows, bad = [], []
    for t, (x0, xt) in noisy.items():
        ok, measured, expected, _ = forward_moments(x0, xt, roots[t], z)
        rows.append(
            f"t={t}: std {measured['std']:.3f} (eq. 27: {expected['std']:.3f}), "
            f"corr {measured['corr']:.2f} ({expected['corr']:.2f})"
        )
        if not ok:
            bad.append(t)
    return Outcome.of(
        not bad,
        "; ".join(rows) + (f"; off at t = {bad}" if bad else ""),
        f"x_t at t = {', '.join(map(str, noisy))} with the moments of eq. (27)",
        "The noisy images at t = " + ", ".join(map(str, noisy)) + " have the mean, spread and "
        "correlation with x_0 that eq. (27) predicts.",
        figures=[artifacts.FORWARD_FRAME.at(t=t).path for t in noisy],
    )
