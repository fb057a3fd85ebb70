"""``python -m grader assign OUT/``: the student edition of the lab, generated from the solution.

The solution marks each part the lab asks students to write, as otter-grader and nbgrader do::

    def q_sample(schedule, x0, t, noise):
        \"\"\"Jump straight to step t, eq. (27): ...\"\"\"
        # BEGIN SOLUTION
        alpha_bar = ...
        return ...
        # END SOLUTION
        # STUB: raise NotImplementedError("Task 4: x_t of the forward process, eq. (27)")

The edition drops every region between the markers (in any text file: the grader's own stages in dvc.yaml are
marked the same way) and turns the ``# STUB:`` line after it into code. A stage that reaches a stub stops with
one line naming it (``stages/_common.py``). Each student's edition gets a seed of its own, derived from the
student id, so that honest runs never coincide.

    python -m grader assign OUT/                          # one edition, the default seed
    python -m grader assign OUT/ --student-id s1234567    # one student's edition
    python -m grader assign OUT/ --roster class.txt       # OUT/<id>/ for each id (one per line), and OUT/seeds.csv
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from ddpm_lab.check.reports import GRADED_HERE
from grader.identity import seed_for
from grader.markers import EditionError, strip_solutions, stubs

ROOT = Path(__file__).resolve().parent.parent

# what a student gets, relative to the project: globs, in this order
EDITION = (
    "README.md",  # written from grader/edition/README.md
    "RUBRIC.md",  # written from grader/rubric.yaml
    "params.yaml",
    "dvc.yaml",
    "pyproject.toml",
    ".gitignore",
    "scripts/setup.sh",
    "stages/*.py",
    "ddpm_lab/*.py",
    "ddpm_lab/check/*.py",
    "ddpm_lab/check/rubric.yaml",  # written from grader/rubric.yaml: the graded checks the student's check runs
    "grader/references/mnist_test_inception.npz",  # the FID reference, an input of the fid stages: see RENAMED
)
GENERATED = {"README.md", "RUBRIC.md", "ddpm_lab/check/rubric.yaml"}
NOT_IN_EDITION = {  # the grader's own stages and what only they use
    "stages/digit_classifier.py",
    "stages/fid_reference.py",
}
RENAMED = {"grader/references/mnist_test_inception.npz": "references/mnist_test_inception.npz"}  # dvc.yaml's STUB path
FIRST_COMMIT = ("-c", "user.name=Lab 7", "-c", "user.email=lab7@edition.invalid", "commit", "-q", "-m", "Lab 7, as handed out")


def with_seed(params_text: str, seed: int) -> str:
    changed, count = re.subn(r"(?m)^seed: \d+", f"seed: {seed}", params_text)
    if count != 1:
        raise EditionError("params.yaml has no top-level `seed: N` line to set")
    return changed


GRADER_ONLY = {  # why a graded check of Tasks 5-7 runs at grading only
    "sample_grid": "its digit classifier",
    "digits_recognised": "its digit classifier",
    "not_training_copies": "a search of its own copy of MNIST",
    "fid_threshold": "its Inception statistics (the fid stage reports the same FID)",
    "fid_claim": "its Inception statistics (the fid stage reports the same FID)",
}


def before_hand_in(task: str, name: str) -> str:
    """Who runs a graded check: the student's own check (Tasks 1–4, the same rule and threshold), or the grader alone."""
    if task in GRADED_HERE:
        return f"yes: `python -m ddpm_lab.check {task.removeprefix('task')}` runs it on your reports/"
    return f"no, the grader only: {GRADER_ONLY.get(name, 'your trained run, measured at grading')}"


