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
from grader.runner import Result, verdict

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
    lines.append(f"score {_score(results)}  ({verdict(results)})")
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
    lines = [f"# {lab}: report", "", f"Graded from `{folder}`. Score {_score(results)} ({verdict(results)}).", ""]
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


def _png_output(path: Path, label: str):
    data = base64.b64encode(path.read_bytes()).decode()
    return nbformat.v4.new_output("display_data", data={"image/png": data, "text/plain": label})


def notebook(results: list[Result], lab: str, folder: Path, drawn: dict[str, list[Path]] | None = None) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.cells.append(nbformat.v4.new_markdown_cell(f"# {lab}: report\n\nScore {_score(results)} ({verdict(results)})."))
    for title, answers, failures, figures, student in _sections(results, drawn or {}, folder):
        text = f"## {title}\n\n" + "\n".join(f"- {s}" for s in answers)
        for head, feedback in failures:
            text += f"\n\n**{head}**\n\n```\n{feedback}\n```"
        nb.cells.append(nbformat.v4.new_markdown_cell(text))
        for fig in figures:
            nb.cells.append(nbformat.v4.new_code_cell(f"# drawn by the grader: {fig.name}", outputs=[_png_output(fig, fig.name)]))
        for fig in student:
            nb.cells.append(
                nbformat.v4.new_code_cell(
                    f"# the student's {fig} (shown, not graded)", outputs=[_png_output(folder / fig, f"the student's {fig}")]
                )
            )
    for i, cell in enumerate(nb.cells):
        cell["id"] = f"cell-{i}"  # nbformat draws random ids: fixed ones make the same grading the same file
    nbformat.validate(nb)
    return nb


def write_all(results: list[Result], lab: str, folder: Path, out: Path, drawn: dict[str, list[Path]] | None = None) -> None:
    write_text(out / "results.json", json.dumps(gradescope(results), indent=2) + "\n")
    write_text(out / "report.md", markdown(results, lab, folder, out, drawn))
    write_text(out / "report.ipynb", nbformat.writes(notebook(results, lab, folder, drawn)))
