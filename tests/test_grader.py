"""The grader on a complete synthetic submission, and on each way a submission can be broken."""

import json
import os
import shutil
import subprocess
import sys
import zlib
import struct

import nbformat
import numpy as np
import pytest
from PIL import Image

from grader.__main__ import main as grader_main
from grader.runner import all_required_pass, grade, load_rubric


def png(path, size=(64, 64)):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray((np.random.default_rng(0).random(size) * 255).astype(np.uint8)).save(path)


def csv(path, header, rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(",".join(header) + "\n" + "".join(",".join(repr(float(v)) for v in row) + "\n" for row in rows))


def write_json(path, obj):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj))


def digits(n, seed):
    """Bright strokes on black, like MNIST at 32x32."""
    rng = np.random.default_rng(seed)
    images = np.zeros((n, 32, 32), dtype=np.uint8)
    for img in images:
        r, c = rng.integers(6, 20, 2)
        img[r : r + 10, c : c + 4] = rng.integers(200, 256, (10, 4))
    return images


@pytest.fixture
def good(tmp_path):
    """A submission that passes every check, built from the lab's own distributions."""
    root = tmp_path / "reports"
    rng = np.random.default_rng(0)
    csv(root / "gaussian_demo/samples.csv", ["x1", "x2"], rng.standard_normal((1000, 2)))
    png(root / "gaussian_demo/scatter.png")
    data = rng.standard_normal((1000, 2)) + [1, 2]
    csv(root / "gndm_fit/data.csv", ["x1", "x2"], data)
    write_json(root / "gndm_fit/metrics.json", {"learned_mean": data.mean(0).tolist()})
    png(root / "gndm_fit/fit.png")
    train = digits(3000, 1)
    (root / "mnist_subset").mkdir()
    np.savez_compressed(root / "mnist_subset/subset.npz", images=train, labels=np.repeat(np.arange(10), 300).astype(np.uint8))
    write_json(root / "mnist_subset/metrics.json", {"value_range": [-1.0, 1.0], "min": -1.0, "max": 1.0})
    png(root / "mnist_subset/preview.png")
    x0 = train[0].astype(np.float32) / 127.5 - 1
    s = 0.0797
    (root / "forward_demo").mkdir()
    np.savez(root / "forward_demo/noisy.npz", x0=x0, t500=(s * x0 + np.sqrt(1 - s * s) * rng.standard_normal(x0.shape)).astype(np.float32))
    for t in (100, 200, 300, 400, 500):
        png(root / f"forward_demo/t{t}.png")
    csv(root / "train/loss.csv", ["epoch", "loss"], [(e, 1 / e) for e in range(1, 201)])
    png(root / "train/loss.png")
    (root / "sample_grid").mkdir()
    np.savez_compressed(root / "sample_grid/samples.npz", images=digits(64, 2))
    png(root / "sample_grid/grid.png", (300, 300))
    (root / "fid").mkdir()
    samples = digits(2000, 3)
    samples = (samples.astype(float) * train.mean() / samples.mean()).astype(np.uint8)
    np.savez_compressed(root / "fid/samples.npz", images=samples)
    write_json(root / "fid/metrics.json", {"fid": 5.0, "floor": 2.0, "n_generated": 2000, "n_reference": 10000})
    return root


@pytest.fixture(scope="module")
def rubric():
    return load_rubric()


def by_name(results):
    return {r.name: r for r in results}


def test_complete_submission_passes_every_check(good, rubric):
    results = grade(good, rubric)
    failed = [(r.name, r.measured) for r in results if not r.passed]
    assert not failed
    assert all_required_pass(results)


def test_tolerances_are_not_a_rubber_stamp(good, rubric):
    # samples of N(0.3, I) instead of N(0, I): 1000 samples put the mean ~9 standard errors off
    rows = np.random.default_rng(1).standard_normal((1000, 2)) + 0.3
    csv(good / "gaussian_demo/samples.csv", ["x1", "x2"], rows)
    # a learned mean that is not the data's sample mean
    write_json(good / "gndm_fit/metrics.json", {"learned_mean": [1.01, 2.0]})
    # a loss that does not fall
    csv(good / "train/loss.csv", ["epoch", "loss"], [(e, 1.0) for e in range(1, 201)])
    results = by_name(grade(good, rubric))
    assert not results["task1.samples_moments"].passed
    assert not results["task2.matches_closed_form"].passed
    assert not results["task6.loss_falls"].passed