def rubric_markdown(rubric: dict) -> str:
    """Every visible check of the rubric: what it expects, its points, whether the student's check runs it before
    hand-in, and what usually causes a failure."""
    skip = {"points", "visibility", "required", "hint", "expects"}
    z = rubric["statistics"]["z"]
    lines = [
        f"# {rubric.get('lab', 'Lab 7')}: how your reports/ are graded",
        "",
        "Every check the grader runs on your `reports/`, with its points and threshold. Statistical tolerances are "
        f"{z:g} standard errors of the sample size. A required check that fails fails the submission; a check "
        "that did not run leaves it incomplete. The checks of Tasks 1–4 need neither a trained model nor a file of "
        "the grader's: `python -m ddpm_lab.check` runs them on your reports/ before you hand them in, with the "
        "same rule and threshold. The others (the samples, the loss curve, the digit classifier, the near-copies, "
        "the FID against the grader's own statistics of the 10,000 test images) only the grader measures.",
        "",
        "| task | check | points | required | expects | checked before hand-in | usual cause when it fails |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for task_key, task in rubric["tasks"].items():
        for name, check in task["checks"].items():
            if check.get("visibility", "visible") != "visible":
                continue
            expects = str(check.get("expects", "")).format(**check, z=z) or ", ".join(
                f"{k} {v}" for k, v in check.items() if k not in skip
            )
            hint = " ".join(str(check.get("hint", "")).split())
            lines.append(
                f"| {task['title']} | {name} | {check['points']:g} | {'yes' if check.get('required') else 'no'} | "
                f"{expects} | {before_hand_in(task_key, name)} | {hint} |"
            )
    return "\n".join(lines) + "\n"


def check_rubric(rubric: dict) -> str:
    """The part of the rubric the student's check runs (Tasks 1–4), as ``ddpm_lab/check/rubric.yaml``."""
    part = {
        "lab": rubric["lab"],
        "statistics": rubric["statistics"],
        "lab_settings": rubric["lab_settings"],
        "tasks": {task: spec for task, spec in rubric["tasks"].items() if task in GRADED_HERE},
    }
    header = "# The graded checks of Tasks 1-4, as the grader runs them: written from its rubric by `python -m grader assign`\n"
    return header + yaml.safe_dump(part, sort_keys=False, allow_unicode=True)


STAGE_TASKS = {  # the edition's stages, in order, with the lab's tasks each one runs
    "gaussian_demo": "1",
    "gndm_fit": "2",
    "mnist_subset": "3",
    "forward_demo": "4",
    "train": "6",
    "sample_grid": "5, 6",
    "fid_floor": "7",
    "fid": "7",
}


def duration(seconds: float) -> str:
    return f"{seconds:.1f} s" if seconds < 60 else f"{seconds / 60:.0f} min"


def edition_readme(root: Path, seed: int | None) -> str:
    """grader/edition/README.md with the student's seed, the stubs, and the times measured: the stages' from the
    committed run (reports/repro_times.json), the check's and the smoke run's from an edition
    (reports/edition_times.json, ``scripts/edition_times.py``)."""
    rows = "\n".join(
        f"| {n} | `{s['function']}` | `{s['file']}` | {s['what']} | `python -m ddpm_lab.check {n}` |"
        for s in stubs(root)
        for n in [s["task"].split()[1]]
    )
    repro = json.loads((root / "reports/repro_times.json").read_text())
    measured = root / "reports/edition_times.json"  # scripts/edition_times.py, which writes an edition to measure them
    unmeasured = dict.fromkeys(("check_seconds", "check_after_smoke_seconds", "smoke_seconds"), math.nan)
    edition = json.loads(measured.read_text()) if measured.exists() else unmeasured
    seconds = {stage: repro["stage_seconds"][stage] for stage in STAGE_TASKS}
    stage_rows = "\n".join(f"| `{stage}` | {STAGE_TASKS[stage]} | {duration(s)} |" for stage, s in seconds.items())
    chosen = seed if seed is not None else yaml.safe_load((root / "params.yaml").read_text())["seed"]
    values = {
        "seed": str(chosen),
        "stubs": rows,
        "stage_times": stage_rows,
        "total_minutes": f"{sum(seconds.values()) / 60:.0f}",
        "check_seconds": f"{edition['check_seconds']:.0f}",
        "check_after_seconds": f"{edition['check_after_smoke_seconds']:.0f}",
        "smoke_minutes": f"{edition['smoke_seconds'] / 60:.0f}",
    }
    text = (root / "grader/edition/README.md").read_text()
    for key, value in values.items():
        text = text.replace("{" + key + "}", value)
    return text


def write_edition(out: Path, seed: int | None = None, with_solutions: bool = False, root: Path = ROOT) -> list[Path]:
    """Write the student edition into ``out`` (which must not exist or be empty) as a git repository with DVC
    initialised and one commit; return the files written. ``with_solutions`` keeps the solution regions of the
    library (markers and all): the solution, shaped as the edition."""
    if out.exists() and any(out.iterdir()):
        raise EditionError(f"{out} is not empty; choose another folder")
    files = []
    for pattern in EDITION:
        matches = [root / pattern] if pattern in GENERATED else sorted(root.glob(pattern))
        if not matches or not all(m.exists() or str(m.relative_to(root)) in GENERATED for m in matches):
            raise EditionError(f"{pattern}: missing from {root}")
        for source in matches:
            relative = str(source.relative_to(root))
            if relative in NOT_IN_EDITION:
                continue
            target = out / RENAMED.get(relative, relative)
            target.parent.mkdir(parents=True, exist_ok=True)
            if source.suffix in (".npz", ".pt"):
                shutil.copyfile(source, target)
            else:
                target.write_text(edition_text(relative, root, seed, with_solutions))
            files.append(target)
    make_repository(out)
    return files


def make_repository(out: Path) -> None:
    """``git init``, ``dvc init`` and one commit of everything, so that the README's ``dvc repro`` runs as written."""
    steps = (
        ["git", "init", "-q", "-b", "main"],
        [sys.executable, "-m", "dvc", "init", "-q"],
        [sys.executable, "-m", "dvc", "config", "core.autostage", "true"],
        ["git", "add", "-A"],
        ["git", *FIRST_COMMIT],
    )
    env = {**os.environ, "DVC_NO_ANALYTICS": "1"}
    for step in steps:
        done = subprocess.run(step, cwd=out, capture_output=True, text=True, env=env)
        if done.returncode != 0:
            said = (done.stderr or done.stdout).strip().splitlines()
            raise EditionError(
                f"{out}: `{' '.join(step[-3:] if step[0] == sys.executable else step[:3])}` failed: "
                f"{said[-1] if said else done.returncode}"
            )


def edition_text(relative: str, root: Path, seed: int | None, with_solutions: bool) -> str:
    if relative == "README.md":
        return edition_readme(root, seed)
    if relative == "RUBRIC.md":
        return rubric_markdown(yaml.safe_load((root / "grader/rubric.yaml").read_text()))
    if relative == "ddpm_lab/check/rubric.yaml":
        return check_rubric(yaml.safe_load((root / "grader/rubric.yaml").read_text()))
    text = (root / relative).read_text()
    if relative == "params.yaml" and seed is not None:
        text = with_seed(text, seed)
    # the solutions put back are the library's; the grader's own stages and settings stay out of any edition
    return text if with_solutions and relative.startswith("ddpm_lab/") else strip_solutions(text, relative)


def read_roster(path: Path) -> list[str]:
    ids = [line.split(",")[0].strip() for line in path.read_text().splitlines()]
    ids = [i for i in ids if i and not i.startswith("#")]
    if len(set(ids)) != len(ids):
        raise EditionError(f"{path}: some student ids appear twice")
    if not all(re.fullmatch(r"[\w.@-]+", i) for i in ids):
        raise EditionError(f"{path}: a student id may hold letters, digits and . _ @ - only")
    return ids


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m grader assign", description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path, help="an empty or new folder")
    who = parser.add_mutually_exclusive_group()
    who.add_argument("--student-id", help="one student's edition, with that student's seed")
    who.add_argument("--roster", type=Path, help="a file of student ids, one per line: OUT/<id>/ for each")
    parser.add_argument("--with-solutions", action="store_true", help="keep the solutions (to check the edition itself)")
    args = parser.parse_args(argv)
    try:
        if args.roster:
            ids = read_roster(args.roster)
            seeds = {i: seed_for(i) for i in ids}
            if len(set(seeds.values())) != len(seeds):
                raise EditionError("two student ids share a seed; rename one")
            for student, seed in seeds.items():
                write_edition(args.out / student, seed, args.with_solutions)
            (args.out / "seeds.csv").write_text("student_id,seed\n" + "".join(f"{i},{s}\n" for i, s in seeds.items()))
            print(f"{len(ids)} editions written to {args.out}/<id>/; seeds in {args.out / 'seeds.csv'}")
        else:
            seed = seed_for(args.student_id) if args.student_id else None
            files = write_edition(args.out, seed, args.with_solutions)
            print(f"edition written to {args.out} ({len(files)} files" + (f", seed {seed})" if seed is not None else ")"))
    except (EditionError, OSError) as err:
        print(f"grader assign: {err}", file=sys.stderr)
        return 2
    return 0
