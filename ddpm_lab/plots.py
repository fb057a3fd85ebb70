"""Figures, built with matplotlib's object API (no global state) and returned for io.save_figure."""

from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def tile(images: np.ndarray, n_rows: int | None = None, pad: int = 2) -> np.ndarray:
    """uint8 (N, H, W) → one uint8 mosaic, ``n_rows`` × ceil(N / n_rows) tiles separated by ``pad`` pixels."""
    n, h, w = images.shape
    rows = n_rows or int(math.ceil(math.sqrt(n)))
    cols = int(math.ceil(n / rows))
    canvas = np.full((rows * (h + pad) + pad, cols * (w + pad) + pad), 128, dtype=np.uint8)
    for i, img in enumerate(images):
        r, c = divmod(i, cols)
        canvas[pad + r * (h + pad) : pad + r * (h + pad) + h, pad + c * (w + pad) : pad + c * (w + pad) + w] = img
    return canvas


def digit_grid(images: np.ndarray, title: str, n_rows: int | None = None):
    mosaic = tile(images, n_rows)
    fig, ax = plt.subplots(figsize=(6, 6 * mosaic.shape[0] / mosaic.shape[1]))
    ax.imshow(mosaic, cmap="gray", vmin=0, vmax=255, interpolation="nearest")
    ax.set_title(title)
    ax.axis("off")
    return fig


def _density_grid(density, center, half_width: float = 4.0, n: int = 200):
    import torch

    xs = np.linspace(center[0] - half_width, center[0] + half_width, n)
    ys = np.linspace(center[1] - half_width, center[1] + half_width, n)
    gx, gy = np.meshgrid(xs, ys)
    points = torch.from_numpy(np.stack([gx, gy], axis=-1))
    return gx, gy, density(points).numpy()


def scatter_over_density(samples: np.ndarray, density, center, title: str, extra_density=None, labels=("density", None)):
    """2-D samples over filled contours of ``density``; optional dashed contours of a second density."""
    fig, ax = plt.subplots(figsize=(6, 6))
    gx, gy, z = _density_grid(density, center)
    filled = ax.contourf(gx, gy, z, levels=12, cmap="Blues")
    fig.colorbar(filled, ax=ax, fraction=0.046, pad=0.04, label=labels[0])
    ax.scatter(samples[:, 0], samples[:, 1], s=6, c="black", alpha=0.5, label=f"{len(samples)} samples")
    if extra_density is not None:
        gx2, gy2, z2 = _density_grid(extra_density, center)
        ax.contour(gx2, gy2, z2, levels=6, colors="darkorange", linestyles="--", linewidths=1.2)
        ax.plot([], [], color="darkorange", linestyle="--", label=labels[1])
    ax.set_aspect("equal")
    ax.set_xlabel("$x_1$")
    ax.set_ylabel("$x_2$")
    ax.set_title(title)
    ax.legend(loc="upper left")
    return fig


def forward_process(
    images: list[np.ndarray], timesteps: list[int], sqrt_alpha_bars: list[float], title: str = "Forward process, eq. (27)"
):
    """One image at several timesteps of the forward process, side by side, on one shared grey scale
    (black = −3, white = +3: x_0 in [−1, 1] and N(0, 1) noise both fit), so brightness compares across t."""
    fig, axes = plt.subplots(1, len(images), figsize=(2.2 * len(images), 2.9), squeeze=False)
    shown = None
    for ax, img, t, s in zip(axes[0], images, timesteps, sqrt_alpha_bars):
        shown = ax.imshow(img, cmap="gray", vmin=-3, vmax=3, interpolation="nearest")
        ax.set_title(f"t = {t}\n$\\sqrt{{\\bar\\alpha_t}}$ = {s:.3f}", fontsize=9)
        ax.axis("off")
    fig.colorbar(shown, ax=list(axes[0]), fraction=0.02, pad=0.02, label="pixel value")
    fig.suptitle(title)
    return fig


