"""The student edition (`python -m grader assign`): no solution line in it, one line per stub reached, a seed of
each student's own. (That the edition with its solutions put back reproduces the pipeline byte for byte is tested
on the tiny run, in test_pipeline.py.)"""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from grader import assign

ROOT = Path(__file__).resolve().parent.parent


def env():
    return {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "DVC_NO_ANALYTICS": "1",
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
    }


@pytest.fixture(scope="module")
def edition(tmp_path_factory):
    out = tmp_path_factory.mktemp("edition") / "lab"
    assign.write_edition(out)
    return out


def text_files(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file() and p.suffix not in (".npz", ".pt")]


def test_the_edition_holds_no_solution_line(edition):
    sources = [p for pattern in ("ddpm_lab/*.py", "stages/*.py", "dvc.yaml") for p in ROOT.glob(pattern)]
    inside = {line.strip() for p in sources for line in assign.solution_lines(p.read_text())} - {""}
    outside = {line.strip() for p in sources for line in assign.strip_solutions(p.read_text()).split("\n")}
    # a line that also stands outside a region (`return x`), or bare syntax (`else:`), gives nothing away
    secret = {line for line in inside - outside if len(line) >= 8}
    assert len(secret) > 20
    for path in text_files(edition):
        lines = {line.strip() for line in path.read_text().split("\n")}
        assert not lines & secret, f"{path.relative_to(edition)} holds solution lines: {sorted(lines & secret)[:3]}"
        assert "BEGIN SOLUTION" not in path.read_text() and "END SOLUTION" not in path.read_text()
    stubs = assign.stubs(ROOT)
    raised = sum(p.read_text().count("raise NotImplementedError(") for p in (edition / "ddpm_lab").glob("*.py"))
    assert raised == len(stubs)
    assert {s["task"] for s in stubs} >= {"Task 2", "Task 3", "Task 4", "Task 5", "Task 6"}
    equations = " ".join(s["what"] for s in stubs)
    assert all(f"eq. ({n})" in equations for n in (23, 27, 33, 35, 38))
    assert "digit_classifier" not in yaml.safe_load((edition / "dvc.yaml").read_text())["stages"]
    readme = (edition / "README.md").read_text()
    assert all(f"`{s['function']}`" in readme for s in stubs) and "What to hand in" in readme
    assert "| samples_moments | 1.5 | yes |" in (edition / "RUBRIC.md").read_text()
    project = (edition / "pyproject.toml").read_text()  # what only the grader needs is not installed
    assert 'packages = ["ddpm_lab"]' in project and "dask" not in project and "clean-fid" in project


def test_a_broken_marker_is_refused():
    with pytest.raises(assign.EditionError, match="never closed"):
        assign.strip_solutions("x = 1\n    # BEGIN SOLUTION\ny = 2\n", "f.py")
    with pytest.raises(assign.EditionError, match="without"):
        assign.strip_solutions("# END SOLUTION\n", "f.py")


def test_dvc_repro_of_the_edition_stops_at_the_first_stub_with_one_line(edition, tmp_path):
    work = tmp_path / "lab"
    subprocess.run(["cp", "-r", str(edition), str(work)], check=True)
    for cmd in (
        ["git", "init", "-q"],
        ["git", "add", "-A"],
        ["git", "-c", "user.email=a@b", "-c", "user.name=a", "commit", "-qm", "x"],
    ):
        subprocess.run(cmd, cwd=work, check=True, env=env())
    proc = subprocess.run(["dvc", "repro"], cwd=work, capture_output=True, text=True, env=env(), timeout=600)
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0 and "Traceback" not in output
    said = [line for line in output.splitlines() if "not written yet" in line]
    assert len(said) == 1 and re.fullmatch(
        r"gndm_fit: not written yet: Task 2: gradient descent on the NLL, eq\. \(23\) \(ddpm_lab/gaussian\.py:\d+ in fit_gndm\)",
        said[0],
    ), said
    assert (work / "reports/gaussian_demo/samples.csv").exists()  # Task 1 asks nothing to be written: it ran


def test_two_students_get_two_seeds_and_two_sample_sets(tmp_path):
    samples = {}
    for student in ("s1234567", "s7654321"):
        out = tmp_path / student
        assign.write_edition(out, assign.seed_for(student))
        assert yaml.safe_load((out / "params.yaml").read_text())["seed"] == assign.seed_for(student)
        subprocess.run([sys.executable, "stages/gaussian_demo.py"], cwd=out, check=True, env=env(), capture_output=True)
        metrics = yaml.safe_load((out / "reports/gaussian_demo/metrics.json").read_text())
        assert metrics["seed"] == assign.seed_for(student)
        samples[student] = (out / "reports/gaussian_demo/samples.csv").read_text()
    assert assign.seed_for("s1234567") != assign.seed_for("s7654321") and len(set(samples.values())) == 2
    assert assign.seed_for("s1234567") == assign.seed_for(" s1234567 ")  # the same id, the same seed


def test_a_roster_gives_each_student_a_folder_and_the_instructor_the_seeds(tmp_path):
    roster = tmp_path / "class.txt"
    roster.write_text("# id\nalice\nbob\n\n")
    assert assign.main([str(tmp_path / "out"), "--roster", str(roster)]) == 0
    assert (tmp_path / "out/alice/params.yaml").exists() and (tmp_path / "out/bob/params.yaml").exists()
    assert (
        tmp_path / "out/seeds.csv"
    ).read_text() == f"student_id,seed\nalice,{assign.seed_for('alice')}\nbob,{assign.seed_for('bob')}\n"
    assert assign.main([str(tmp_path / "out"), "--roster", str(roster)]) == 2  # never over an edition already there
    roster.write_text("alice\nalice\n")
    assert assign.main([str(tmp_path / "again"), "--roster", str(roster)]) == 2
