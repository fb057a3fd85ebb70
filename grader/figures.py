"""The report's figures, drawn by the grader from the submitted arrays (never the submission's PNGs), after
the checks have run: each reuses what the checks measured. A figure that cannot be drawn is left out; the
check on the same array says why."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from ddpm_lab.artifacts import FID_SAMPLES, FORWARD, GRID_SAMPLES, LOSS
from grader.checks import base
from grader.checks.base import Context
from grader.checks.task2 import gndm

FIGURES: list[tuple[str, str, Callable]] = []  # (task, file name, draw(ctx) -> matplotlib figure)


def figure(task: str, name: str):
    def register(fn):
        FIGURES.append((task, name, fn))
        return fn

    return register


@figure("task1", "task1_scatter.png")
def _scatter(ctx: Context):
    import torch

    from ddpm_lab import gaussian, plots

    density = lambda p: gaussian.normal_density(p, torch.zeros(2, dtype=p.dtype), torch.eye(2, dtype=p.dtype))  # noqa: E731
    x = base.gaussian_samples(ctx)
    return plots.scatter_over_density(x, density, (0, 0), f"Drawn by the grader: {len(x)} samples over N(0, I)")


@figure("task2", "task2_fit.png")
def _fit(ctx: Context):
    import torch

    from ddpm_lab import gaussian, plots

    learned, data = gndm(ctx)
    mu = torch.tensor(learned)

    def density(p):
        return gaussian.normal_density(p, mu.to(p.dtype), torch.eye(2, dtype=p.dtype))

    return plots.scatter_over_density(
        data,
        density,
        tuple(learned),
        f"Drawn by the grader: the data over p(x, mu*), mu* = [{learned[0]:.3f}, {learned[1]:.3f}]",
        labels=("p(x, mu*)", None),
    )


@figure("task4", "task4_forward.png")
def _forward(ctx: Context):
    from ddpm_lab import plots

    arrays = base.forward_arrays(ctx)
    steps = [0] + [t for t in range(1, ctx.refs.schedule.steps + 1) if f"t{t}" in arrays]
    images = [arrays["x0"] if t == 0 else arrays[f"t{t}"] for t in steps]
    return plots.forward_process(
        images,
        steps,
        [ctx.refs.sqrt_alpha_bar(t) for t in steps],
        f"Drawn by the grader from {FORWARD.path} (one grey scale for all t)",
    )


@figure("task6", "task6_loss.png")
def _loss(ctx: Context):
    from ddpm_lab import plots

    _, loss = base.loss_curve(ctx)
    fig = plots.loss_curve(list(loss))
    fig.axes[0].set_title(f"Drawn by the grader from {LOSS.path}: {len(loss)} epochs, final {loss[-1]:.4f}")
    return fig


@figure("task6", "task6_grid.png")
def _grid(ctx: Context):
    from ddpm_lab import plots

    images = base.samples(ctx, GRID_SAMPLES)
    rows = int(np.ceil(np.sqrt(len(images))))
    return plots.digit_grid(images, f"Drawn by the grader: the {len(images)} samples of {GRID_SAMPLES.path}", n_rows=rows)


@figure("task7", "task7_digits.png")
def _digits(ctx: Context):
    from ddpm_lab import plots

    m = base.digit_measures(ctx, FID_SAMPLES)
    test_labels = ctx.refs.test_images[1]
    reference = np.bincount(test_labels, minlength=10) / len(test_labels)
    fig = plots.digit_histogram(
        m.counts,
        reference,
        f"Digits among the {m.n} FID samples "
        f"({m.confident_share:.0%} recognised with confidence, {m.not_digit_share:.0%} not digits)",
    )
    fig.axes[0].legend(loc="lower center", ncol=2, framealpha=0.95)
    return fig


@figure("task7", "task7_nearest.png")
def _nearest(ctx: Context):
    from ddpm_lab import plots

    images = base.samples(ctx, FID_SAMPLES)
    distance, index = ctx.once("nearest:fid", lambda: ctx.refs.nearest_training_image(images))
    closest = np.argsort(distance)[:10]
    return plots.pairs(
        images[closest],
        ctx.refs.train_images[0][index[closest]],
        [f"{distance[k]:.1f}" for k in closest],
        "The 10 samples closest to a training image (top) and that image (bottom), RMS distance",
    )


DPI = 100


def png(ctx: Context, name: str) -> bytes:
    """One of the grader's figures, by file name, as PNG bytes; raises where its arrays cannot be drawn."""
    from ddpm_lab.io import figure_png

    draw = next(draw for _, file, draw in FIGURES if file == name)
    try:
        return figure_png(draw(ctx), dpi=DPI)
    finally:
        import matplotlib.pyplot as plt

        plt.close("all")


def draw_all(ctx: Context, out: Path) -> dict[str, list[Path]]:
    """Draw every figure it can into ``out``; return the drawn files per task."""
    from ddpm_lab.io import write_bytes

    drawn: dict[str, list[Path]] = {}
    for task, name, _ in FIGURES:
        try:
            data = png(ctx, name)
        except Exception:  # a broken array: its check reports it
            continue
        write_bytes(out / name, data)
        drawn.setdefault(task, []).append(out / name)
    return drawn
