"""Grading one submission folder against a rubric: every check runs, none can crash the others."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from grader.checks import CHECKS, FAILED, NOT_RUN, PASSED, Context, Outcome, settings_problems
from grader.identity import NOBODY, Identity
from grader.references import References
from grader.safe import Rejected, Submission, one_line

RUBRIC = Path(__file__).with_name("rubric.yaml")


class RubricError(Exception):
    pass


@dataclass
class Result:
    task: str
    task_title: str
    check: str
    points: float
    max_points: float
    status: str  # passed, failed, not run
    required: bool
    visibility: str
    measured: str
    expected: str
    hint: str  # what usually causes a failure, shown with every failed check
    answer: str
    figures: list[str]

    @property
    def name(self) -> str:
        return f"{self.task}.{self.check}"

    @property
    def passed(self) -> bool:
        return self.status == PASSED

    def feedback(self) -> str:
        """The same lines everywhere: terminal, report.md, report.ipynb and results.json."""
        lines = [f"measured: {self.measured}", f"expected: {self.expected}"]
        if self.status == FAILED and self.hint:
            lines.append(f"usual cause: {self.hint}")
        if self.status == NOT_RUN:
            lines.append("not run: no points given or withheld for it yet")
        return "\n".join(lines)


def load_rubric(path: str | Path | None = None) -> dict:
    """The rubric at ``path`` (default: the shipped one), every part of it checked before any grading: its
    sections, and each check's entry built into that check's typed settings. Every problem is named at once, on
    one line (:class:`RubricError`), so an instructor's typo stops the grader before the first submission."""
    path = Path(path) if path else RUBRIC
    try:
        rubric = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as err:
        raise RubricError(f"cannot read rubric {path}: {type(err).__name__}: {one_line(err)}") from None
    try:
        float(rubric["statistics"]["z"])
        for key in ("max_file_bytes", "max_array_bytes", "max_image_pixels", "max_submission_bytes", "max_submission_files"):
            int(rubric["limits"][key])
        for key in ("steps", "alpha_start", "alpha_end"):
            float(rubric["lab_settings"]["schedule"][key])
        int(rubric["lab_settings"]["image_size"])
        for name in ("fid_statistics", "digit_classifier"):
            str(rubric["references"][name]["file"]), str(rubric["references"][name]["recorded_in"])
        float(rubric["digits"]["confidence"])
        for key in ("identical_share", "near_distance", "near_share", "loss_relative_tolerance", "weights_distance"):
            float(rubric["copies"][key])
        _, problems = settings_problems(rubric)
    except (KeyError, TypeError, ValueError, AttributeError) as err:
        raise RubricError(f"rubric {path} is malformed: {type(err).__name__}: {err}") from None
    if problems:
        raise RubricError(f"rubric {path}: " + "; ".join(problems))
    return rubric


def grade(folder: str | Path, rubric: dict, refs: References, identity: Identity = NOBODY) -> list[Result]:
    return grade_and_draw(folder, rubric, refs, identity=identity)[0]


def grade_and_draw(
    folder: str | Path, rubric: dict, refs: References, figures: Path | None = None, identity: Identity = NOBODY
) -> tuple[list[Result], dict[str, list[Path]]]:
    """Every check's result and, when ``figures`` is a folder, the figures the grader drew from the arrays
    (per task). ``identity``: whose run the grader was told this is (no one: ``run.seed`` is not run)."""
    settings, problems = settings_problems(rubric)
    if problems:  # load_rubric names them; a rubric built in code is checked here too
        raise RubricError("; ".join(problems))
    sub = Submission(Path(folder), rubric["limits"])
    z = float(rubric["statistics"]["z"])
    ctx = Context(sub=sub, z=z, refs=refs, identity=identity, draw_seed=refs.next_draw_seed(), settings=settings)
    results = []
    for task, spec in rubric["tasks"].items():
        for name in spec["checks"]:
            cfg = settings[(task, name)]
            try:
                outcome = CHECKS[(task, name)].run(ctx, cfg)
            except Rejected as err:
                outcome = Outcome(FAILED, str(err), "a usable file")
            except Exception as err:  # a check must never take the grader down; report it as a failure
                outcome = Outcome(FAILED, f"could not check: {one_line(err)}", "")
            max_points = float(cfg.points)
            outcome.figures = [f for f in outcome.figures if _readable_png(sub, f)]
            results.append(
                Result(
                    task=task,
                    task_title=spec.get("title", task),
                    check=name,
                    points=max_points if outcome.status == PASSED else 0.0,
                    max_points=max_points,
                    status=outcome.status,
                    required=cfg.required,
                    visibility=cfg.visibility,
                    measured=outcome.measured,
                    expected=outcome.expected,
                    hint=" ".join(cfg.hint.split()),
                    answer=outcome.answer,
                    figures=outcome.figures,
                )
            )
    if figures is None:
        return results, {}
    from grader.figures import draw_all

    return results, draw_all(ctx, figures)


def _readable_png(sub: Submission, relative: str) -> bool:
    """A student's figure is shown (never graded) only if it is a PNG that decodes within the limits."""
    try:
        sub.image(relative)
        return True
    except Rejected:
        return False


def verdict(results: list[Result]) -> str:
    """PASS when every required check ran and passed, FAIL when one failed, INCOMPLETE when one did not run."""
    required = [r for r in results if r.required]
    if any(r.status == FAILED for r in required):
        return "FAIL"
    if any(r.status == NOT_RUN for r in required):
        return "INCOMPLETE"
    return "PASS"


def verdict_line(results: list[Result]) -> str:
    """The verdict with what kept it from PASS when a required check did not run: "INCOMPLETE: run.seed not run"."""
    found = verdict(results)
    if found != "INCOMPLETE":
        return found
    return f"{found}: " + ", ".join(r.name for r in results if r.required and r.status == NOT_RUN) + " not run"
