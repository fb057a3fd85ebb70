"""What the grader writes: the terminal table, Gradescope's results.json, and the lab report as Markdown and
as a Jupyter notebook (nbformat), with the figures the grader drew from the arrays and, labelled as such,
the student's own PNGs. A failed check reads the same everywhere: measured, expected, usual cause."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

import nbformat

from ddpm_lab.io import write_text
from grader.checks import FAILED, NOT_RUN
from grader.runner import Result, verdict_line

STATUS_WORD = {"passed": "pass", "failed": "FAIL", "not run": "not run"}


def _status(r: Result) -> str:
    return "fail (optional)" if r.status == FAILED and not r.required else STATUS_WORD[r.status]


def _score(results: list[Result]) -> str:
    return f"{sum(r.points for r in results):g} / {sum(r.max_points for r in results):g}"


def table(results: list[Result]) -> str:
    rows = [("check", "points", "result", "measured", "expected")]
    for r in results:
        rows.append((r.name, f"{r.points:g}/{r.max_points:g}", _status(r), r.measured, r.expected))
    widths = [min(max(len(row[i]) for row in rows), limit) for i, limit in enumerate((32, 8, 15, 70, 50))]
    lines = []
    for k, row in enumerate(rows):
        lines.append("  ".join(cell[:w].ljust(w) for cell, w in zip(row, widths)).rstrip())
        if k == 0:
            lines.append("  ".join("-" * w for w in widths))
    lines.append(f"score {_score(results)}  ({verdict_line(results)})")
    for r in results:
        if r.status != "passed":
            lines.append(f"\n{r.name} {_status(r)}:\n  " + r.feedback().replace("\n", "\n  "))
    return "\n".join(lines)


def gradescope(results: list[Result]) -> dict:
    """Gradescope's autograder results format. A check that did not run has no status (Gradescope then
    shows it by its score, 0) and says "not run" first in its output; it is never reported as passed."""
    tests = []
    for r in results:
        test = {
            "name": f"{r.task_title}: {r.check}",
            "score": r.points,
            "max_score": r.max_points,
            "output": ("NOT RUN\n" if r.status == NOT_RUN else "") + r.feedback(),
            "visibility": r.visibility,
        }
        if r.status != NOT_RUN:
            test["status"] = r.status
        tests.append(test)
    return {
        "score": sum(r.points for r in results),
        "max_score": sum(r.max_points for r in results),
        "visibility": "visible",
        "stdout_visibility": "hidden",
        "tests": tests,
    }


def _sections(results: list[Result], drawn: dict[str, list[Path]], folder: Path):
    """Per task, in rubric order: (title, answer lines, failure blocks, grader's figures, student's PNGs)."""
    out: dict[str, tuple] = {}
    for r in results:
        title, answers, failures, _, student = out.setdefault(r.task, (r.task_title, [], [], drawn.get(r.task, []), []))
        if r.status == "passed" and r.answer:
            answers.append(r.answer)
        elif r.status != "passed":
            failures.append((f"{r.check}: {_status(r)}", r.feedback()))
        for fig in r.figures:
            path = folder / fig
            if fig not in student and path.is_file() and not path.is_symlink() and path.stat().st_size <= 8_000_000:
                student.append(fig)
    return list(out.values())


def markdown(results: list[Result], lab: str, folder: Path, relative_to: Path, drawn: dict[str, list[Path]] | None = None) -> str:
    lines = [f"# {lab}: report", "", f"Graded from `{folder}`. Score {_score(results)} ({verdict_line(results)}).", ""]
    for title, answers, failures, figures, student in _sections(results, drawn or {}, folder):
        lines += [f"## {title}", ""] + [f"- {s}" for s in answers] + [""]
        for head, feedback in failures:
            lines += [f"**{head}**", "", "```", feedback, "```", ""]
        for fig in figures:
            lines += [f"![drawn by the grader]({os.path.relpath(fig, relative_to)})", ""]
        if student:
            lines += ["The student's own figures (shown, not graded):", ""]
            lines += [f"![the student's {fig}]({os.path.relpath(folder / fig, relative_to)})" for fig in student] + [""]
    return "\n".join(lines)


KERNELSPEC = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}


def _png_result(data: bytes, label: str, count: int):
    """What a cell ending in a :class:`grader.notebook.Shown` prints: the PNG, and its label as text."""
    shown = {"image/png": base64.b64encode(data).decode(), "text/plain": label}
    return nbformat.v4.new_output("execute_result", data=shown, execution_count=count)


def _setup_source(folder: Path, out: Path, rubric_file: str | None, mnist_dir: str | None) -> str:
    args = [repr(os.path.relpath(folder, out))]
    args += [f"rubric={rubric_file!r}"] if rubric_file else []
    args += [f"mnist_dir={mnist_dir!r}"] if mnist_dir else []
    return (
        "# Run this notebook in the grader's environment, from this folder, to draw the grader's figures again from\n"
        "# the graded folder's arrays (grader/notebook.py); the outputs stored below are what the cells print.\n"
        "from grader.notebook import Report\n\n"
        f"report = Report({', '.join(args)})"
    )


def notebook(
    results: list[Result],
    lab: str,
    folder: Path,
    out: Path,
    drawn: dict[str, list[Path]] | None = None,
    rubric_file: str | None = None,
    mnist_dir: str | None = None,
) -> nbformat.NotebookNode:
    """The report as a notebook that runs again: a setup cell, then per task its answers, failures and a code
    cell per figure, whose stored output is the PNG the grader wrote (:mod:`grader.notebook` draws it again)."""
    from grader.notebook import figure_label, student_label

    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = KERNELSPEC
    nb.metadata["language_info"] = {"name": "python"}
    nb.cells.append(nbformat.v4.new_markdown_cell(f"# {lab}: report\n\nScore {_score(results)} ({verdict_line(results)})."))
    nb.cells.append(nbformat.v4.new_code_cell(_setup_source(folder, out, rubric_file, mnist_dir), execution_count=1))
    count = 1
    for title, answers, failures, figures, student in _sections(results, drawn or {}, folder):
        text = f"## {title}\n\n" + "\n".join(f"- {s}" for s in answers)
        for head, feedback in failures:
            text += f"\n\n**{head}**\n\n```\n{feedback}\n```"
        nb.cells.append(nbformat.v4.new_markdown_cell(text))
        shown = [(f"report.figure({fig.name!r})", fig.read_bytes(), figure_label(fig.name)) for fig in figures]
        shown += [(f"report.student({fig!r})", (folder / fig).read_bytes(), student_label(fig)) for fig in student]
        for source, data, label in shown:
            count += 1
            output = _png_result(data, label, count)
            nb.cells.append(nbformat.v4.new_code_cell(source, outputs=[output], execution_count=count))
    for i, cell in enumerate(nb.cells):
        cell["id"] = f"cell-{i}"  # nbformat draws random ids: fixed ones make the same grading the same file
    nbformat.validate(nb)
    return nb


def write_all(
    results: list[Result],
    lab: str,
    folder: Path,
    out: Path,
    drawn: dict[str, list[Path]] | None = None,
    rubric_file: str | None = None,
    mnist_dir: str | None = None,
) -> None:
    """results.json, report.md and report.ipynb into ``out``; ``rubric_file`` and ``mnist_dir`` (None: the
    grader's defaults) are what the notebook's cells load again."""
    write_text(out / "results.json", json.dumps(gradescope(results), indent=2) + "\n")
    write_text(out / "report.md", markdown(results, lab, folder, out, drawn))
    write_text(out / "report.ipynb", nbformat.writes(notebook(results, lab, folder, out, drawn, rubric_file, mnist_dir)))
