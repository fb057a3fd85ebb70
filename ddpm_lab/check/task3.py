"""Task 3: a class-balanced subset of MNIST's training images, and their normalization to [−1, 1]."""

from __future__ import annotations

import numpy as np
import torch

from ddpm_lab.check import Check, Mismatch
from ddpm_lab.check.measure import coefficients, line, named


def labels() -> np.ndarray:
    """Digits of unequal counts (40 of 0, 45 of 1, …), shuffled, as MNIST's are."""
    digits = np.concatenate([np.full(40 + 5 * d, d) for d in range(10)])
    return np.random.default_rng(7).permutation(digits).astype(np.uint8)


def check_subset() -> str:
    from ddpm_lab.data import balanced_indices

    y, total = labels(), 100
    idx = np.asarray(balanced_indices(y, total, 1))
    if idx.dtype.kind not in "iu":
        raise Mismatch(f"returned {idx.dtype} values, expected integer indices into labels")
    if idx.ndim != 1 or len(idx) != total:
        cause = " (total of each digit, where total // 10 belongs?)" if idx.size == 10 * total else ""
        raise Mismatch(f"returned {idx.size} indices in shape {idx.shape}, expected {total} in one array{cause}")
    if idx.min() < 0 or idx.max() >= len(y):
        raise Mismatch(f"indices run from {idx.min()} to {idx.max()}, outside 0..{len(y) - 1}")
    if len(np.unique(idx)) != total:
        raise Mismatch(f"{total - len(np.unique(idx))} indices repeat: drawn with replacement? (rng.choice(..., replace=False))")
    counts = np.bincount(y[idx], minlength=10)
    if not (counts == total // 10).all():
        cause = (
            "indices into each digit's own list, not into labels? (np.flatnonzero(labels == d) gives the latter)"
            if idx.max() < 40 + 5 * 9
            else "a random draw over all the images, not one per digit?"
        )
        raise Mismatch(f"per digit 0-9 the subset holds {counts.tolist()}, the lab asks for {total // 10} of each: {cause}")
    if not (np.diff(idx) > 0).all():
        raise Mismatch("the indices are right but not sorted (np.sort), as the docstring asks")
    if not np.array_equal(idx, np.asarray(balanced_indices(y, total, 1))):
        raise Mismatch("the same seed gave another subset: draw with np.random.default_rng(seed), not a global generator")
    if np.array_equal(idx, np.asarray(balanced_indices(y, total, 2))):
        raise Mismatch("seeds 1 and 2 gave the same subset: the draw must be random, from np.random.default_rng(seed)")
    rest = np.asarray(balanced_indices(y, total, 1, exclude=idx))
    if set(rest.tolist()) & set(idx.tolist()):
        raise Mismatch(f"{len(set(rest.tolist()) & set(idx.tolist()))} of the excluded indices were drawn: leave out `exclude`")
    return f"{total // 10} distinct images of each digit, sorted, the same for a seed and other for another, none excluded"


def check_range() -> str:
    from ddpm_lab.data import to_model_range

    unit = torch.linspace(0, 1, 11, dtype=torch.float32).reshape(1, 1, 1, 11)
    kept = unit.clone()
    out = to_model_range(unit)
    if not torch.equal(unit, kept):
        raise Mismatch("changed its input in place (mul_/sub_ or out=): return a new tensor, the stage still uses [0, 1]")
    if not isinstance(out, torch.Tensor) or out.dtype != torch.float32:
        raise Mismatch(f"returned {getattr(out, 'dtype', type(out).__name__)}, expected float32 like its input")
    (scale, shift), residual = coefficients(out, unit, torch.ones_like(unit))
    values = ", ".join(f"{x} ↦ {float(out.flatten()[i]):.4g}".replace("-", "−") for x, i in (("0", 0), ("½", 5), ("1", -1)))
    if residual > 1e-6:
        raise Mismatch(f"{values}: not a straight line of the pixel value (the lab's map is 2x − 1)")
    if abs(scale - 2) > 1e-6 or abs(shift + 1) > 1e-6:
        cause = named(
            scale, {"x / 127.5 − 1 expects [0, 255], but the pixels are in [0, 1] after the resize": 1 / 127.5}, 1e-4
        )  # float32: to 1e-4
        cause = cause or {
            (2.0, 0.0): "2x without the − 1",
            (1.0, -0.5): "x − ½ without the factor 2",
            (1.0, 0.0): "the input returned as it is",
        }.get((round(scale, 6), round(shift, 6)))
        raise Mismatch(
            f"{values} ({line(scale, shift)}), the lab's range is 0 ↦ −1, ½ ↦ 0, 1 ↦ 1 (2x − 1)"
            + (f": {cause}?" if cause else "")
        )
    return "0 ↦ −1, ½ ↦ 0, 1 ↦ 1, linearly; its input left as it was"


def checks() -> list[Check]:
    return [Check(3, "", "balanced_indices", check_subset), Check(3, "", "to_model_range", check_range)]
