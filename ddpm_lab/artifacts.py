"""The contract between the pipeline and whoever reads its ``reports/``: every file a stage writes there, declared
once, with what it holds.

- :class:`Table`: a CSV file, its header the declared columns, one number per cell.
- :class:`Archive`: a ``.npz``, its arrays by name with dtype and shape. A shape names its axes (``"n"`` images,
  ``"size"`` pixels, ``"rows"`` of a grid); an axis named twice has one length, an integer is that length.
  A name ending in ``*`` stands for several arrays (``t*``: ``t0``, ``t100``, ...).
- :class:`Metrics`: a stage's ``metrics.json``, its top-level keys.
- :class:`Figure` and :class:`Blob`: a PNG, and bytes of another format (the safetensors weights).

The stages write through :func:`write`, which refuses content that breaks the declaration. The grader and the
student's check read by the same declarations (``grader/safe.py``, ``ddpm_lab/check/reports.py``), so a renamed
file, column, array or key is renamed for all of them at once. Paths are relative to the reports folder.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ddpm_lab import io


@dataclass(frozen=True)
class Array:
    dtype: str
    shape: tuple[str | int, ...]

    def expected_shape(self, **lengths: int) -> tuple[int | None, ...]:
        """The shape with the named axes given in ``lengths`` filled in, the others None (any length)."""
        return tuple(lengths.get(axis) if isinstance(axis, str) else axis for axis in self.shape)


@dataclass(frozen=True)
class Table:
    path: str
    columns: tuple[str, ...]


@dataclass(frozen=True)
class Archive:
    path: str
    arrays: dict[str, Array]

    def spec(self, name: str) -> Array:
        """The declaration that array ``name`` falls under (``t100`` under ``t*``)."""
        for pattern, spec in self.arrays.items():
            if fnmatch.fnmatchcase(name, pattern):
                return spec
        raise KeyError(f"{self.path} declares no array {name!r} (its arrays: {', '.join(self.arrays)})")


@dataclass(frozen=True)
class Metrics:
    stage: str
    keys: tuple[str, ...]

    @property
    def path(self) -> str:
        return f"{self.stage}/metrics.json"

    def key(self, name: str) -> str:
        """``name``, if the stage writes it: readers name the keys they read through this, so a key renamed here
        fails at their import, not at grading."""
        if name not in self.keys:
            raise KeyError(f"{self.path} declares no key {name!r}")
        return name


@dataclass(frozen=True)
class Figure:
    path: str

    def at(self, **fields: Any) -> Figure:
        """One of a family of figures: ``FORWARD_FRAME.at(t=100)`` is ``forward_demo/t100.png``."""
        return Figure(self.path.format(**fields))


@dataclass(frozen=True)
class Blob:
    path: str


Artifact = Table | Archive | Metrics | Figure | Blob

# Task 1
GAUSSIAN_SAMPLES = Table("gaussian_demo/samples.csv", ("x1", "x2"))
GAUSSIAN_SCATTER = Figure("gaussian_demo/scatter.png")
# Task 2
GNDM_DATA = Table("gndm_fit/data.csv", ("x1", "x2"))
GNDM_FIT = Figure("gndm_fit/fit.png")
GNDM_CONVERGENCE = Figure("gndm_fit/convergence.png")
# Task 3: the subset as uint8 pixels (the data/ copy in [-1, 1] is the pipeline's own)
SUBSET = Archive("mnist_subset/subset.npz", {"images": Array("uint8", ("n", "size", "size")), "labels": Array("uint8", ("n",))})
SUBSET_PREVIEW = Figure("mnist_subset/preview.png")
# Task 4: one training image x0 in [-1, 1] and x_t of eq. (27) at each shown t
FORWARD = Archive("forward_demo/noisy.npz", {"x0": Array("float32", ("size", "size")), "t*": Array("float32", ("size", "size"))})
FORWARD_FIGURE = Figure("forward_demo/forward.png")
FORWARD_FRAME = Figure("forward_demo/t{t}.png")
# Task 6
LOSS = Table("train/loss.csv", ("epoch", "loss"))
LOSS_FIGURE = Figure("train/loss.png")
WEIGHTS = Blob("sample_grid/weights.safetensors")
GRID_SAMPLES = Archive("sample_grid/samples.npz", {"images": Array("uint8", ("n", "size", "size"))})
GRID_FIGURE = Figure("sample_grid/grid.png")
TRAJECTORY = Archive("sample_grid/trajectory.npz", {"t*": Array("float32", ("rows", "size", "size"))})
TRAJECTORY_FIGURE = Figure("sample_grid/trajectory.png")
# Task 7
FID_SAMPLES = Archive("fid/samples.npz", {"images": Array("uint8", ("n", "size", "size"))})

METRICS = {
    m.stage: m
    for m in (
        Metrics("gaussian_demo", ("n_samples", "sample_mean", "sample_covariance", "seed", "seconds")),
        Metrics(
            "gndm_fit",
            (
                "n_samples",
                "true_mean",
                "learned_mean",
                "closed_form_mean",
                "learned_minus_closed_form",
                "distance_to_true_mean",
                "final_loss",
                "steps",
                "seed",
                "seconds",
            ),
        ),
        Metrics(
            "mnist_subset",
            (
                "n_images",
                "class_counts",
                "image_size",
                "value_range",
                "min",
                "max",
                "mean_pixel_uint8",
                "n_reference",
                "n_floor",
                "seed",
                "seconds",
            ),
        ),
        Metrics("forward_demo", ("steps", "alpha_bar_T", "sqrt_alpha_bar_T", "t", "measured", "theoretical", "seed", "seconds")),
        Metrics(
            "train",
            (
                "epochs",
                "final_loss",
                "first_tenth_loss",
                "last_tenth_loss",
                "parameters",
                "device",
                "train_seconds",
                "resumed_from_epoch",
                "images_per_second",
                "seed",
                "seconds",
            ),
        ),
        Metrics(
            "sample_grid",
            ("n_samples", "n_rows", "image_size", "mean_pixel", "trajectory_times", "sampler", "noise_seed", "seed", "seconds"),
        ),
        Metrics("fid_floor", ("floor_fid", "n_floor", "n_reference", "inception_runtime", "seconds")),
        Metrics(
            "fid",
            (
                "fid",
                "floor",
                "fid_over_floor",
                "n_generated",
                "n_reference",
                "n_floor",
                "mean_pixel",
                "mean_pixel_training",
                "inception",
                "inception_runtime",
                "sampler",
                "noise_seed",
                "seed",
                "seconds",
            ),
        ),
        # BEGIN SOLUTION  (the grader's own stages)
        Metrics(
            "fid_reference",
            (
                "n_reference",
                "file",
                "sha256",
                "sigma_dtype",
                "sigma_max_abs_rounding",
                "fid_full_vs_stored",
                "fid_of_first_2000_vs_full",
                "fid_of_first_2000_vs_stored",
                "inception",
                "inception_runtime",
                "seconds",
            ),
        ),
        Metrics(
            "digit_classifier",
            (
                "file",
                "sha256",
                "n_train",
                "test_accuracy",
                "n_test",
                "test_accuracy_per_digit",
                "test_called_not_a_digit",
                "loss_per_epoch",
                "parameters",
                "seed",
                "seconds",
            ),
        ),
        # END SOLUTION
    )
}

DECLARED: tuple[Artifact, ...] = tuple(v for v in globals().values() if isinstance(v, Artifact)) + tuple(METRICS.values())


def metrics(stage: str) -> Metrics:
    return METRICS[stage]


# Checking content against a declaration ----------------------------------------------------------------------


def array_problems(archive: Archive, arrays: dict[str, np.ndarray], **lengths: int) -> list[str]:
    """What in ``arrays`` breaks ``archive``'s declaration (none: an empty list). ``lengths`` fixes named axes."""
    problems, bound = [], dict(lengths)
    for pattern in archive.arrays:
        if not any(fnmatch.fnmatchcase(name, pattern) for name in arrays):
            problems.append(f"{archive.path}: no array {pattern!r}")
    for name, value in arrays.items():
        try:
            spec = archive.spec(name)
        except KeyError as err:
            problems.append(err.args[0])
            continue
        value = np.asarray(value)
        if value.dtype != np.dtype(spec.dtype):
            problems.append(f"{archive.path} {name}: dtype {value.dtype}, declared {spec.dtype}")
        if value.ndim != len(spec.shape):
            problems.append(f"{archive.path} {name}: shape {value.shape}, declared {spec.shape}")
            continue
        for axis, length in zip(spec.shape, value.shape):
            want = bound.setdefault(axis, length) if isinstance(axis, str) else axis
            if want != length:
                problems.append(f"{archive.path} {name}: shape {value.shape}, declared {spec.shape} with {axis} = {want}")
    return problems


