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
import hashlib
import re
import shutil
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
BEGIN, END, STUB = "# BEGIN SOLUTION", "# END SOLUTION", "# STUB: "

# what a student gets, relative to the project: globs, in this order
EDITION = (
    "README.md",  # written from grader/edition/README.md
    "RUBRIC.md",  # written from grader/rubric.yaml
    "params.yaml",
    "dvc.yaml",
    "pyproject.toml",
    ".gitignore",
    ".dvcignore",
    ".dvc/config",
    ".dvc/.gitignore",
    "scripts/setup.sh",
    "stages/*.py",
    "ddpm_lab/*.py",
    "tests/conftest.py",
    "tests/test_gaussian.py",
    "tests/test_data.py",
    "tests/test_schedule.py",
    "tests/test_sampler.py",
    "tests/test_training.py",
    "tests/test_unet.py",
    "tests/test_io.py",
    "tests/test_params.py",
    "grader/references/mnist_test_inception.npz",  # the FID reference: an input of the fid stages
)
GENERATED = {"README.md", "RUBRIC.md"}
NOT_IN_EDITION = {"stages/digit_classifier.py", "stages/fid_reference.py"}  # the grader's own stages


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
            kind = "stub" if just_closed and marker.startswith(STUB) else "code"
        just_closed = kind == "marker" and not inside
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
            out.append(line[: len(line) - len(line.lstrip())] + line.strip()[len(STUB) :])
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
    return sorted(found, key=lambda s: (int(s["task"].split()[1]), s["file"]))


def seed_for(student_id: str) -> int:
    """A seed of the student's own: the first 31 bits of SHA-256 of the id (the same id, the same seed)."""
    return int.from_bytes(hashlib.sha256(student_id.strip().encode()).digest()[:4], "big") >> 1


def with_seed(params_text: str, seed: int) -> str:
    changed, count = re.subn(r"(?m)^seed: \d+", f"seed: {seed}", params_text)
    if count != 1:
        raise EditionError("params.yaml has no top-level `seed: N` line to set")
    return changed


def edition_pyproject(text: str) -> str:
    """The project file without the grader package, which the edition does not hold, nor what only it needs."""
    text, packages = re.subn(r'packages = \["ddpm_lab", "grader"\]', 'packages = ["ddpm_lab"]', text)
    text, data = re.subn(r"\[tool\.setuptools\.package-data\]\ngrader = \[[^\]]*\]\n\n?", "", text)
    text, dask = re.subn(r'\n    "dask\[distributed\][^\n]*', "", text)
    if packages != 1 or data != 1 or dask != 1:
        raise EditionError("pyproject.toml: could not drop the grader package from the edition")
    return text


def rubric_markdown(rubric: dict) -> str:
    """The visible checks of the rubric as a table: what each measures, its points and what it expects."""
    skip = {"points", "visibility", "required", "hint"}
    lines = [
        f"# {rubric.get('lab', 'Lab 7')}: how your reports/ are graded",
        "",
        "| task | check | points | required | expects | usual cause when it fails |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for task in rubric["tasks"].values():
        for name, check in task["checks"].items():
            if check.get("visibility", "visible") != "visible":
                continue
            expects = ", ".join(f"{k} {v}" for k, v in check.items() if k not in skip)
            hint = " ".join(str(check.get("hint", "")).split())
            lines.append(
                f"| {task['title']} | {name} | {check['points']:g} | {'yes' if check.get('required') else 'no'} | "
                f"{expects} | {hint} |"
            )
    return "\n".join(lines) + "\n"


def write_edition(out: Path, seed: int | None = None, with_solutions: bool = False, root: Path = ROOT) -> list[Path]:
    """Write the student edition into ``out`` (which must not exist or be empty); return the files written.
    ``with_solutions`` keeps the solution regions (markers and all): the solution, shaped as the edition."""
    if out.exists() and any(out.iterdir()):
        raise EditionError(f"{out} is not empty; choose another folder")
    files = []
    for pattern in EDITION:
        matches = [root / pattern] if pattern in GENERATED else sorted(root.glob(pattern))
        if not matches or not all(m.exists() or m.name in GENERATED for m in matches):
            raise EditionError(f"{pattern}: missing from {root}")
        for source in matches:
            relative = source.relative_to(root)
            if str(relative) in NOT_IN_EDITION:
                continue
            target = out / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            if source.suffix in (".npz", ".pt"):
                shutil.copyfile(source, target)
            else:
                target.write_text(edition_text(str(relative), root, seed, with_solutions))
            files.append(target)
    return files


def edition_text(relative: str, root: Path, seed: int | None, with_solutions: bool) -> str:
    if relative == "README.md":
        rows = "\n".join(f"| {s['task']} | `{s['function']}` | `{s['file']}` | {s['what']} |" for s in stubs(root))
        chosen = seed if seed is not None else yaml.safe_load((root / "params.yaml").read_text())["seed"]
        return (root / "grader/edition/README.md").read_text().replace("{seed}", str(chosen)).replace("{stubs}", rows)
    if relative == "RUBRIC.md":
        return rubric_markdown(yaml.safe_load((root / "grader/rubric.yaml").read_text()))
    text = (root / relative).read_text()
    if relative == "pyproject.toml":
        text = edition_pyproject(text)
    if relative == "params.yaml" and seed is not None:
        text = with_seed(text, seed)
    # the solutions put back are the library's; the grader's own stages stay out of any edition (dvc.yaml)
    return text if with_solutions and relative != "dvc.yaml" else strip_solutions(text, relative)


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
