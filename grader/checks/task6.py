"""Task 6: the U-Net trained with eq. (38): its loss curve, its 8×8 grid, and both tied to the handed-in weights
(:mod:`grader.checks.regenerate`)."""

from __future__ import annotations

import math

import numpy as np

from ddpm_lab.artifacts import GRID_FIGURE, LOSS, LOSS_FIGURE, WEIGHTS
from grader.checks.base import GRID_SAMPLES, Context, Outcome, check, check_settings, digit_measures, loss_curve, samples
from grader.checks.regenerate import regenerate, weights_loss
from grader.safe import Rejected

SHARE = ("number", {"low": 0, "high": 1})
REGENERATION = {"k": ("integer", {"low": 1}), "max_pixel_difference": ("integer", {"low": 0, "high": 255})}

Epochs = check_settings("Epochs", min_epochs=("integer", {"low": 1}), min_first_epoch_loss=("number", {"low": 0}))
LossFalls = check_settings("LossFalls", max_ratio=("number", {"low": 0, "low_open": True}))
SampleGrid = check_settings("SampleGrid", rows=("integer", {"low": 1}), min_confident_share=SHARE)
GridRegenerates = check_settings("GridRegenerates", **REGENERATION)
LossMatchesWeights = check_settings("LossMatchesWeights", last_epochs=("integer", {"low": 1}), ratio=("numbers", {"length": 2}))


@check("task6", "epochs", Epochs)
def epochs(ctx: Context, cfg: Epochs) -> Outcome:
    """At least ``min_epochs`` epochs, numbered 1..N, and a first epoch that starts from an untrained network:
    an untrained ε̂ outputs about 0, so its eq. (38) loss is about E‖ε‖²/pixels = 1."""
    epoch, loss = loss_curve(ctx)
    n = len(epoch)
    consecutive = np.array_equal(epoch, np.arange(1, n + 1))
    first = float(loss[0]) if n else float("nan")
    ok = n >= cfg.min_epochs and consecutive and first >= cfg.min_first_epoch_loss
    measured = f"{n} epochs{'' if consecutive else ' (not numbered 1..N)'}, first epoch's loss {first:.3f}"
    expected = f">= {cfg.min_epochs} epochs numbered 1..N, the first from scratch (loss >= {cfg.min_first_epoch_loss})"
    return Outcome.of(ok, measured, expected, f"The U-Net was trained for {n} epochs from scratch (first loss {first:.3f}).")


@check("task6", "loss_falls", LossFalls)
def loss_falls(ctx: Context, cfg: LossFalls) -> Outcome:
    _, loss = loss_curve(ctx)
    if len(loss) < 2:
        raise Rejected(f"{LOSS.path}: fewer than 2 epochs")
    tenth = max(1, len(loss) // 10)
    first, last = loss[:tenth].mean(), loss[-tenth:].mean()
    ratio = last / first if first > 0 else math.inf
    return Outcome.of(
        ratio <= cfg.max_ratio,
        f"last tenth {last:.4f} / first tenth {first:.4f} = {ratio:.3f}",
        f"<= {cfg.max_ratio}",
        f"The loss fell from {first:.4f} (mean of the first tenth of the epochs) to "
        f"{last:.4f} (last tenth); final epoch {loss[-1]:.4f}.",
        figures=[LOSS_FIGURE.path],
    )


@check("task6", "sample_grid", SampleGrid)
def sample_grid(ctx: Context, cfg: SampleGrid) -> Outcome:
    rows = cfg.rows
    images = samples(ctx, GRID_SAMPLES)
    measures = digit_measures(ctx, GRID_SAMPLES)
    ok = len(images) == rows * rows and measures.confident_share >= cfg.min_confident_share
    return Outcome.of(
        ok,
        f"{len(images)} samples, {measures.confident_share:.0%} recognised as digits, "
        f"{measures.not_digit_share:.0%} called not a digit",
        f"{rows * rows} samples ({rows}x{rows}), at least {cfg.min_confident_share:.0%} recognised",
        f"{len(images)} samples in a {rows}x{rows} grid; the grader's classifier recognises "
        f"{measures.confident_share:.0%} of them as digits.",
        figures=[GRID_FIGURE.path],
    )


@check("task6", "grid_regenerates", GridRegenerates)
def grid_regenerates(ctx: Context, cfg: GridRegenerates) -> Outcome:
    return regenerate(ctx, GRID_SAMPLES, "grid_noise", cfg.k, cfg.max_pixel_difference)


@check("task6", "loss_matches_weights", LossMatchesWeights)
def loss_matches_weights(ctx: Context, cfg: LossMatchesWeights) -> Outcome:
    _, logged = loss_curve(ctx)
    if len(logged) == 0:
        raise Rejected(f"{LOSS.path}: no epochs")
    last = float(np.mean(logged[-cfg.last_epochs :]))
    measured_loss = weights_loss(ctx)
    ratio = measured_loss / last if last > 0 else float("inf")
    low, high = cfg.ratio
    expected = f"between {low:g} and {high:g} x the mean logged loss of the last {cfg.last_epochs} epochs"
    return Outcome.of(
        low <= ratio <= high,
        f"eq. (38) loss of {WEIGHTS.path} on the subset {measured_loss:.4f} (draw seed {ctx.draw_seed}), "
        f"logged {last:.4f}: ratio {ratio:.3f}",
        expected,
        f"The handed-in weights score {measured_loss:.4f} under eq. (38) on the subset; the last epochs logged {last:.4f}.",
    )