def trajectory(frames: dict[int, np.ndarray], title: str):
    """Samples on their way back (rows) at several timesteps (columns, t falling left to right), on
    :func:`forward_process`'s grey scale (black = −3, white = +3), so the two figures read alike."""
    times = sorted(frames, reverse=True)
    n = len(frames[times[0]])
    fig, axes = plt.subplots(n, len(times), figsize=(1.25 * len(times) + 0.9, 1.25 * n + 0.8), squeeze=False)
    shown = None
    for col, t in enumerate(times):
        axes[0, col].set_title(f"t = {t}", fontsize=9)
        for row in range(n):
            shown = axes[row, col].imshow(frames[t][row], cmap="gray", vmin=-3, vmax=3, interpolation="nearest")
            axes[row, col].axis("off")
    fig.colorbar(shown, ax=list(axes.flat), fraction=0.03, pad=0.03, label="pixel value")
    fig.suptitle(title, fontsize=10)
    return fig


def single_image(img: np.ndarray, title: str):
    """One x_t on the same grey scale as :func:`forward_process`."""
    fig, ax = plt.subplots(figsize=(2.6, 2.8))
    ax.imshow(img, cmap="gray", vmin=-3, vmax=3, interpolation="nearest")
    ax.set_title(title, fontsize=9)
    ax.axis("off")
    return fig


def loss_curve(losses: list[float]):
    fig, ax = plt.subplots(figsize=(7, 4))
    epochs = np.arange(1, len(losses) + 1)
    ax.plot(epochs, losses, color="tab:blue", linewidth=1.5)
    ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel("mean noise-prediction loss, eq. (38)")
    ax.set_title(f"Training loss ({len(losses)} epochs, final {losses[-1]:.4f})")
    ax.grid(True, which="both", alpha=0.3)
    return fig


def gndm_convergence(history: list[float], optimum: float):
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.semilogy(np.arange(1, len(history) + 1), np.maximum(np.array(history) - optimum, 1e-16))
    ax.set_xlabel("gradient step")
    ax.set_ylabel("loss − loss at the sample mean")
    ax.set_title("GNDM: gradient descent on eq. (23)")
    ax.grid(True, which="both", alpha=0.3)
    return fig


def grid_row(grids: list[tuple[str, np.ndarray]], per_row: int = 6):
    """Small 4x4 sample grids side by side (wrapping after ``per_row``), each with its caption."""
    n_rows = -(-len(grids) // per_row)
    n_cols = min(per_row, len(grids))
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(2.4 * n_cols, 3.0 * n_rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, (caption, images) in zip(axes.flat, grids):
        ax.imshow(tile(images, 4), cmap="gray", vmin=0, vmax=255, interpolation="nearest")
        ax.set_title(caption, fontsize=7)
    return fig


def digit_histogram(counts, reference_shares, title: str):
    """Samples per predicted digit, as a share, beside the share of each digit in MNIST's test set."""
    counts = np.asarray(counts, dtype=float)
    shares = counts / max(1.0, counts.sum())
    digits = np.arange(len(counts))
    fig, ax = plt.subplots(figsize=(7, 3.6))
    ax.bar(digits - 0.2, shares, width=0.4, color="tab:blue", label=f"samples (n = {int(counts.sum())})")
    ax.bar(digits + 0.2, reference_shares, width=0.4, color="lightgray", edgecolor="gray", label="MNIST test images")
    ax.set_xticks(digits)
    ax.set_xlabel("digit predicted by the grader's classifier")
    ax.set_ylabel("share of images")
    ax.set_title(title)
    ax.legend()
    ax.grid(True, axis="y", alpha=0.3)
    return fig


def pairs(top: np.ndarray, bottom: np.ndarray, captions: list[str], title: str):
    """Images in two rows, each column a pair (top above bottom) with a caption."""
    fig, axes = plt.subplots(2, len(top), figsize=(1.3 * len(top), 3.1), squeeze=False)
    for k in range(len(top)):
        for row, img in ((0, top[k]), (1, bottom[k])):
            axes[row, k].imshow(img, cmap="gray", vmin=0, vmax=255, interpolation="nearest")
            axes[row, k].axis("off")
        axes[1, k].set_title(captions[k], fontsize=7, y=-0.28)
    fig.suptitle(title, fontsize=10)
    return fig
