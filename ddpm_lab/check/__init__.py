"""The lab's checks, for the person writing its functions: ``python -m ddpm_lab.check [TASK ...]``.

Two kinds of check, each printing one line:

- **Functions** (Tasks 2–6, :mod:`.task2` … :mod:`.task6`): each function the lab asks for is called on inputs
  the check draws, and what it returns is measured against the lab's equation, computed here independently
  from the same inputs and the same noise. Offline, no stage output needed, seconds in all.
- **Reports** (Tasks 1–4, :mod:`.reports`): the grader's own checks of those tasks, with the rubric's rules and
  thresholds (:mod:`.graded`), run on the ``reports/`` that ``dvc repro`` wrote. A report not written yet is
  "not run", never "passed".

A line names the task, the equation and the function, what was measured, what the lab expects and, when they
differ, the likeliest cause. A function not written yet is reported with its file and line; any other error
inside it, as one line with where it was raised.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

PASSED, FAILED, NOT_WRITTEN, NOT_RUN = "passed", "failed", "not written yet", "not run"
LABEL = {PASSED: "PASS", FAILED: "FAIL", NOT_WRITTEN: "TODO", NOT_RUN: "SKIP"}
PACKAGE = Path(__file__).resolve().parent.parent  # ddpm_lab/


class Mismatch(Exception):
    """A check's verdict that the function does not do what the lab asks; the message is the line to print."""


class NotRun(Exception):
    """A check that cannot run yet (a report not written yet); the message says what to do first."""


@dataclass(frozen=True)
class Check:
    task: int
    equation: str  # "eq. (27)", or "" where the check is not about one equation
    name: str  # the function checked, or the graded check's name
    run: Callable[[], str]  # returns what it measured when it passes; raises Mismatch or NotRun otherwise


@dataclass(frozen=True)
class Line:
    check: Check
    status: str
    message: str

    def __str__(self) -> str:
        where = f"Task {self.check.task}" + (f", {self.check.equation}" if self.check.equation else "")
        return f"{LABEL[self.status]}  {where}, {self.check.name}: {self.message}"


def run(check: Check) -> Line:
    """One check, never raising: what the student's code raises becomes the line."""
    try:
        return Line(check, PASSED, check.run())
    except Mismatch as err:
        return Line(check, FAILED, str(err))
    except NotRun as err:
        return Line(check, NOT_RUN, str(err))
    except NotImplementedError as err:
        return Line(check, NOT_WRITTEN, f"not written yet ({raised_at(err)})")
    except Exception as err:  # the student's code may raise anything; it is reported, never a traceback
        text = " ".join(str(err).split())
        return Line(check, FAILED, f"raised {type(err).__name__}: {text[:200]} ({raised_at(err)})")


def raised_at(err: BaseException) -> str:
    """``file:line in function`` of the innermost frame inside the library (the student's code), else the last."""
    frames = traceback.extract_tb(err.__traceback__)
    ours = [f for f in frames if Path(f.filename).resolve().is_relative_to(PACKAGE) and "/check/" not in f.filename]
    frame = (ours or frames)[-1]
    path = Path(frame.filename).resolve()
    shown = path.relative_to(PACKAGE.parent) if path.is_relative_to(PACKAGE.parent) else path
    return f"{shown}:{frame.lineno} in {frame.name}"


def function_checks() -> list[Check]:
    from ddpm_lab.check import task2, task3, task4, task5, task6

    return [c for module in (task2, task3, task4, task5, task6) for c in module.checks()]
