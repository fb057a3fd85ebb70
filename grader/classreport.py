"""The class report, written beside the grades CSV: ``grades.csv`` gets

- ``grades.md``: the summary, the submissions that could not be graded and why, both figures, the per-check
  table and the pairs of copies with their evidence;
- ``grades.histogram.png``: the scores of the graded submissions, coloured by verdict;
- ``grades.checks.csv`` and ``grades.checks.png``: per check, how many submissions passed, failed or did not run it;
- ``grades.copies.csv``: one row per pair of submissions listed as copies (:mod:`grader.copies`).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np

from ddpm_lab.io import save_figure, write_text
from grader.batch import Graded
from grader.checks import FAILED, NOT_RUN, PASSED
from grader.copies import Pair

VERDICT_COLOURS = {"PASS": "#2e7d32", "INCOMPLETE": "#f9a825", "FAIL": "#c62828"}


def check_table(rows: list[Graded], rubric: dict) -> list[dict]:
    graded = [r for r in rows if r.graded]
    table = []
    for task, spec in rubric["tasks"].items():
        for name, cfg in spec["checks"].items():
            key = f"{task}.{name}"
            counts = Counter(r.statuses.get(key) for r in graded)
            ran = counts[PASSED] + counts[FAILED]
            table.append(
                {
                    "check": key,
                    "points": float(cfg["points"]),
                    "passed": counts[PASSED],
                    "failed": counts[FAILED],
                    "not run": counts[NOT_RUN],
                    "pass rate": round(counts[PASSED] / ran, 4) if ran else None,
                }
            )
    return table


def write(rows: list[Graded], pairs: list[Pair], rubric: dict, csv_path: Path) -> list[Path]:
    import pandas as pd

    stem = csv_path.with_suffix("")
    paths = {
        "md": stem.with_suffix(".md"),
        "histogram": Path(f"{stem}.histogram.png"),
        "checks_csv": Path(f"{stem}.checks.csv"),
        "checks_png": Path(f"{stem}.checks.png"),
        "copies": Path(f"{stem}.copies.csv"),
    }
    checks = check_table(rows, rubric)
    write_text(paths["checks_csv"], pd.DataFrame(checks).to_csv(index=False))
    copies = pd.DataFrame(
        [{"a": p.a, "b": p.b, "kinds": "; ".join(p.kinds), "evidence": "; ".join(p.evidence)} for p in pairs],
        columns=["a", "b", "kinds", "evidence"],
    )
    write_text(paths["copies"], copies.to_csv(index=False))
    save_figure(_histogram(rows), paths["histogram"])
    save_figure(_pass_rates(checks), paths["checks_png"])
    write_text(paths["md"], markdown(rows, checks, pairs, rubric, paths))
    return list(paths.values())


def markdown(rows: list[Graded], checks: list[dict], pairs: list[Pair], rubric: dict, paths: dict) -> str:
    graded = [r for r in rows if r.graded]
    verdicts = Counter(r.verdict for r in graded)
    lines = [f"# {rubric.get('lab', 'Lab')}: the class", ""]
    lines.append(
        f"{len(rows)} submissions: {len(graded)} graded ("
        + ", ".join(f"{verdicts[v]} {v}" for v in VERDICT_COLOURS if verdicts[v])
        + f"), {len(rows) - len(graded)} not graded."
    )
    if graded:
        scores = np.array([r.score for r in graded])
        lines.append(
            f"Scores out of {graded[0].max_score:g}: median {np.median(scores):g}, mean {scores.mean():.2f}, "
            f"lowest {scores.min():g}, highest {scores.max():g}."
        )
    lines += ["", f"![scores]({paths['histogram'].name})", ""]
    not_graded = [r for r in rows if not r.graded]
    if not_graded:
        lines += ["## Not graded", "", "| submission | why |", "| --- | --- |"]
        lines += [f"| `{r.submission}` | {r.error} |" for r in not_graded] + [""]
    lines += ["## Checks", "", f"![pass rates]({paths['checks_png'].name})", ""]
    lines += ["| check | points | passed | failed | not run | pass rate |", "| --- | --- | --- | --- | --- | --- |"]
    for c in checks:
        rate = "" if c["pass rate"] is None else f"{c['pass rate']:.0%}"
        lines.append(f"| `{c['check']}` | {c['points']:g} | {c['passed']} | {c['failed']} | {c['not run']} | {rate} |")
    lines += ["", "## Copies", ""]
    if pairs:
        lines += ["Pairs of submissions whose samples or loss curves coincide (nothing is deducted: look at them).", ""]
        lines += ["| submission | submission | what | evidence |", "| --- | --- | --- | --- |"]
        lines += [f"| `{p.a}` | `{p.b}` | {', '.join(p.kinds)} | {'; '.join(p.evidence)} |" for p in pairs]
    else:
        lines.append("No two submissions share samples or a loss curve.")
    return "\n".join(lines) + "\n"


def _histogram(rows: list[Graded]):
    from ddpm_lab.plots import plt

    graded = [r for r in rows if r.graded]
    fig, ax = plt.subplots(figsize=(7, 3.5))
    top = max([r.max_score for r in graded], default=1.0) or 1.0
    bins = np.linspace(0, top, 2 * int(np.ceil(top)) + 1)
    stacks = [[r.score for r in graded if r.verdict == v] for v in VERDICT_COLOURS]
    ax.hist(stacks, bins=bins, stacked=True, color=list(VERDICT_COLOURS.values()), label=list(VERDICT_COLOURS))
    ax.set_xlabel(f"score (out of {top:g})")
    ax.set_ylabel("submissions")
    ax.yaxis.get_major_locator().set_params(integer=True)
    missing = len(rows) - len(graded)
    ax.set_title(f"{len(graded)} submissions graded" + (f", {missing} not graded (see the table)" if missing else ""))
    ax.legend(frameon=False, loc="upper left")
    ax.spines[["top", "right"]].set_visible(False)
    return fig


def _pass_rates(checks: list[dict]):
    from ddpm_lab.plots import plt

    fig, ax = plt.subplots(figsize=(7, 0.3 * len(checks) + 1))
    names = [c["check"] for c in checks][::-1]
    passed = np.array([c["passed"] for c in checks][::-1])
    failed = np.array([c["failed"] for c in checks][::-1])
    not_run = np.array([c["not run"] for c in checks][::-1])
    total = np.maximum(passed + failed + not_run, 1)
    y = np.arange(len(names))
    ax.barh(y, passed / total, color=VERDICT_COLOURS["PASS"], label="passed")
    ax.barh(y, failed / total, left=passed / total, color=VERDICT_COLOURS["FAIL"], label="failed")
    ax.barh(y, not_run / total, left=(passed + failed) / total, color="#bdbdbd", label="not run")
    ax.set_yticks(y, names, fontsize=8)
    ax.set_xlim(0, 1)
    ax.xaxis.set_major_formatter(plt.matplotlib.ticker.PercentFormatter(1.0))
    ax.set_xlabel("share of graded submissions")
    ax.legend(frameon=False, ncol=3, loc="lower center", bbox_to_anchor=(0.5, 1.0))
    ax.spines[["top", "right"]].set_visible(False)
    return fig
