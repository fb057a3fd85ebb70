"""The grader's checks of Tasks 1–4, run on the ``reports/`` that ``dvc repro`` wrote, before hand-in.

The rules and thresholds are the grader's own (:mod:`.graded`, with the settings of the rubric: the edition's
copy beside this file, written by ``python -m grader assign``, else the project's ``grader/rubric.yaml``). A
report not written yet, or MNIST not fetched yet for Task 3, makes its check "not run", with what to run first.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from functools import cache
from pathlib import Path

import numpy as np
import yaml

from ddpm_lab import artifacts
from ddpm_lab.check import PACKAGE, Check, Mismatch, NotRun, graded
from ddpm_lab.check.settings import TASKS_1_TO_4, CheckSettings
from ddpm_lab.rules import build

RUBRICS = (Path(__file__).with_name("rubric.yaml"), PACKAGE.parent / "grader" / "rubric.yaml")
EQUATIONS = {"learned_mean": "eq. (23)", "pure_noise_at_T": "eq. (27)", "forward_marginals": "eq. (27)"}


def load_rubric() -> dict | None:
    path = next((p for p in RUBRICS if p.is_file()), None)
    return yaml.safe_load(path.read_text()) if path else None


class Reports:
    """The student's own reports/ (trusted: this is their machine), read as the grader reads a submission."""

    def __init__(self, folder: Path, mnist_dir: Path, rubric: dict) -> None:
        self.folder, self.mnist_dir, self.rubric = Path(folder), Path(mnist_dir), rubric

    def path(self, relative: str) -> Path:
        path = self.folder / relative
        if not path.is_file():
            stage = relative.split("/")[0]
            raise NotRun(f"{path} is not written yet: `dvc repro {stage}` writes it")
        return path

    def table(self, table: artifacts.Table) -> np.ndarray:
        """The declared columns of ``table``, one row per line."""
        with self.path(table.path).open(newline="") as f:
            rows = list(csv.DictReader(f))
        try:
            return np.array([[float(row[n]) for n in table.columns] for row in rows])
        except (KeyError, TypeError, ValueError) as err:
            raise Mismatch(f"{table.path}: not the columns {', '.join(table.columns)} of numbers ({err})") from None

    def arrays(self, archive: artifacts.Archive) -> dict[str, np.ndarray]:
        """The arrays of ``archive``, checked against their declaration (the grader refuses others)."""
        with np.load(self.path(archive.path), allow_pickle=False) as f:
            arrays = {name: f[name] for name in f.files}
        size = int(self.rubric["lab_settings"]["image_size"])
        problems = artifacts.array_problems(archive, arrays, size=size)
        if problems:
            raise Mismatch(problems[0])
        return arrays

    def metric(self, stage: str, key: str):
        metrics = artifacts.metrics(stage)
        return json.loads(self.path(metrics.path).read_text())[metrics.key(key)]

    def nearest(self) -> tuple[Callable, np.ndarray]:
        """The search for an image among MNIST's training images, prepared as the grader prepares them, and their
        labels."""
        pool, labels = mnist_training_pool(self.mnist_dir.resolve(), int(self.rubric["lab_settings"]["image_size"]))
        return (lambda found: graded.nearest(found, *pool)), labels


@cache
def mnist_training_pool(folder: Path, size: int) -> tuple[tuple[np.ndarray, np.ndarray], np.ndarray]:
    """MNIST's training images as :func:`graded.nearest` searches them, and their labels: made once a process."""
    from ddpm_lab.data import MnistUnavailable, fetch_mnist, prepared_split

    try:
        fetch_mnist(folder, sources=("local",))  # offline: only checks the files already there
    except MnistUnavailable:
        raise NotRun(f"MNIST's files are not in {folder} yet: `dvc repro mnist_subset` fetches them") from None
    images, labels = prepared_split(folder, "train", size)
    return graded.pixel_matrix(images), labels


def lab_schedule(rubric: dict):
    from ddpm_lab.schedule import NoiseSchedule

    s = rubric["lab_settings"]["schedule"]
    return NoiseSchedule.linear(s["alpha_start"], s["alpha_end"], s["steps"])


def forward_pair(r: Reports, t: int) -> tuple[np.ndarray, np.ndarray]:
    arrays = r.arrays(artifacts.FORWARD)
    if f"t{t}" not in arrays:
        raise Mismatch(f"{artifacts.FORWARD.path} holds {sorted(arrays)}, not t{t}")
    return arrays["x0"].astype(np.float64), arrays[f"t{t}"].astype(np.float64)


def outcome(r: Reports, task: str, name: str, cfg: CheckSettings) -> graded.Outcome:
    z = float(r.rubric["statistics"]["z"])
    if name == "samples_moments":
        return graded.samples_moments(r.table(artifacts.GAUSSIAN_SAMPLES), cfg, z)
    if name == "data_distribution":
        return graded.data_distribution(r.table(artifacts.GNDM_DATA), cfg, z)
    if name == "learned_mean":
        learned = np.array(r.metric("gndm_fit", "learned_mean"), dtype=np.float64)
        return graded.learned_mean(learned, r.table(artifacts.GNDM_DATA), cfg)
    if name == "balanced_subset":
        arrays = r.arrays(artifacts.SUBSET)
        search, labels = r.nearest()
        return graded.balanced_subset(arrays["images"], arrays["labels"], cfg, search, labels)
    if name == "value_range":
        x0 = r.arrays(artifacts.FORWARD)["x0"]
        return graded.value_range(x0, cfg, r.nearest()[0])
    schedule = lab_schedule(r.rubric)
    root = lambda t: float(schedule.alpha_bars[t].sqrt())  # noqa: E731
    if name == "pure_noise_at_T":
        t = schedule.steps
        return graded.pure_noise_at_T(*forward_pair(r, t), t, root(t), z)
    if name == "forward_marginals":
        noisy = {t: forward_pair(r, t) for t in cfg.timesteps}
        return graded.forward_marginals(noisy, {t: root(t) for t in noisy}, z)
    raise KeyError(f"{task}.{name}")


def report_check(r: Reports, task: str, name: str, entry: dict) -> Check:
    """The graded check ``task.name`` on the student's reports, with the settings of its rubric ``entry`` (typed as
    the grader types them: the edition's copy is written from the grader's checked rubric)."""
    cfg = build(TASKS_1_TO_4[(task, name)], entry)

    def run() -> str:
        try:
            result = outcome(r, task, name, cfg)
        except graded.Rejected as err:
            raise Mismatch(str(err)) from None
        if result.status == graded.PASSED:
            return f"{result.measured} (the grader expects {result.expected})"
        hint = " ".join(cfg.hint.split())
        raise Mismatch(
            f"measured {result.measured}; the grader expects {result.expected}" + (f"; usual cause: {hint}" if hint else "")
        )

    points = f"{cfg.points:g} point{'s' if cfg.points != 1 else ''}"
    return Check(int(task.removeprefix("task")), EQUATIONS.get(name, ""), f"graded check {name} ({points}, on {r.folder}/)", run)


GRADED_HERE = ("task1", "task2", "task3", "task4")  # the graded checks that need no trained model and no grader file


def report_checks(folder: str | Path = "reports", mnist_dir: str | Path = "data/raw/mnist") -> list[Check]:
    rubric = load_rubric()
    if rubric is None:
        return []
    r = Reports(Path(folder), Path(mnist_dir), rubric)
    return [
        report_check(r, task, name, cfg)
        for task, spec in rubric["tasks"].items()
        if task in GRADED_HERE
        for name, cfg in spec["checks"].items()
    ]
