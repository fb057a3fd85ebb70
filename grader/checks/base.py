"""What every check shares: the grading's :class:`Context`, the registry of checks with their typed settings, and
the readers of the files several checks use, each read once per grading.

A check is a function of the context and its settings, registered with the dataclass of its settings::

    LossFalls = check_settings("LossFalls", max_ratio=("number", {"low": 0, "low_open": True}))

    @check("task6", "loss_falls", LossFalls)
    def loss_falls(ctx: Context, cfg: LossFalls) -> Outcome: ...

The rubric's entry of each check is built into its settings when the rubric loads (:func:`settings_problems`),
so a misspelt or missing threshold stops grading before the first submission.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from ddpm_lab import artifacts
from ddpm_lab.artifacts import FID_SAMPLES, FORWARD, GRID_SAMPLES, SUBSET, Archive  # noqa: F401  (for the task modules)
from ddpm_lab.check.graded import FAILED, NOT_RUN, PASSED, Outcome  # noqa: F401  (the grader's names for them)
from ddpm_lab.check.settings import CheckSettings, check_settings  # noqa: F401  (for the task modules)
from ddpm_lab.errors import ConfigError
from ddpm_lab.rules import build
from grader.identity import NOBODY, Identity
from grader.references import References
from grader.safe import Submission, declared


@dataclass
class Context:
    sub: Submission
    z: float
    refs: References
    identity: Identity = NOBODY  # whose run the grader was told this is (grader/identity.py)
    draw_seed: int = 0  # the grader's own random picks of this grading (grader/checks/regenerate.py)
    settings: dict = field(default_factory=dict)  # (task, check) → its settings, for checks that read another's
    memo: dict = field(default_factory=dict)  # measurements shared by several checks of one submission

    def once(self, key: str, compute: Callable):
        if key not in self.memo:
            try:
                self.memo[key] = (True, compute())
            except Exception as err:  # the same failure for every check that needs it
                self.memo[key] = (False, err)
        ok, value = self.memo[key]
        if not ok:
            raise value
        return value


@dataclass(frozen=True)
class Registered:
    run: Callable[[Context, CheckSettings], Outcome]
    settings: type  # a dataclass made by check_settings


CHECKS: dict[tuple[str, str], Registered] = {}


def check(task: str, name: str, settings: type):
    """Registers the check ``task.name`` and the dataclass its rubric entry is built into."""

    def register(fn):
        CHECKS[(task, name)] = Registered(fn, settings)
        return fn

    return register


def settings_problems(rubric: dict) -> tuple[dict[tuple[str, str], CheckSettings], list[str]]:
    """Every check's settings built from the rubric, and every problem, one each, as
    ``tasks.task6.checks.loss_falls.max_ratio: missing``."""
    built, problems = {}, []
    for task, spec in rubric["tasks"].items():
        for name, entry in spec["checks"].items():
            where = f"tasks.{task}.checks.{name}"
            if (task, name) not in CHECKS:
                known = ", ".join(f"{t}.{n}" for t, n in CHECKS if t == task) or "none"
                problems.append(f"{where}: no such check (the checks of {task}: {known})")
                continue
            try:
                built[(task, name)] = build(CHECKS[(task, name)].settings, entry)
            except ConfigError as err:
                problems += [f"{where}{'.' + key if key else ''}: {why}" for key, why in err.problems.items()]
    return built, problems


# The files several checks read -----------------------------------------------------------------------------

# (their paths and contents are declared in ddpm_lab/artifacts.py, which the stages write through)


def gaussian_samples(ctx: Context) -> np.ndarray:
    return np.stack(list(ctx.sub.table(artifacts.GAUSSIAN_SAMPLES).values()), axis=1)


def gndm_data(ctx: Context) -> np.ndarray:
    return np.stack(list(ctx.sub.table(artifacts.GNDM_DATA).values()), axis=1)


def subset_arrays(ctx: Context) -> dict[str, np.ndarray]:
    return ctx.once("subset", lambda: ctx.sub.npz(SUBSET.path))


def subset_images(ctx: Context) -> np.ndarray:
    """The subset's uint8 images, read once per grading (Task 3, the seed's draws and the weights' checks use them)."""
    return declared(subset_arrays(ctx), SUBSET, "images", size=ctx.refs.image_size)


def forward_arrays(ctx: Context) -> dict[str, np.ndarray]:
    return ctx.once("forward", lambda: ctx.sub.npz(FORWARD.path))


def samples(ctx: Context, archive: Archive) -> np.ndarray:
    """The uint8 images of ``archive`` (the grid's or the FID's samples), read once per grading."""
    load = lambda: declared(ctx.sub.npz(archive.path), archive, "images", size=ctx.refs.image_size)  # noqa: E731
    return ctx.once(f"samples:{archive.path}", load)


def loss_curve(ctx: Context) -> tuple[np.ndarray, np.ndarray]:
    cols = ctx.sub.table(artifacts.LOSS)
    return cols["epoch"], cols["loss"]


def digit_measures(ctx: Context, archive: Archive):
    from grader import classifier

    confidence = ctx.refs.rubric["digits"]["confidence"]
    measure = lambda: classifier.measure(ctx.refs.classifier, samples(ctx, archive), confidence)  # noqa: E731
    return ctx.once(f"digits:{archive.path}", measure)


def recomputed_fid(ctx: Context) -> float | None:
    if not ctx.refs.fid_enabled:
        return None
    return ctx.once("fid", lambda: ctx.refs.fid(samples(ctx, FID_SAMPLES)))