def test_x_T_that_is_not_noise_fails(good, rubric):
    with np.load(good / "forward_demo/noisy.npz") as f:
        x0 = f["x0"]
    np.savez(good / "forward_demo/noisy.npz", x0=x0, t500=0.5 * x0 + 0.5 * np.random.default_rng(0).standard_normal(x0.shape))
    assert not by_name(grade(good, rubric))["task4.pure_noise_at_T"].passed


def bomb_png(path, side=20000):
    """A valid PNG header declaring side x side pixels: tiny on disk, huge when decoded."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    raw = zlib.compress(b"\0" * (side + 1) * 64)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)) + chunk(b"IDAT", raw) + chunk(b"IEND", b""))


BREAKAGES = {
    "missing file": (lambda r: (r / "train/loss.csv").unlink(), "task6.epochs", "missing"),
    "truncated json": (lambda r: (r / "fid/metrics.json").write_text('{"fid": 5.0, "n_gen'), "task7.fid_threshold", "not valid JSON"),
    "json array": (lambda r: (r / "fid/metrics.json").write_text("[1, 2]"), "task7.fid_threshold", "expected a JSON object"),
    "nan in json": (lambda r: (r / "fid/metrics.json").write_text('{"fid": NaN, "n_generated": 2000, "n_reference": 10000}'), "task7.fid_threshold", "NaN is not a number"),
    "infinity in json": (lambda r: (r / "fid/metrics.json").write_text('{"fid": -Infinity}'), "task7.fid_threshold", "not a number"),
    "string for number": (lambda r: write_json(r / "fid/metrics.json", {"fid": "low", "n_generated": 2000, "n_reference": 10000}), "task7.fid_threshold", "expected a number, got 'low'"),
    "nan in csv": (lambda r: csv(r / "train/loss.csv", ["epoch", "loss"], [(1, 1.0), (2, float("nan"))]), "task6.loss_falls", "not finite"),
    "wrong shape": (lambda r: np.savez(r / "sample_grid/samples.npz", images=np.zeros((64, 28, 28), np.uint8)), "task6.sample_grid", "shape (64, 28, 28)"),
    "wrong dtype": (lambda r: np.savez(r / "sample_grid/samples.npz", images=np.zeros((64, 32, 32), np.float64)), "task6.sample_grid", "dtype float64"),
    "pickle in npz": (lambda r: np.savez(r / "sample_grid/samples.npz", images=np.array([{"x": 1}], dtype=object)), "task6.sample_grid", "unreadable arrays"),
    "raw pickle for npz": (lambda r: (r / "sample_grid/samples.npz").write_bytes(b"\x80\x04\x95cos\nsystem\n"), "task6.sample_grid", "not a .npz archive"),
    "decompression bomb": (lambda r: bomb_png(r / "train/loss.png"), "task6.loss_figure", "decompression bomb"),
    "not an image": (lambda r: (r / "train/loss.png").write_text("hello"), "task6.loss_figure", "not a readable image"),
    "symlink outside": (lambda r: ((r / "train/loss.csv").unlink(), os.symlink("/etc/passwd", r / "train/loss.csv")), "task6.epochs", "points outside the submission folder"),
    "directory for file": (lambda r: ((r / "fid/metrics.json").unlink(), (r / "fid/metrics.json").mkdir()), "task7.fid_threshold", "not a regular file"),
    "too few samples": (lambda r: np.savez(r / "fid/samples.npz", images=np.zeros((10, 32, 32), np.uint8)), "task7.sample_counts", "10 saved samples"),
    "unbalanced subset": (lambda r: np.savez(r / "mnist_subset/subset.npz", images=np.zeros((3000, 32, 32), np.uint8), labels=np.zeros(3000, np.int64)), "task3.balanced_subset", "per class [3000"),
}


@pytest.mark.parametrize("breakage", sorted(BREAKAGES))
def test_each_broken_input_fails_its_check_with_one_line(good, rubric, breakage):
    damage, check, phrase = BREAKAGES[breakage]
    damage(good)
    results = by_name(grade(good, rubric))
    result = results[check]
    assert not result.passed
    assert phrase in result.measured
    assert "\n" not in result.measured and "Traceback" not in result.measured
    assert result.points == 0


def test_gradescope_results_notebook_and_markdown_are_written(good, tmp_path, capsys):
    code = grader_main([str(good), "--out", str(tmp_path / "out")])
    assert code == 0
    results = json.loads((tmp_path / "out/results.json").read_text())
    assert results["score"] == results["max_score"] > 0
    for test in results["tests"]:
        assert set(test) >= {"name", "score", "max_score", "status", "output", "visibility"}
        assert test["status"] in ("passed", "failed")
        assert test["visibility"] in ("visible", "hidden", "after_due_date", "after_published")
    nb = nbformat.read(tmp_path / "out/report.ipynb", as_version=4)
    nbformat.validate(nb)
    assert any("image/png" in out.get("data", {}) for cell in nb.cells if cell.cell_type == "code" for out in cell.outputs)
    report = (tmp_path / "out/report.md").read_text()
    assert "Task 7" in report and "FID" in report
    printed = capsys.readouterr().out
    assert "task7.fid_threshold" in printed and "score" in printed
    # grading the same folder again writes the same bytes (no random cell ids, no timestamps)
    first = {name: (tmp_path / "out" / name).read_bytes() for name in ("results.json", "report.md", "report.ipynb")}
    assert grader_main([str(good), "--out", str(tmp_path / "out")]) == 0
    assert first == {name: (tmp_path / "out" / name).read_bytes() for name in first}


def test_exit_codes(good, tmp_path):
    assert grader_main([str(good), "--out", str(tmp_path / "a"), "--quiet"]) == 0
    write_json(good / "fid/metrics.json", {"fid": 500.0, "n_generated": 2000, "n_reference": 10000})
    assert grader_main([str(good), "--out", str(tmp_path / "b"), "--quiet"]) == 1
    assert grader_main([str(tmp_path / "nowhere")]) == 2
    bad_rubric = tmp_path / "rubric.yaml"
    bad_rubric.write_text("tasks: [")
    assert grader_main([str(good), "--rubric", str(bad_rubric)]) == 2


def test_many_submissions_one_bad_folder_never_stops_the_others(good, tmp_path):
    import pandas as pd

    subs = tmp_path / "subs"
    shutil.copytree(good, subs / "alice" / "reports")
    shutil.copytree(good, subs / "bob" / "reports")
    (subs / "bob/reports/fid/metrics.json").write_text("garbage")
    (subs / "carol/reports").mkdir(parents=True)  # an empty submission
    folders = sorted(str(p) for p in subs.glob("*/reports"))
    code = grader_main(folders + ["--csv", str(tmp_path / "grades.csv"), "--quiet"])
    assert code == 1
    grades = pd.read_csv(tmp_path / "grades.csv")
    assert list(grades["submission"]) == folders
    alice, bob, carol = grades.to_dict("records")
    assert alice["passed"] and alice["score"] == alice["max_score"]
    assert not bob["passed"] and bob["task7.fid_threshold"] == 0 and bob["task1.samples_moments"] == 1
    assert not carol["passed"] and carol["score"] == 0


def test_grader_runs_as_a_module_and_never_imports_submission_code(good, root):
    (good / "sitecustomize.py").write_text("raise SystemExit('executed submission code')")
    (good / "grader").mkdir()
    (good / "grader" / "__init__.py").write_text("raise SystemExit('executed submission code')")
    run = subprocess.run([sys.executable, "-m", "grader", str(good), "--quiet"], cwd=root, capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "executed submission code" not in run.stdout + run.stderr


def test_committed_reports_of_the_full_run_pass_the_grader(root, tmp_path):
    """CI gate: the reports/ committed from the real run must pass the shipped rubric."""
    reports = root / "reports"
    if not (reports / "fid" / "metrics.json").exists():
        pytest.fail("reports/ holds no full run (reports/fid/metrics.json missing)")
    code = grader_main([str(reports), "--out", str(tmp_path / "grading"), "--quiet"])
    assert code == 0, (tmp_path / "grading" / "report.md").read_text()
