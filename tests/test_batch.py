"""A class graded on Dask (grader/batch.py): a LocalCluster of two workers, and a scheduler and a worker started
as separate processes, with broken, hanging, copied and missing submissions among good ones."""

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from grader.__main__ import main as grader_main
from grader.batch import Settings, grade_class

pytestmark = pytest.mark.slow


def make_class(good, subs):
    """alice: the committed run. bob: alice's samples shuffled with N(0, 4^2) pixel noise, her loss.csv rounded.
    carol: broken (no samples, a loss.csv that is not CSV, weights that are not safetensors). frank: 60,000
    samples (within the size limits), whose grading outlives any short limit. dave: an empty folder. eve: a file."""
    rng = np.random.default_rng(0)
    for name in ("alice", "bob", "carol", "frank"):
        shutil.copytree(good, subs / name)
    images = np.load(good / "fid/samples.npz")["images"]
    noisy = np.clip(images + rng.normal(0, 4, images.shape).round(), 0, 255).astype(np.uint8)[rng.permutation(len(images))]
    np.savez(subs / "bob/fid/samples.npz", images=noisy)
    loss = pd.read_csv(good / "train/loss.csv")
    loss.assign(loss=loss["loss"].round(6)).to_csv(subs / "bob/train/loss.csv", index=False)
    (subs / "carol/fid/samples.npz").unlink()
    (subs / "carol/train/loss.csv").write_bytes(b"\x00\xff not a csv")
    (subs / "carol/sample_grid/weights.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00 not a header")
    many = np.clip(np.concatenate([images] * 30) + rng.integers(0, 2, (60000, 32, 32)), 0, 255).astype(np.uint8)
    np.savez(subs / "frank/fid/samples.npz", images=many)
    (subs / "dave").mkdir()
    (subs / "eve").write_text("not a folder")
    return [subs / n for n in ("alice", "bob", "carol", "dave", "eve", "frank")]


def test_a_class_on_a_local_cluster_of_two_workers(good, tmp_path, mnist_dir, capsys):
    folders = make_class(good, tmp_path / "subs")
    csv = tmp_path / "class/grades.csv"
    limit = 90  # a submission takes 40-60 s here on one thread (the regenerations and the weights' loss included)
    roster = tmp_path / "seeds.csv"  # the roster says whose each folder is: here everyone ran the committed seed
    roster.write_text("student_id,seed\n" + "".join(f"{f.name},0\n" for f in folders))
    start = time.monotonic()
    code = grader_main(
        [str(f) for f in folders]
        + ["--csv", str(csv), "--no-fid", "--workers", "2", "--time-limit", str(limit), "--mnist-dir", str(mnist_dir)]
        + ["--roster", str(roster)]
    )
    wall = time.monotonic() - start
    assert code == 3  # some submissions could not be graded
    rows = pd.read_csv(csv).set_index("submission")
    assert list(rows.index) == [str(f) for f in folders]
    verdicts = rows["verdict"].to_dict()
    assert verdicts == {
        str(folders[0]): "INCOMPLETE",  # graded without the FID
        str(folders[1]): "FAIL",  # the noisy samples are not what the weights draw
        str(folders[2]): "FAIL",
        str(folders[3]): "NOT GRADED",
        str(folders[4]): "NOT GRADED",
        str(folders[5]): "NOT GRADED",
    }
    errors = rows["error"].fillna("").to_dict()
    assert errors[str(folders[3])] == "an empty folder" and errors[str(folders[4])] == "a file, not a folder"
    assert errors[str(folders[5])].startswith(f"not graded within the time limit of {limit} s")
    assert rows.loc[str(folders[0]), "score"] == 19 and rows.loc[str(folders[2]), "task7.sample_counts"] == 0
    assert rows.loc[str(folders[1]), "task7.samples_regenerate"] == 0 and rows.loc[str(folders[0]), "student_id"] == "alice"
    assert rows.loc[str(folders[2]), "task6.grid_regenerates"] == 0  # damaged weights fail the check, not the grading
    assert rows.loc[str(folders[2]), "task1.samples_moments"] == 1.5  # the rest of a broken submission is graded
    assert len(set(rows.loc[[str(f) for f in folders[:3]], "worker"])) == 2  # both workers graded
    assert wall < limit + 120  # the hanging one was stopped at its limit
    # each graded submission has its own report
    assert json.loads((folders[0] / "grading/results.json").read_text())["score"] == 19
    # the class report: the copied pair listed with its evidence, and nothing else
    copies = pd.read_csv(csv.with_name("grades.copies.csv")).to_dict("records")
    assert [(c["a"], c["b"]) for c in copies] == [(str(folders[0]), str(folders[1]))]
    assert copies[0]["kinds"] == "near-identical samples; identical loss curves; identical weights"
    assert "100% of the samples" in copies[0]["evidence"] and "both claim seed 0" in copies[0]["evidence"]
    checks = pd.read_csv(csv.with_name("grades.checks.csv")).set_index("check")
    assert checks.loc["task1.samples_moments", "passed"] == 3 and checks.loc["task7.sample_counts", "failed"] == 1
    report = csv.with_name("grades.md").read_text()
    assert "6 submissions: 3 graded (1 INCOMPLETE, 2 FAIL), 3 not graded." in report
    assert csv.with_name("grades.histogram.png").stat().st_size > 1000
    out = capsys.readouterr().out
    assert f"{folders[5]}: NOT GRADED: not graded within the time limit" in out


