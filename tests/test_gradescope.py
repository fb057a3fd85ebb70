"""Gradescope's autograder zip (grader/gradescope.py): built, unpacked into a tree shaped like /autograder, and its
run_autograder run there for a good, a broken and an empty submission, as Gradescope would run it."""

import json
import os
import shutil
import subprocess
import sys
import zipfile

import pytest

from grader.gradescope import build, reports_folder


def test_the_zip_holds_what_gradescope_runs_and_is_the_same_each_time(tmp_path):
    names = build(tmp_path / "a.zip")
    build(tmp_path / "b.zip")
    assert (tmp_path / "a.zip").read_bytes() == (tmp_path / "b.zip").read_bytes()
    assert {"setup.sh", "run_autograder", "requirements.txt", "grader/rubric.yaml", "grader/__main__.py"} <= set(names)
    assert "grader/references/mnist_test_inception.npz" in names and "ddpm_lab/fid.py" in names
    assert {"reports/fid_reference/metrics.json", "reports/digit_classifier/metrics.json"} <= set(names)  # the SHA records
    assert not any(n.startswith("reports/") and "metrics.json" not in n for n in names)
    with zipfile.ZipFile(tmp_path / "a.zip") as archive:
        modes = {i.filename: (i.external_attr >> 16) & 0o777 for i in archive.infolist()}
        setup = archive.read("setup.sh").decode()
        pins = archive.read("requirements.txt").decode().split()
    assert modes["run_autograder"] == modes["setup.sh"] == 0o755
    assert not any("__pycache__" in n for n in names)
    assert "python -m grader.gradescope prepare" in setup and "torch==" in setup
    assert all("==" in pin for pin in pins) and any(p.startswith("clean-fid==") for p in pins)
    assert subprocess.run(["bash", "-n", "-c", setup]).returncode == 0


def test_a_broken_rubric_is_refused_when_the_zip_is_built(tmp_path, capsys):
    from grader.__main__ import main

    (tmp_path / "rubric.yaml").write_text("tasks: [")
    assert main(["gradescope", str(tmp_path / "a.zip"), "--rubric", str(tmp_path / "rubric.yaml")]) == 2
    assert "rubric" in capsys.readouterr().err and not (tmp_path / "a.zip").exists()


def test_an_upload_is_found_as_contents_folder_or_repository(tmp_path):
    (tmp_path / "flat/gaussian_demo").mkdir(parents=True)
    (tmp_path / "folder/reports/gaussian_demo").mkdir(parents=True)
    (tmp_path / "repo/lab7-main/reports/gaussian_demo").mkdir(parents=True)
    (tmp_path / "nothing").mkdir()
    assert reports_folder(tmp_path / "flat") == tmp_path / "flat"
    assert reports_folder(tmp_path / "folder") == tmp_path / "folder/reports"
    assert reports_folder(tmp_path / "repo") == tmp_path / "repo/lab7-main/reports"
    assert reports_folder(tmp_path / "nothing") == tmp_path / "nothing"
    (tmp_path / "linked").mkdir()
    (tmp_path / "linked/reports").symlink_to(tmp_path / "folder/reports")  # a folder outside the upload
    assert reports_folder(tmp_path / "linked") == tmp_path / "linked"


@pytest.fixture
def autograder(tmp_path, root):
    """An /autograder tree of our own: source/ unpacked from the zip, as Gradescope unpacks it; the zip's rubric
    names the lab differently, so that results show which grader ran."""
    rubric = (root / "grader/rubric.yaml").read_text()
    (tmp_path / "rubric.yaml").write_text(
        rubric.replace('lab: "Lab 7: Generative Diffusion Models"', 'lab: "Lab 7 as shipped in the zip"')
    )
    build(tmp_path / "autograder.zip", tmp_path / "rubric.yaml")
    root = tmp_path / "autograder"
    with zipfile.ZipFile(tmp_path / "autograder.zip") as archive:
        archive.extractall(root / "source")
    (root / "source/run_autograder").chmod(0o755)
    return root


def run_autograder(root, mnist_dir, *args):
    env = dict(os.environ, AUTOGRADER_ROOT=str(root), AUTOGRADER_PYTHON=sys.executable)
    run = subprocess.run(
        [str(root / "source/run_autograder"), "--mnist-dir", str(mnist_dir), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    return json.loads((root / "results/results.json").read_text())


@pytest.mark.slow
def test_run_autograder_grades_a_good_and_a_broken_submission(autograder, good, mnist_dir):
    shutil.copytree(good, autograder / "submission/reports")  # uploaded as the reports/ folder
    result = run_autograder(autograder, mnist_dir, "--no-fid")
    tests = {t["name"].split(": ")[-1]: t for t in result["tests"]}
    not_run = "task7.fid_threshold, task7.fid_claim, run.seed not run"
    assert result["score"] == 18 and f"18 / 21 (INCOMPLETE: {not_run})" in result["output"]
    assert len(tests) == 22 and tests["samples_moments"]["status"] == "passed"
    assert "seed expected: " in result["output"] and "holds no submitter" in result["output"]  # no metadata, no id
    assert "status" not in tests["fid_threshold"] and tests["fid_threshold"]["output"].startswith("NOT RUN")
    assert result["output"].startswith("Lab 7 as shipped in the zip:")  # the zip's rubric and grader, not this checkout's

    shutil.rmtree(autograder / "submission")
    shutil.copytree(good, autograder / "submission")  # uploaded as the folder's contents, one file broken
    (autograder / "submission/gndm_fit/metrics.json").write_text("{not json")
    result = run_autograder(autograder, mnist_dir, "--no-fid")
    tests = {t["name"].split(": ")[-1]: t for t in result["tests"]}
    assert result["score"] == 13  # the check that reads gndm_fit/metrics.json, and the three that need the seed it names
    assert tests["data_distribution"]["status"] == "passed"  # Task 2's data is graded from data.csv alone
    assert tests["learned_mean"]["status"] == "failed" and "not valid JSON" in tests["learned_mean"]["output"]


@pytest.mark.slow
def test_the_committed_reports_uploaded_under_a_students_email_fail_the_seed(autograder, good, mnist_dir):
    from grader.identity import seed_for

    shutil.copytree(good, autograder / "submission/reports")
    user = {"email": "alice@uni.example", "sid": "s123", "name": "Alice"}
    (autograder / "submission_metadata.json").write_text(json.dumps({"id": 1, "users": [user]}))
    result = run_autograder(autograder, mnist_dir, "--no-fid")
    seed = {t["name"].split(": ")[-1]: t for t in result["tests"]}["seed"]
    assert seed["status"] == "failed"
    assert f"seed 0, not alice@uni.example's seed {seed_for('alice@uni.example')}" in seed["output"]
    assert f"seed expected: alice@uni.example's seed {seed_for('alice@uni.example')}" in result["output"]


def test_run_autograder_on_an_empty_upload_writes_a_result_that_says_why(autograder, mnist_dir):
    (autograder / "submission").mkdir()
    result = run_autograder(autograder, mnist_dir, "--no-fid")
    assert result["score"] == 0 and result["tests"] == []
    assert result["output"].startswith("Your submission could not be graded: an empty folder.")
