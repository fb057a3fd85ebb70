"""Fréchet Inception Distance (Task 7): the statistics of Inception features (:mod:`ddpm_lab.inception`) and
clean-fid's Fréchet distance between two sets of them (:func:`frechet_distance`: its formula, its trace term
through two symmetric eigendecompositions instead of ``sqrtm``), and the compact form the reference statistics
are stored in.
"""

from __future__ import annotations

import os

import numpy as np


def statistics(features: np.ndarray) -> dict[str, np.ndarray]:
    """Mean and covariance of Inception features, as clean-fid computes them."""
    return {"mu": features.mean(axis=0), "sigma": np.cov(features, rowvar=False), "n": np.array(len(features))}


def frechet_distance(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> float:
    """clean-fid's Fréchet distance, d² = ‖μ_a − μ_b‖² + tr Σ_a + tr Σ_b − 2 tr √(Σ_a Σ_b), with its trace term
    computed exactly but faster than clean-fid's ``scipy.linalg.sqrtm(Σ_a Σ_b)``: Σ_a Σ_b is similar to the
    symmetric PSD matrix S = Σ_a^½ Σ_b Σ_a^½, so tr √(Σ_a Σ_b) = Σ_i √λ_i(S), two symmetric eigendecompositions
    of 2048 × 2048 (about 5× faster on a CPU, 4 s against 21 s on one core). It agrees with clean-fid's
    ``frechet_distance`` to 1e-7 relative on full-rank statistics (tests/test_fid.py), and is the more accurate of the
    two where a covariance is singular (fewer images than 2048 features), where ``sqrtm`` warns."""
    from scipy import linalg

    sigma_a, sigma_b = np.asarray(a["sigma"], np.float64), np.asarray(b["sigma"], np.float64)
    diff = np.asarray(a["mu"], np.float64) - np.asarray(b["mu"], np.float64)
    values, vectors = linalg.eigh(sigma_a)
    root_a = (vectors * np.sqrt(np.clip(values, 0, None))) @ vectors.T  # Σ_a^½, Σ_a being PSD
    similar = root_a @ sigma_b @ root_a
    trace_root = np.sqrt(np.clip(linalg.eigvalsh((similar + similar.T) / 2), 0, None)).sum()
    return float(diff @ diff + np.trace(sigma_a) + np.trace(sigma_b) - 2 * trace_root)


# Storing reference statistics compactly ------------------------------------------------------------------
# Σ is symmetric, so only its upper triangle is stored, in ``dtype``; μ stays float64 (2048 numbers). What the
# rounding costs is measured where the reference statistics are made.


def compact(stats: dict[str, np.ndarray], dtype: str) -> dict[str, np.ndarray]:
    """``statistics()`` as stored: μ (float64), the upper triangle of Σ in ``dtype``, n."""
    rows, cols = np.triu_indices(len(stats["mu"]))
    return {
        "mu": np.asarray(stats["mu"], np.float64),
        "sigma_upper": stats["sigma"][rows, cols].astype(dtype),
        "n": np.asarray(stats["n"]),
    }


def expand(stored: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The inverse of :func:`compact` (full statistics pass through unchanged), as float64."""
    if "sigma" in stored:
        return {"mu": np.asarray(stored["mu"], np.float64), "sigma": np.asarray(stored["sigma"], np.float64), "n": stored["n"]}
    mu = np.asarray(stored["mu"], np.float64)
    rows, cols = np.triu_indices(len(mu))
    if stored["sigma_upper"].shape != rows.shape:
        raise ValueError(f"sigma_upper holds {stored['sigma_upper'].shape[0]} values, a {len(mu)}-d Σ needs {len(rows)}")
    sigma = np.zeros((len(mu), len(mu)))
    sigma[rows, cols] = stored["sigma_upper"]
    sigma[cols, rows] = stored["sigma_upper"]
    return {"mu": mu, "sigma": sigma, "n": stored["n"]}


def load_statistics(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Statistics from an .npz written by ``io.write_npz(**compact(...))`` or ``(**statistics(...))``."""
    with np.load(path, allow_pickle=False) as f:
        return expand({k: f[k] for k in f.files})
