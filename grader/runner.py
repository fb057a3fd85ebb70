"""Grading one submission folder against a rubric: every check runs, none can crash the others."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from grader.checks import CHECKS, Context, Outcome
from grader.safe import Rejected, Submission

RUBRIC = Path(__file__).with_name("rubric.yaml")
VISIBILITIES = ("visible", "hidden", "after_due_date", "after_published")


class RubricError(Exception):
    pass


@dataclass
class Result:
    task: str
    task_title: str
    check: str
    points: float
    max_points: float
    passed: bool
    required: bool
    visibility: str
    measured: str
    expected: str
    answer: str
    figures: list[str]

    @property
    def name(self) -> str:
        return f"{self.task}.{self.check}"


def load_rubric(path: str | Path | None = None) -> dict:
    path = Path(path) if path else RUBRIC
    try:
        rubric = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as err:
        raise RubricError(f"cannot read rubric {path}: {type(err).__name__}: {err}")
    try:
        float(rubric["statistics"]["z"])
        for key in ("max_file_bytes", "max_array_bytes", "max_image_pixels"):
            int(rubric["limits"][key])
        for task, spec in rubric["tasks"].items():
            for name, cfg in spec["checks"].items():
                if (task, name) not in CHECKS:
                    raise RubricError(f"rubric {path}: no check {task}.{name}")
                if cfg.get("visibility", "visible") not in VISIBILITIES:
                    raise RubricError(f"rubric {path}: {task}.{name} visibility must be one of {VISIBILITIES}")
                float(cfg["points"])
    except (KeyError, TypeError, ValueError, AttributeError) as err:
        raise RubricError(f"rubric {path} is malformed: {type(err).__name__}: {err}")
    return rubric


def grade(folder: str | Path, rubric: dict, recompute_fid=None) -> list[Result]:
    sub = Submission(Path(folder), rubric["limits"])
    ctx = Context(sub=sub, z=float(rubric["statistics"]["z"]), recompute_fid=recompute_fid)
    results = []
    for task, spec in rubric["tasks"].items():
        for name, cfg in spec["checks"].items():
            try:
                outcome = CHECKS[(task, name)](ctx, cfg)
            except Rejected as err:
                outcome = Outcome(False, str(err), "a usable file")
            except Exception as err:  # a check must never take the grader down; report it as a failure
                outcome = Outcome(False, f"could not check: {type(err).__name__}: {str(err).splitlines()[0][:120] if str(err) else ''}", "")
            max_points = float(cfg["points"])
            results.append(Result(
                task=task, task_title=spec.get("title", task), check=name,
                points=max_points if outcome.passed else 0.0, max_points=max_points, passed=outcome.passed,
                required=bool(cfg.get("required", True)), visibility=cfg.get("visibility", "visible"),
                measured=outcome.measured, expected=outcome.expected, answer=outcome.answer, figures=outcome.figures,
            ))
    return results


def all_required_pass(results: list[Result]) -> bool:
    return all(r.passed for r in results if r.required)
