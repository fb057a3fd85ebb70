"""What the function checks measure with: a function's output written as a mix of its inputs, and the names
of the quantities a measured number equals (the likely cause of a mismatch)."""

from __future__ import annotations

import math

import torch

from ddpm_lab.check import Mismatch


def coefficients(output: torch.Tensor, *inputs: torch.Tensor) -> tuple[list[float], float]:
    """The least-squares c with output ≈ Σ_k c_k · input_k, and the residual relative to the output's size
    (0 when the output is exactly such a mix)."""
    if output.shape != inputs[0].shape:
        raise Mismatch(f"returned shape {tuple(output.shape)}, expected {tuple(inputs[0].shape)} (the inputs' shape)")
    if not torch.isfinite(output).all():
        raise Mismatch("returned NaN or infinite values")
    a = torch.stack([x.detach().double().flatten() for x in inputs], 1)
    y = output.detach().double().flatten()
    solution = torch.linalg.lstsq(a, y[:, None]).solution[:, 0]
    residual = float((a @ solution - y).norm() / max(float(y.norm()), 1e-12))
    return solution.tolist(), residual


def per_image(output: torch.Tensor, inputs: tuple[torch.Tensor, ...], timesteps: tuple[int, ...], what: str) -> list[list[float]]:
    """Each image's output written as a mix of that image's inputs (one image per timestep): its coefficients.
    ``what`` names the output and its inputs for the line a mismatch prints ("x_t", "x_0 and the noise")."""
    name, of = what.split(" of ", 1)
    if not isinstance(output, torch.Tensor) or output.shape != inputs[0].shape:
        raise Mismatch(f"returned shape {tuple(getattr(output, 'shape', ()))} for {of} of shape {tuple(inputs[0].shape)}")
    measured = []
    for i, t in enumerate(timesteps):
        values, residual = coefficients(output[i], *(x[i] for x in inputs))
        if residual > 1e-4:
            raise Mismatch(
                f"{name} at t = {t} is not a mix of {of} handed in (residual {residual:.2g}): use them, draw no noise of "
                "your own, and do not clip"
            )
        measured.append(values)
    return measured


def worst(measured: list[list[float]], expected: list[tuple[float, ...]], relative: bool = False) -> int | None:
    """Of the images whose coefficients are not :func:`close` to the expected ones, the one that strays furthest
    (where a mistake shows most); None when every one is close."""
    scale = (lambda e: max(abs(e), 1e-12)) if relative else (lambda e: 1.0)
    off = [i for i, (m, e) in enumerate(zip(measured, expected)) if not all(close(a, b) for a, b in zip(m, e))]
    return max(off, key=lambda i: sum(abs(m - e) / scale(e) for m, e in zip(measured[i], expected[i])), default=None)


def close(a: float, b: float, tolerance: float = 1e-5) -> bool:
    return abs(a - b) <= tolerance * max(1.0, abs(b))


def named(value: float, candidates: dict[str, float], tolerance: float = 1e-6) -> str | None:
    """The first candidate's name whose value equals ``value`` (relative ``tolerance``), or None."""
    for name, candidate in candidates.items():
        if math.isfinite(candidate) and abs(value - candidate) <= tolerance * max(abs(candidate), 1e-8):
            return name
    return None


def line(scale: float, shift: float) -> str:
    """``2x − 1``."""
    return f"{scale:.4g}x {'−' if shift < 0 else '+'} {abs(shift):.4g}"


def mix(names: tuple[str, ...], values: list[float]) -> str:
    """``0.837·x_0 + 0.547·ε_0``."""
    text = " ".join(f"{'−' if v < 0 else '+'} {abs(v):.4g}·{n}" for v, n in zip(values, names))
    return text[2:] if text.startswith("+ ") else "−" + text[2:]


def to(error: float) -> str:
    """``to 3e-07``, or ``exactly`` for no error at all."""
    return "exactly" if error == 0 else f"to {error:.0e}"