def table_problems(table: Table, columns: dict[str, Any]) -> list[str]:
    problems = []
    if tuple(columns) != table.columns:
        problems.append(f"{table.path}: columns {tuple(columns)}, declared {table.columns}")
    if len({len(v) for v in columns.values()}) > 1:
        problems.append(f"{table.path}: columns of lengths {[len(v) for v in columns.values()]}")
    return problems


def metrics_problems(metrics: Metrics, values: dict) -> list[str]:
    missing = [k for k in metrics.keys if k not in values]
    extra = [k for k in values if k not in metrics.keys]
    return [f"{metrics.path}: {what} {keys}" for what, keys in (("missing keys", missing), ("undeclared keys", extra)) if keys]


# Writing ---------------------------------------------------------------------------------------------------


def write(root: str | Path, artifact: Artifact, content: Any, **lengths: int) -> Path:
    """Writes ``content`` to ``root / artifact.path`` atomically (``ddpm_lab.io``), after checking it against the
    declaration; a mismatch is the pipeline's own bug, so it raises ValueError and nothing is written.

    Content by kind: a Table takes ``{column: values}``, an Archive ``{name: array}``, Metrics a dict, a Figure a
    matplotlib figure, a Blob bytes."""
    path = Path(root) / artifact.path
    if isinstance(artifact, Table):
        columns = {name: np.asarray(values).tolist() for name, values in content.items()}
        _refuse(table_problems(artifact, columns))
        rows = zip(*columns.values())
        io.write_text(path, ",".join(columns) + "\n" + "".join(",".join(repr(v) for v in row) + "\n" for row in rows))
    elif isinstance(artifact, Archive):
        _refuse(array_problems(artifact, content, **lengths))
        io.write_npz(path, **content)
    elif isinstance(artifact, Metrics):
        _refuse(metrics_problems(artifact, content))
        io.write_json(path, content)
    elif isinstance(artifact, Figure):
        io.save_figure(content, path)
    elif isinstance(artifact, Blob):
        io.write_bytes(path, content)
    else:
        raise TypeError(f"not an artifact: {artifact!r}")
    return path


def _refuse(problems: list[str]) -> None:
    if problems:
        raise ValueError("; ".join(problems))
