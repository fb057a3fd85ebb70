"""What the grader writes: the terminal table, Gradescope's results.json, and the lab report answers as
Markdown and as a Jupyter notebook (nbformat) with the figures embedded."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

import nbformat

from ddpm_lab.io import write_text

from grader.runner import Result


def table(results: list[Result]) -> str:
    rows = [("check", "points", "result", "measured", "expected")]
    for r in results:
        status = "pass" if r.passed else ("FAIL" if r.required else "fail (optional)")
        rows.append((r.name, f"{r.points:g}/{r.max_points:g}", status, r.measured, r.expected))
    widths = [min(max(len(row[i]) for row in rows), limit) for i, limit in enumerate((34, 8, 15, 70, 60))]
    lines = []
    for k, row in enumerate(rows):
        lines.append("  ".join(cell[: w].ljust(w) for cell, w in zip(row, widths)).rstrip())
        if k == 0:
            lines.append("  ".join("-" * w for w in widths))
    score, total = sum(r.points for r in results), sum(r.max_points for r in results)
    lines.append(f"score {score:g} / {total:g}")
    return "\n".join(lines)


def gradescope(results: list[Result]) -> dict:
    """Gradescope's autograder results format."""
    return {
        "score": sum(r.points for r in results),
        "max_score": sum(r.max_points for r in results),
        "visibility": "visible",
        "stdout_visibility": "hidden",
        "tests": [
            {
                "name": f"{r.task_title}: {r.check}",
                "score": r.points,
                "max_score": r.max_points,
                "status": "passed" if r.passed else "failed",
                "output": f"measured: {r.measured}\nexpected: {r.expected}",
                "visibility": r.visibility,
            }
            for r in results
        ],
    }


def _answers(results: list[Result]) -> list[tuple[str, list[str], list[str]]]:
    """Per task, in rubric order: (title, answer sentences, figures)."""
    out: dict[str, tuple[str, list[str], list[str]]] = {}
    for r in results:
        title, sentences, figures = out.setdefault(r.task, (r.task_title, [], []))
        if r.answer and r.passed:
            sentences.append(r.answer)
        elif not r.passed:
            sentences.append(f"(not established: {r.check}: {r.measured})")
        figures.extend(f for f in r.figures if f not in figures)
    return list(out.values())


def markdown(results: list[Result], lab: str, folder: Path, relative_to: Path) -> str:
    lines = [f"# {lab}: answers", "", f"Graded from `{folder}`. Score {sum(r.points for r in results):g} / "
             f"{sum(r.max_points for r in results):g}.", ""]
    for title, sentences, figures in _answers(results):
        lines += [f"## {title}", ""] + [f"- {s}" for s in sentences] + [""]
        for fig in figures:
            if (folder / fig).is_file() and not (folder / fig).is_symlink():
                lines += [f"![{fig}]({os.path.relpath(folder / fig, relative_to)})", ""]
    return "\n".join(lines)


def notebook(results: list[Result], lab: str, folder: Path) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.cells.append(nbformat.v4.new_markdown_cell(f"# {lab}: answers\n\nScore {sum(r.points for r in results):g} / {sum(r.max_points for r in results):g}."))
    for title, sentences, figures in _answers(results):
        nb.cells.append(nbformat.v4.new_markdown_cell(f"## {title}\n\n" + "\n".join(f"- {s}" for s in sentences)))
        for fig in figures:
            path = folder / fig
            if not path.is_file() or path.is_symlink() or path.stat().st_size > 8_000_000:
                continue
            data = base64.b64encode(path.read_bytes()).decode()
            output = nbformat.v4.new_output("display_data", data={"image/png": data, "text/plain": fig})
            cell = nbformat.v4.new_code_cell(f"# {fig}", outputs=[output])
            nb.cells.append(cell)
    for i, cell in enumerate(nb.cells):
        cell["id"] = f"cell-{i}"  # nbformat draws random ids: fixed ones make the same grading the same file
    nbformat.validate(nb)
    return nb


def write_all(results: list[Result], lab: str, folder: Path, out: Path) -> None:
    write_text(out / "results.json", json.dumps(gradescope(results), indent=2) + "\n")
    write_text(out / "report.md", markdown(results, lab, folder, out))
    write_text(out / "report.ipynb", nbformat.writes(notebook(results, lab, folder)))
