"""The solution's markers, as otter-grader and nbgrader mark a solution: what lies between ``# BEGIN SOLUTION`` and
``# END SOLUTION`` is the solution, and the ``# STUB:`` line right after a region is the edition's code in its place
(``python -m grader assign``, :mod:`grader.assign`)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BEGIN, END, STUB = "# BEGIN SOLUTION", "# END SOLUTION", "# STUB: "


class EditionError(ValueError):
    """The solution's markers are broken, or the edition cannot be written where asked."""


def marked_lines(text: str, where: str = "") -> list[tuple[str, str]]:
    """Each line of ``text`` with what it is: "code", "solution" (inside a region), "marker", or "stub" (the
    ``# STUB:`` line right after a region). Broken markers raise :class:`EditionError`."""
    marked, inside, just_closed = [], False, False
    for number, line in enumerate(text.split("\n"), 1):
        marker = line.strip()
        if marker.startswith(BEGIN):
            if inside:
                raise EditionError(f"{where}:{number}: {BEGIN} inside another region")
            inside, kind = True, "marker"
        elif marker.startswith(END):
            if not inside:
                raise EditionError(f"{where}:{number}: {END} without {BEGIN}")
            inside, kind = False, "marker"
        elif inside:
            kind = "solution"
        else:
            kind = "stub" if just_closed and (marker + " ").startswith(STUB) else "code"
        just_closed = (kind == "marker" and not inside) or kind == "stub"  # a stub may run over several lines
        marked.append((kind, line))
    if inside:
        raise EditionError(f"{where}: {BEGIN} never closed")
    return marked


def strip_solutions(text: str, where: str = "") -> str:
    """``text`` without its solution regions, each ``# STUB:`` line after a region made code."""
    out = []
    for kind, line in marked_lines(text, where):
        if kind == "code":
            out.append(line)
        elif kind == "stub":
            out.append((line[: len(line) - len(line.lstrip())] + line.strip()[len(STUB) :]).rstrip())
    return "\n".join(out)


def solution_lines(text: str) -> list[str]:
    """The lines inside the solution regions of ``text``, markers excluded."""
    return [line for kind, line in marked_lines(text) if kind == "solution"]


def stubs(root: Path = ROOT) -> list[dict[str, str]]:
    """Every stub of the library: its task, function, file and message, in file order."""
    found = []
    for path in sorted((root / "ddpm_lab").glob("*.py")):
        function = ""
        for line in path.read_text().split("\n"):
            match = re.match(r"\s*def (\w+)\(", line)
            if match:
                function = match.group(1)
            stub = re.match(r'\s*# STUB: raise NotImplementedError\("(Task \d+): (.*)"\)', line)
            if stub:
                found.append(
                    {"task": stub.group(1), "function": function, "file": str(path.relative_to(root)), "what": stub.group(2)}
                )
    order = ["gaussian", "data", "schedule", "sampler", "training"]  # within a task, what a function uses first
    return sorted(found, key=lambda s: (int(s["task"].split()[1]), order.index(Path(s["file"]).stem)))