def test_a_scheduler_and_a_worker_started_as_processes_of_their_own(good, tmp_path, mnist_dir, root):
    """The instructor's own cluster: `dask scheduler` and `dask worker`, here on localhost. The worker loads
    Inception once and grades every submission with it (the FID of 25 samples: real, and quick)."""
    subs = tmp_path / "subs"
    folders = []
    images = np.load(good / "fid/samples.npz")["images"]
    for k in range(3):
        folder = subs / f"s{k}"
        shutil.copytree(good, folder)
        np.savez(folder / "fid/samples.npz", images=images[25 * k : 25 * (k + 1)])
        folders.append(folder)
    (folders[2] / "gndm_fit/metrics.json").write_text("{")  # one broken file
    dask = str(Path(sys.executable).with_name("dask"))  # the command an instructor types
    address_file = tmp_path / "scheduler.json"
    scheduler = subprocess.Popen(
        [dask, "scheduler", "--scheduler-file", str(address_file), "--port", "0", "--no-dashboard"], stderr=subprocess.DEVNULL
    )
    worker = None
    try:
        for _ in range(120):
            if address_file.exists() and address_file.read_text().strip():
                break
            time.sleep(0.5)
        address = json.loads(address_file.read_text())["address"]
        worker = subprocess.Popen(
            [dask, "worker", address, "--nthreads", "1", "--no-dashboard", "--name", "w1"], cwd=root, stderr=subprocess.DEVNULL
        )
        outs = [str(f / "grading") for f in folders]
        # one draw seed for all: the worker draws the picks of one weights once, as it would grading a class twice
        settings = Settings(mnist_dir=str(mnist_dir), draw_seed=0)
        rows = grade_class([str(f) for f in folders], outs, settings, scheduler=address)
        code = grader_main(
            [str(f) for f in folders]
            + ["--csv", str(tmp_path / "grades.csv"), "--scheduler", address, "--mnist-dir", str(mnist_dir), "--quiet"]
            + ["--draw-seed", "0"]
        )
    finally:
        for process in (worker, scheduler):
            if process is not None:
                process.terminate()
                process.wait(timeout=60)
    # one worker process graded all three, with the references (Inception included) it loaded once, at its start
    assert len({r.worker for r in rows}) == 1 and [r.references_built for r in rows] == [1, 1, 1]
    assert [r.verdict for r in rows] == ["FAIL", "FAIL", "FAIL"]  # 25 samples fail the count and the FID
    assert [r.statuses["task7.fid_threshold"] for r in rows] == ["failed"] * 3  # computed, not skipped
    assert [r.points["task2.learned_mean"] for r in rows] == [1.5, 1.5, 0.0]  # the broken file fails its check only
    assert code == 1  # every submission graded; 100 samples fail the count and the FID
    rows = pd.read_csv(tmp_path / "grades.csv", keep_default_na=False)
    assert list(rows["verdict"]) == ["FAIL", "FAIL", "FAIL"] and set(rows["error"]) == {""}
    assert len(set(rows["worker"])) == 1
    for folder in folders:
        tests = {t["name"].split(": ")[-1]: t for t in json.loads((folder / "grading/results.json").read_text())["tests"]}
        assert tests["fid_threshold"]["status"] == "failed" and "FID" in tests["fid_threshold"]["output"]


def test_a_scheduler_out_of_reach_is_one_line_and_nothing_graded(good, tmp_path, monkeypatch, capsys):
    import grader.batch

    monkeypatch.setattr(grader.batch, "CONNECT_SECONDS", 3)
    code = grader_main([str(good), str(good), "--no-fid", "--scheduler", "tcp://127.0.0.1:9", "--csv", str(tmp_path / "g.csv")])
    assert code == 2 and not (tmp_path / "g.csv").exists()
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("grader: cannot reach the Dask scheduler at tcp://127.0.0.1:9")


def test_workers_that_cannot_load_the_references_stop_the_batch_with_one_line(tmp_path):
    from grader.batch import ClusterUnavailable

    with pytest.raises(ClusterUnavailable, match="the workers could not load the grader's references: RubricError"):
        grade_class([str(tmp_path)], [str(tmp_path / "out")], Settings(rubric=str(tmp_path / "gone.yaml"), fid=False), workers=1)
