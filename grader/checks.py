"""The checks, one function each, keyed by (task, check) as in rubric.yaml.

Each re-derives what it can from the submitted artifacts (samples, arrays, CSVs) rather than trusting a
claimed number, and returns an :class:`Outcome`. A check raises :class:`grader.safe.Rejected` for an
unusable file; the runner turns that into a failed check with its one-line reason.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from grader.safe import Rejected, Submission, array, number, vector


@dataclass
class Outcome:
    passed: bool
    measured: str
    expected: str
    answer: str = ""  # the lab report's sentence for this result
    figures: list[str] = field(default_factory=list)  # submission-relative PNGs to show with it


@dataclass
class Context:
    sub: Submission
    z: float
    recompute_fid: Callable[[np.ndarray], float] | None = None


CHECKS: dict[tuple[str, str], Callable[[Context, dict], Outcome]] = {}


def check(task: str, name: str):
    def register(fn):
        CHECKS[(task, name)] = fn
        return fn
    return register


def _within(value: float, target: float, tol: float) -> bool:
    return abs(value - target) <= tol


# Task 1 ---------------------------------------------------------------------------------------------

@check("task1", "samples_moments")
def samples_moments(ctx: Context, cfg: dict) -> Outcome:
    cols = ctx.sub.csv_columns("gaussian_demo/samples.csv", ("x1", "x2"))
    x = np.stack([cols["x1"], cols["x2"]], axis=1)
    n = len(x)
    if n < 100:
        raise Rejected(f"gaussian_demo/samples.csv: {n} samples, too few to test")
    mean, cov = x.mean(0), np.cov(x, rowvar=False)
    # standard errors under N(0, I): mean 1/√n; variance √(2/n); covariance √(1/n)
    tol_mean, tol_var, tol_cov = ctx.z / math.sqrt(n), ctx.z * math.sqrt(2 / n), ctx.z / math.sqrt(n)
    ok = (
        all(_within(m, 0, tol_mean) for m in mean)
        and _within(cov[0, 0], 1, tol_var) and _within(cov[1, 1], 1, tol_var)
        and _within(cov[0, 1], 0, tol_cov)
    )
    measured = f"n={n}, mean=[{mean[0]:.3f}, {mean[1]:.3f}], cov=[[{cov[0,0]:.3f}, {cov[0,1]:.3f}], [{cov[1,0]:.3f}, {cov[1,1]:.3f}]]"
    expected = f"|mean| <= {tol_mean:.3f}, |var-1| <= {tol_var:.3f}, |cov12| <= {tol_cov:.3f}"
    return Outcome(ok, measured, expected, f"The {n} samples have sample mean [{mean[0]:.3f}, {mean[1]:.3f}] and sample "
                   f"covariance [[{cov[0,0]:.3f}, {cov[0,1]:.3f}], [{cov[1,0]:.3f}, {cov[1,1]:.3f}]], consistent with N(0, I).")


@check("task1", "scatter_figure")
def scatter_figure(ctx: Context, cfg: dict) -> Outcome:
    w, h = ctx.sub.image("gaussian_demo/scatter.png")
    return Outcome(True, f"{w}x{h} PNG", "a readable PNG", figures=["gaussian_demo/scatter.png"])


# Task 2 ---------------------------------------------------------------------------------------------

def _gndm(ctx: Context) -> tuple[np.ndarray, np.ndarray, int]:
    metrics = ctx.sub.json("gndm_fit/metrics.json")
    learned = vector(metrics, "learned_mean", "gndm_fit/metrics.json", 2)
    cols = ctx.sub.csv_columns("gndm_fit/data.csv", ("x1", "x2"))
    data = np.stack([cols["x1"], cols["x2"]], axis=1)
    return learned, data, len(data)


@check("task2", "learned_mean")
def learned_mean(ctx: Context, cfg: dict) -> Outcome:
    learned, _, n = _gndm(ctx)
    tol = ctx.z / math.sqrt(n)
    ok = _within(learned[0], 1.0, tol) and _within(learned[1], 2.0, tol)
    return Outcome(ok, f"mu*=[{learned[0]:.4f}, {learned[1]:.4f}] (n={n})", f"within {tol:.3f} of [1, 2] per coordinate",
                   f"Gradient descent on the NLL gives mu* = [{learned[0]:.4f}, {learned[1]:.4f}] from {n} samples of N([1, 2], I).")


@check("task2", "matches_closed_form")
def matches_closed_form(ctx: Context, cfg: dict) -> Outcome:
    learned, data, _ = _gndm(ctx)
    sample_mean = data.mean(0)
    gap = float(np.abs(learned - sample_mean).max())
    return Outcome(gap <= cfg["tolerance"], f"max |mu* - mean(data)| = {gap:.2e}", f"<= {cfg['tolerance']:.0e}",
                   f"It equals the sample mean of the data, [{sample_mean[0]:.4f}, {sample_mean[1]:.4f}] (the closed-form "
                   f"minimizer), to {gap:.1e}: the learned p(x, mu*) matches the data.")


@check("task2", "fit_figure")
def fit_figure(ctx: Context, cfg: dict) -> Outcome:
    w, h = ctx.sub.image("gndm_fit/fit.png")
    return Outcome(True, f"{w}x{h} PNG", "a readable PNG", figures=["gndm_fit/fit.png"])


# Task 3 ---------------------------------------------------------------------------------------------

@check("task3", "balanced_subset")
def balanced_subset(ctx: Context, cfg: dict) -> Outcome:
    arrays = ctx.sub.npz("mnist_subset/subset.npz")
    size = cfg["image_size"]
    images = array(arrays, "images", "mnist_subset/subset.npz", np.uint8, (None, size, size))
    labels = array(arrays, "labels", "mnist_subset/subset.npz", shape=(len(images),))
    if labels.dtype.kind not in "iu":
        raise Rejected(f"mnist_subset/subset.npz labels: dtype {labels.dtype}, expected integers")
    counts = np.bincount(labels.astype(np.int64).clip(0, 10), minlength=11)
    ok = len(images) == cfg["n_images"] and counts[10] == 0 and all(counts[:10] == cfg["per_class"])
    shown = ", ".join(str(c) for c in counts[:10])
    return Outcome(ok, f"{len(images)} images {size}x{size}, per class [{shown}]",
                   f"{cfg['n_images']} images, {cfg['per_class']} of each digit",
                   f"The training subset holds {len(images)} images of {size}x{size} pixels, {shown} per digit 0-9.",
                   figures=["mnist_subset/preview.png"])


@check("task3", "value_range")
def value_range(ctx: Context, cfg: dict) -> Outcome:
    metrics = ctx.sub.json("mnist_subset/metrics.json")
    low, high = cfg["range"]
    stated = vector(metrics, "value_range", "mnist_subset/metrics.json", 2)
    lo, hi = number(metrics, "min", "mnist_subset/metrics.json"), number(metrics, "max", "mnist_subset/metrics.json")
    ok = list(stated) == [low, high] and low <= lo < hi <= high
    return Outcome(ok, f"stated {[float(v) for v in stated]}, observed [{lo:.3f}, {hi:.3f}]", f"[{low}, {high}]",
                   f"Pixels are scaled to [{low:g}, {high:g}] (observed [{lo:.3f}, {hi:.3f}]).")


# Task 4 ---------------------------------------------------------------------------------------------

@check("task4", "pure_noise_at_T")
def pure_noise_at_T(ctx: Context, cfg: dict) -> Outcome:
    arrays = ctx.sub.npz("forward_demo/noisy.npz")
    x0 = array(arrays, "x0", "forward_demo/noisy.npz", shape=(None, None)).astype(np.float64)
    xt = array(arrays, f"t{cfg['t']}", "forward_demo/noisy.npz", shape=x0.shape).astype(np.float64)
    n = x0.size
    s = cfg["sqrt_alpha_bar_T"]
    # eq. (27) per pixel: x_T = s·x0 + sqrt(1 − s²)·ε, so mean ≈ s·mean(x0), std ≈ sqrt(s² var(x0) + 1 − s²),
    # corr(x_T, x0) ≈ s·std(x0)/std(x_T); standard errors over n pixels: 1/√n, 1/√(2n), 1/√n.
    exp_std = math.sqrt(s * s * x0.var() + 1 - s * s)
    expected = {"mean": s * x0.mean(), "std": exp_std, "corr": s * x0.std() / exp_std}
    tol = {"mean": ctx.z / math.sqrt(n), "std": ctx.z / math.sqrt(2 * n), "corr": ctx.z / math.sqrt(n)}
    corr = float(np.corrcoef(xt.ravel(), x0.ravel())[0, 1]) if x0.std() > 0 and xt.std() > 0 else float("nan")
    measured = {"mean": xt.mean(), "std": xt.std(ddof=1), "corr": corr}
    ok = all(_within(measured[k], expected[k], tol[k]) for k in expected)
    return Outcome(
        ok,
        ", ".join(f"{k}={measured[k]:.3f}" for k in measured),
        ", ".join(f"{k}={expected[k]:.3f}±{tol[k]:.3f}" for k in expected),
        f"At t = {cfg['t']}, sqrt(alpha_bar) = {s:.3f}: the noisy image has mean {measured['mean']:.3f}, std "
        f"{measured['std']:.3f} and correlation {measured['corr']:.3f} with x_0, as pure N(0, I) noise would within "
        f"the sampling error of {n} pixels.",
        figures=["forward_demo/forward.png"],
    )


@check("task4", "noisy_figures")
def noisy_figures(ctx: Context, cfg: dict) -> Outcome:
    sizes = [ctx.sub.image(f"forward_demo/t{t}.png") for t in cfg["timesteps"]]
    return Outcome(True, f"{len(sizes)} readable PNGs", f"t = {', '.join(map(str, cfg['timesteps']))}")


# Task 5 and 6 ---------------------------------------------------------------------------------------

def _samples(ctx: Context, relative: str, size: int | None = None) -> np.ndarray:
    arrays = ctx.sub.npz(relative)
    return array(arrays, "images", relative, np.uint8, (None, size, size))


@check("task5", "samples_valid")
def samples_valid(ctx: Context, cfg: dict) -> Outcome:
    images = _samples(ctx, "sample_grid/samples.npz")
    per_image_std = images.reshape(len(images), -1).std(axis=1)
    distinct = len({img.tobytes() for img in images})
    ok = len(images) > 1 and per_image_std.min() >= cfg["min_std"] and distinct == len(images)
    return Outcome(ok, f"{len(images)} samples, {distinct} distinct, min per-image std {per_image_std.min():.1f}",
                   f"distinct, non-constant images (per-image std >= {cfg['min_std']})",
                   f"The sampler of eq. (33) produced {len(images)} distinct images.")


@check("task6", "epochs")
def epochs(ctx: Context, cfg: dict) -> Outcome:
    cols = ctx.sub.csv_columns("train/loss.csv", ("epoch", "loss"))
    n = len(cols["epoch"])
    consecutive = np.array_equal(cols["epoch"], np.arange(1, n + 1))
    return Outcome(n >= cfg["min_epochs"] and consecutive, f"{n} epochs{'' if consecutive else ' (not numbered 1..N)'}",
                   f">= {cfg['min_epochs']}, numbered 1..N", f"The U-Net was trained for {n} epochs.")


@check("task6", "loss_falls")
def loss_falls(ctx: Context, cfg: dict) -> Outcome:
    loss = ctx.sub.csv_columns("train/loss.csv", ("epoch", "loss"))["loss"]
    if len(loss) < 2:
        raise Rejected("train/loss.csv: fewer than 2 epochs")
    tenth = max(1, len(loss) // 10)
    first, last = loss[:tenth].mean(), loss[-tenth:].mean()
    ratio = last / first if first > 0 else math.inf
    return Outcome(ratio <= cfg["max_ratio"], f"last tenth {last:.4f} / first tenth {first:.4f} = {ratio:.3f}",
                   f"<= {cfg['max_ratio']}", f"The loss fell from {first:.4f} (mean of the first tenth of the epochs) to "
                   f"{last:.4f} (last tenth); final epoch {loss[-1]:.4f}.", figures=["train/loss.png"])


@check("task6", "loss_figure")
def loss_figure(ctx: Context, cfg: dict) -> Outcome:
    w, h = ctx.sub.image("train/loss.png")
    return Outcome(True, f"{w}x{h} PNG", "a readable PNG")


@check("task6", "sample_grid")
def sample_grid(ctx: Context, cfg: dict) -> Outcome:
    size, rows = cfg["image_size"], cfg["rows"]
    images = _samples(ctx, "sample_grid/samples.npz", size)
    w, h = ctx.sub.image("sample_grid/grid.png")
    ok = len(images) == rows * rows
    return Outcome(ok, f"{len(images)} samples of {size}x{size}, grid {w}x{h} PNG", f"{rows * rows} samples ({rows}x{rows})",
                   f"{len(images)} samples in a {rows}x{rows} grid.", figures=["sample_grid/grid.png"])


# Task 7 ---------------------------------------------------------------------------------------------

def _fid_metrics(ctx: Context) -> dict:
    return ctx.sub.json("fid/metrics.json")


@check("task7", "sample_counts")
def sample_counts(ctx: Context, cfg: dict) -> Outcome:
    metrics = _fid_metrics(ctx)
    claimed = number(metrics, "n_generated", "fid/metrics.json")
    n_ref = number(metrics, "n_reference", "fid/metrics.json")
    saved = len(_samples(ctx, "fid/samples.npz"))
    ok = saved == claimed and saved >= cfg["min_generated"] and n_ref >= cfg["min_reference"]
    return Outcome(ok, f"{saved} saved samples (claimed {claimed:g}), {n_ref:g} reference images",
                   f">= {cfg['min_generated']} generated, >= {cfg['min_reference']} reference",
                   f"FID uses {saved} generated samples against {n_ref:g} MNIST test images.")


@check("task7", "fid_threshold")
def fid_threshold(ctx: Context, cfg: dict) -> Outcome:
    metrics = _fid_metrics(ctx)
    score = number(metrics, "fid", "fid/metrics.json")
    floor = metrics.get("floor")
    floor_text = f" (the real-data floor at that sample size is {finite_or_none(floor)})" if floor is not None else ""
    return Outcome(score <= cfg["max_fid"], f"FID {score:.2f}", f"<= {cfg['max_fid']}",
                   f"FID (clean-fid, mode clean) = {score:.2f}{floor_text}.")


def finite_or_none(value) -> str:
    return f"{value:.2f}" if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) else "n/a"


@check("task7", "black_backgrounds")
def black_backgrounds(ctx: Context, cfg: dict) -> Outcome:
    images = _samples(ctx, "fid/samples.npz")
    training = ctx.sub.npz("mnist_subset/subset.npz")
    reference = float(array(training, "images", "mnist_subset/subset.npz", np.uint8).mean())
    mean = float(images.mean())
    err = abs(mean - reference) / reference if reference > 0 else math.inf
    return Outcome(err <= cfg["max_relative_error"], f"mean pixel {mean:.1f} vs training {reference:.1f} ({err:.1%})",
                   f"within {cfg['max_relative_error']:.0%}", f"Mean pixel of the samples {mean:.1f}, of the training images {reference:.1f}.")


@check("task7", "fid_recomputed")
def fid_recomputed(ctx: Context, cfg: dict) -> Outcome:
    if ctx.recompute_fid is None:
        return Outcome(True, "not recomputed (pass --recompute-fid)", "skipped")
    claimed = number(_fid_metrics(ctx), "fid", "fid/metrics.json")
    images = _samples(ctx, "fid/samples.npz")
    score = ctx.recompute_fid(images)
    rel = abs(score - claimed) / max(abs(claimed), 1e-9)
    return Outcome(rel <= cfg["relative_tolerance"], f"recomputed {score:.3f} vs claimed {claimed:.3f} ({rel:.2%})",
                   f"within {cfg['relative_tolerance']:.0%}", f"Recomputed from the saved samples: FID {score:.2f}.")
