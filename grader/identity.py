"""Whose run a submission is: the seed a student's edition was given, derived from the student's id.

``python -m grader assign --student-id ID`` writes ``seed: seed_for(ID)`` into the edition's params.yaml (and
``--roster`` writes ``seeds.csv``, one row per student). The grader derives the seed it expects the same way, from
an id it learns from the instructor, never from the submission:

- ``python -m grader FOLDER --student-id ID`` (or ``--seed N`` for a run of one's own, such as the committed one);
- in batch grading, each folder's name: ``subs/<id>/reports`` or ``subs/<id>`` (``id_from_folder``);
- with ``--roster seeds.csv``, the roster says whose seed a wrong one is, and a folder named for nobody on it is
  reported as such;
- on Gradescope, ``submission_metadata.json``'s first user, by the field the instructor chose (``email`` or ``sid``).
"""

from __future__ import annotations

import csv
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path


def seed_for(student_id: str) -> int:
    """A seed of the student's own: the first 31 bits of SHA-256 of the id (the same id, the same seed)."""
    return int.from_bytes(hashlib.sha256(student_id.strip().encode()).digest()[:4], "big") >> 1


class IdentityError(Exception):
    """A roster or metadata file the grader cannot use: grading does not start."""


@dataclass(frozen=True)
class Identity:
    """Who the grader was told a submission belongs to, and the seed that follows. ``seed`` None: nobody said."""

    student_id: str | None = None
    seed: int | None = None
    source: str = ""  # how the grader learnt it, for the report
    roster: tuple[tuple[str, int], ...] = field(default=(), repr=False)
    problem: str = ""  # why no seed is expected although an id was looked for

    @classmethod
    def of_student(cls, student_id: str, source: str, roster: dict[str, int] | None = None) -> Identity:
        roster = roster or {}
        known = tuple(sorted(roster.items()))
        if roster and student_id not in roster:
            return cls(student_id, None, source, known, f"{student_id!r} ({source}) is not on the roster")
        return cls(student_id, roster.get(student_id, seed_for(student_id)), source, known)

    @classmethod
    def of_seed(cls, seed: int) -> Identity:
        return cls(None, seed, "--seed")

    def whose(self, seed: int) -> list[str]:
        """The students on the roster whose seed ``seed`` is."""
        return [student for student, s in self.roster if s == seed]

    def describe(self) -> str:
        """Whose seed the grader expects, in words: "alice's seed 367788900 (--student-id)"."""
        if self.seed is None:
            return self.problem or "nobody's: no student id was given"
        who = f"{self.student_id}'s seed" if self.student_id else "seed"
        return f"{who} {self.seed} ({self.source})"

    def owner(self) -> str:
        """Whose a matching seed is, in words: "alice's own (--student-id)"."""
        return f"{self.student_id}'s own ({self.source})" if self.student_id else f"the one {self.source} names"


NOBODY = Identity()  # no one said whose run it is: run.seed is not run


def read_roster(path: Path) -> dict[str, int]:
    """``seeds.csv`` as ``assign --roster`` writes it: ``student_id,seed``. The instructor's own file: its seeds
    are taken as written (``assign`` derived them with :func:`seed_for`; one edited by hand is the instructor's
    word)."""
    try:
        with open(path, newline="") as handle:
            rows = list(csv.DictReader(handle))
    except OSError as err:
        raise IdentityError(f"cannot read the roster {path}: {err.strerror}") from None
    if not rows or {"student_id", "seed"} - set(rows[0]):
        raise IdentityError(
            f"the roster {path} needs the columns student_id,seed (as `python -m grader assign --roster` writes it)"
        )
    roster = {}
    for line, row in enumerate(rows, start=2):
        student = (row["student_id"] or "").strip()
        try:
            seed = int(row["seed"])
        except (TypeError, ValueError):
            raise IdentityError(f"the roster {path}, line {line}: seed {row['seed']!r} is not an integer") from None
        if not student or student in roster:
            raise IdentityError(f"the roster {path}, line {line}: student id {student!r} is empty or listed twice")
        roster[student] = seed
    return roster


def id_from_folder(folder: Path) -> str:
    """``subs/<id>/reports`` → ``<id>``; ``subs/<id>`` → ``<id>``."""
    folder = Path(folder)
    return folder.parent.name if folder.name == "reports" else folder.name


GRADESCOPE_FIELDS = ("email", "sid")


def from_gradescope(metadata: Path, id_field: str) -> Identity:
    """The first submitter of Gradescope's ``submission_metadata.json`` (``users``: ``email``, ``sid``, ``name``)."""
    source = f"Gradescope's submission metadata, {id_field}"
    try:
        users = json.loads(metadata.read_text()).get("users") or []
        value = users[0].get(id_field) if isinstance(users[0], dict) else None
    except (OSError, ValueError, AttributeError, IndexError):
        return Identity(source=source, problem=f"{metadata} holds no submitter")
    if not isinstance(value, str) or not value.strip():
        return Identity(source=source, problem=f"the submitter in {metadata} has no {id_field}")
    return Identity.of_student(value.strip(), source)
