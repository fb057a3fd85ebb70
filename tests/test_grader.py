"""The grader on a copy of the committed reports, on each way a submission can be broken, and on forgeries:
each forgery fails the check it forges. Checks that need the FID share one References object, whose FID of
the same samples is computed once per test session."""

import base64
import copy
import json
import os
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import nbformat
import numpy as np
import pytest

from grader.__main__ import main as grader_main
from grader.identity import Identity
from grader.references import References
from grader.runner import grade, grade_and_draw, verdict

FID_CHECKS = {"task7.fid_threshold", "task7.fid_claim"}


@pytest.fixture(scope="session")
def quick(rubric, mnist_dir):
    """The grader's references without Inception: the FID checks do not run."""
    return References(rubric, mnist_dir=mnist_dir, fid=False, draw_seed=0)  # fixed picks: regenerations computed once


@pytest.fixture(scope="session")
def with_fid(rubric, mnist_dir):
    return References(rubric, mnist_dir=mnist_dir, draw_seed=0)


def by_name(results):
    return {r.name: r for r in results}


def write_json(path, obj):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj))


def csv(path, header, rows):
    path.write_text(",".join(header) + "\n" + "".join(",".join(repr(float(v)) for v in row) + "\n" for row in rows))


def fid_metrics(root):
    return json.loads((root / "fid/metrics.json").read_text())


def test_a_misspelt_or_mistyped_rubric_setting_stops_grading_with_one_line_naming_each(tmp_path, rubric, capsys):
    """A rubric's typo is the instructor's, and stops the grader (exit 2) before any submission is graded: each
    problem named with its place, never a check that gives every student 0 points ("could not check: KeyError")."""
    import yaml

    bad = copy.deepcopy(rubric)
    falls = bad["tasks"]["task6"]["checks"]["loss_falls"]
    falls["max_ratoi"] = falls.pop("max_ratio")
    bad["tasks"]["task7"]["checks"]["fid_threshold"]["max_fid"] = "28"
    bad["tasks"]["task5"]["checks"]["samples_valide"] = {"points": 1}
    path = tmp_path / "rubric.yaml"
    path.write_text(yaml.safe_dump(bad))
    (tmp_path / "sub").mkdir()
    code = grader_main([str(tmp_path / "sub"), "--rubric", str(path), "--no-fid", "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and not (tmp_path / "out").exists()
    assert "tasks.task6.checks.loss_falls.max_ratoi: not a setting of this check (did you mean max_ratio?)" in err[0]
    assert "tasks.task6.checks.loss_falls.max_ratio: missing" in err[0]
    assert "tasks.task7.checks.fid_threshold.max_fid: expected a number, got '28'" in err[0]
    assert "tasks.task5.checks.samples_valide: no such check (the checks of task5: task5.samples_valid)" in err[0]


@pytest.mark.slow
def test_committed_reports_of_the_full_run_pass_with_the_fid_recomputed(root, rubric, with_fid, tmp_path):
    """CI gate: the reports/ committed from the real run pass the shipped rubric, every check measured."""
    committed = Identity.of_seed(0)  # the instructor's own run
    results, drawn = grade_and_draw(root / "reports", rubric, with_fid, figures=tmp_path / "figures", identity=committed)
    failed = [(r.name, r.status, r.measured) for r in results if r.required and not r.passed]
    assert not failed
    assert verdict(results) == "PASS"
    claimed = fid_metrics(root / "reports")["fid"]
    recomputed = with_fid.fid(np.load(root / "reports/fid/samples.npz")["images"])
    assert recomputed == pytest.approx(claimed, rel=rubric["tasks"]["task7"]["checks"]["fid_claim"]["relative_tolerance"])
    assert {"task1", "task2", "task4", "task6", "task7"} <= set(drawn)


def test_without_fid_the_fid_checks_are_not_run_never_passed(good, rubric, quick):
    results = by_name(grade(good, rubric, quick))
    for name in FID_CHECKS:
        assert results[name].status == "not run" and results[name].points == 0
    assert results["run.seed"].status == "not run"  # nor was anyone's seed expected
    assert all(r.passed for n, r in results.items() if n not in FID_CHECKS | {"run.seed"} and r.required)
    assert verdict(list(results.values())) == "INCOMPLETE"


def test_tolerances_are_not_a_rubber_stamp(good, rubric, quick):
    rows = np.random.default_rng(1).standard_normal((1000, 2)) + 0.3  # N(0.3, I): ~9 standard errors off
    csv(good / "gaussian_demo/samples.csv", ["x1", "x2"], rows)
    write_json(good / "gndm_fit/metrics.json", {"learned_mean": [1.01, 2.0]})  # not the data's sample mean
    csv(good / "train/loss.csv", ["epoch", "loss"], [(e, 1.0) for e in range(1, 201)])  # a loss that does not fall
    results = by_name(grade(good, rubric, quick))
    assert not results["task1.samples_moments"].passed
    assert not results["task2.learned_mean"].passed
    assert not results["task6.loss_falls"].passed


def test_x_t_that_does_not_follow_eq_27_fails(good, rubric, quick):
    with np.load(good / "forward_demo/noisy.npz") as f:
        arrays = dict(f)
    noise = np.random.default_rng(0).standard_normal(arrays["x0"].shape)
    arrays["t500"] = (0.5 * arrays["x0"] + 0.5 * noise).astype(np.float32)  # as the stage writes it (ddpm_lab/artifacts.py)
    arrays["t200"] = arrays["t100"]  # the wrong timestep
    np.savez(good / "forward_demo/noisy.npz", **arrays)
    results = by_name(grade(good, rubric, quick))
    assert not results["task4.pure_noise_at_T"].passed
    assert not results["task4.forward_marginals"].passed and "t = [200, 500]" in results["task4.forward_marginals"].measured


@pytest.mark.slow
def test_images_scaled_to_0_1_instead_of_minus_1_1_fail_value_range(good, rubric, quick):
    with np.load(good / "forward_demo/noisy.npz") as f:
        arrays = dict(f)
    assert by_name(grade(good, rubric, quick))["task3.value_range"].passed
    arrays["x0"] = (arrays["x0"] + 1) / 2  # [0, 1]: inside [-1, 1], but mapped back it is no MNIST image
    np.savez(good / "forward_demo/noisy.npz", **arrays)
    result = by_name(grade(good, rubric, quick))["task3.value_range"]
    assert not result.passed and "usual cause: x_0 should be a training image mapped linearly onto [-1, 1]" in result.feedback()


# Forgeries ----------------------------------------------------------------------------------------------


def mnist_mean_noise(n, mean, seed=0):
    """Random bright pixels whose mean is MNIST's mean pixel."""
    return np.where(np.random.default_rng(seed).random((n, 32, 32)) < mean / 255, 255, 0).astype(np.uint8)


def test_forged_noise_samples_with_mnists_mean_pixel_fail_the_digit_checks(good, rubric, quick):
    mean = float(np.load(good / "mnist_subset/subset.npz")["images"].mean())
    np.savez_compressed(good / "sample_grid/samples.npz", images=mnist_mean_noise(64, mean, 1))
    np.savez_compressed(good / "fid/samples.npz", images=mnist_mean_noise(2000, mean, 2))
    results = by_name(grade(good, rubric, quick))
    assert not results["task7.digits_recognised"].passed
    assert not results["task6.sample_grid"].passed
    assert results["task7.black_backgrounds"].passed  # the forgery got the brightness right; it earns nothing
    assert "usual cause" in results["task7.digits_recognised"].feedback()


def test_forged_samples_copied_from_the_training_subset_fail_as_copies(good, rubric, quick):
    subset = np.load(good / "mnist_subset/subset.npz")["images"]
    np.savez_compressed(good / "fid/samples.npz", images=subset[:2000])
    results = by_name(grade(good, rubric, quick))
    assert not results["task7.not_training_copies"].passed
    assert results["task7.not_training_copies"].measured.startswith("100.0%")
    assert results["task7.digits_recognised"].passed  # they are digits, just not new ones


def test_forged_samples_copied_from_mnists_test_images_fail_as_copies(good, rubric, quick):
    """Test images would score a low FID (they are the reference) and be recognised as digits: caught as copies."""
    np.savez_compressed(good / "fid/samples.npz", images=quick.test_images[0][-2000:])
    results = by_name(grade(good, rubric, quick))
    assert not results["task7.not_training_copies"].passed
    assert "100.0% of a test image" in results["task7.not_training_copies"].measured
    assert results["task7.digits_recognised"].passed


@pytest.mark.slow
def test_forged_fid_claim_below_the_recomputed_one_fails(good, rubric, with_fid):
    metrics = fid_metrics(good)
    metrics["fid"] = metrics["fid"] * 0.5
    write_json(good / "fid/metrics.json", metrics)
    results = by_name(grade(good, rubric, with_fid))
    assert not results["task7.fid_claim"].passed
    assert results["task7.fid_threshold"].passed  # graded on the recomputed value, which is honest


@pytest.mark.parametrize(
    "claim, phrase", [("-1.0", "negative"), ("Infinity", "not a number"), ("1e999", "not finite"), ('"low"', "expected a number")]
)
def test_forged_negative_or_infinite_fid_fails(good, rubric, quick, claim, phrase):
    text = (good / "fid/metrics.json").read_text()
    metrics = fid_metrics(good)
    (good / "fid/metrics.json").write_text(text.replace(json.dumps(metrics["fid"]), claim, 1))
    result = by_name(grade(good, rubric, quick))["task7.fid_claim"]
    assert result.status == "failed" and phrase in result.measured


@pytest.mark.slow
def test_one_png_copied_over_every_figure_earns_nothing(good, rubric, quick, tmp_path):
    honest = {r.name: r.status for r in grade(good, rubric, quick)}
    scatter = (good / "gaussian_demo/scatter.png").read_bytes()
    pngs = sorted(good.rglob("*.png"))
    assert len(pngs) >= 8
    for png in pngs:
        png.write_bytes(scatter)
    results, drawn = grade_and_draw(good, rubric, quick, figures=tmp_path / "figures")
    assert {r.name: r.status for r in results} == honest  # figures neither earn nor cost points
    grader_figures = [p for files in drawn.values() for p in files]
    assert grader_figures and all(p.read_bytes() != scatter for p in grader_figures)  # drawn from the arrays
    # with the arrays gone, the PNGs alone earn nothing
    for rel in ("gaussian_demo/samples.csv", "forward_demo/noisy.npz", "train/loss.csv", "sample_grid/samples.npz"):
        (good / rel).unlink()
    results = by_name(grade(good, rubric, quick))
    for name in (
        "task1.samples_moments",
        "task3.value_range",
        "task4.pure_noise_at_T",
        "task4.forward_marginals",
        "task5.samples_valid",
        "task6.epochs",
        "task6.loss_falls",
        "task6.sample_grid",
    ):
        assert results[name].status == "failed" and results[name].points == 0, name


def loss_rows(root):
    lines = (root / "train/loss.csv").read_text().splitlines()[1:]
    return [float(line.split(",")[1]) for line in lines]


@pytest.mark.slow
def test_loss_csv_cut_short_and_renumbered_fails(good, rubric, quick):
    losses = loss_rows(good)
    csv(good / "train/loss.csv", ["epoch", "loss"], [(i, v) for i, v in enumerate(losses[100:], 1)])  # the last 100, renumbered
    assert not by_name(grade(good, rubric, quick))["task6.epochs"].passed
    # cut at the start and padded back to 200 rows numbered 1..200: it no longer starts from scratch
    padded = losses[10:] + [losses[-1]] * 10
    csv(good / "train/loss.csv", ["epoch", "loss"], [(i, v) for i, v in enumerate(padded, 1)])
    result = by_name(grade(good, rubric, quick))["task6.epochs"]
    assert not result.passed and "first epoch's loss" in result.measured


@pytest.mark.slow
def test_a_subset_that_is_not_mnist_or_mislabelled_fails(good, rubric, quick):
    with np.load(good / "mnist_subset/subset.npz") as f:
        images, labels = f["images"], f["labels"]
    np.savez_compressed(good / "mnist_subset/subset.npz", images=images, labels=np.roll(labels, 1))
    assert not by_name(grade(good, rubric, quick))["task3.balanced_subset"].passed
    np.savez_compressed(good / "mnist_subset/subset.npz", images=255 - images, labels=labels)
    assert not by_name(grade(good, rubric, quick))["task3.balanced_subset"].passed


# Broken files --------------------------------------------------------------------------------------------


def bomb_png(path, side=20000):
    """A valid PNG header declaring side x side pixels: tiny on disk, huge when decoded."""

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    raw = zlib.compress(b"\0" * (side + 1) * 64)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0))
        + chunk(b"IDAT", raw)
        + chunk(b"IEND", b"")
    )


BREAKAGES = {
    "missing file": (lambda r: (r / "train/loss.csv").unlink(), "task6.epochs", "missing"),
    "truncated json": (lambda r: (r / "fid/metrics.json").write_text('{"fid": 5.0, "n_gen'), "task7.fid_claim", "not valid JSON"),
    "json array": (lambda r: (r / "fid/metrics.json").write_text("[1, 2]"), "task7.fid_claim", "expected a JSON object"),
    "nan in json": (
        lambda r: (r / "fid/metrics.json").write_text('{"fid": NaN, "n_generated": 2000}'),
        "task7.fid_claim",
        "NaN is not a number",
    ),
    "no fid in json": (
        lambda r: write_json(r / "fid/metrics.json", {"n_generated": 2000}),
        "task7.fid_claim",
        "expected a number, got NoneType",
    ),
    "nan in csv": (
        lambda r: csv(r / "train/loss.csv", ["epoch", "loss"], [(1, 1.0), (2, float("nan"))]),
        "task6.loss_falls",
        "not finite",
    ),
    "wrong shape": (
        lambda r: np.savez(r / "sample_grid/samples.npz", images=np.zeros((64, 28, 28), np.uint8)),
        "task6.sample_grid",
        "shape (64, 28, 28)",
    ),
    "wrong dtype": (
        lambda r: np.savez(r / "sample_grid/samples.npz", images=np.zeros((64, 32, 32), np.float64)),
        "task6.sample_grid",
        "dtype float64",
    ),
    "pickle in npz": (
        lambda r: np.savez(r / "sample_grid/samples.npz", images=np.array([{"x": 1}], dtype=object)),
        "task6.sample_grid",
        "unreadable arrays",
    ),
    "raw pickle for npz": (
        lambda r: (r / "sample_grid/samples.npz").write_bytes(b"\x80\x04\x95cos\nsystem\n"),
        "task6.sample_grid",
        "not a .npz archive",
    ),
    "symlink outside": (
        lambda r: ((r / "train/loss.csv").unlink(), os.symlink("/etc/passwd", r / "train/loss.csv")),
        "task6.epochs",
        "points outside the submission folder",
    ),
    "directory for file": (
        lambda r: ((r / "fid/metrics.json").unlink(), (r / "fid/metrics.json").mkdir()),
        "task7.fid_claim",
        "not a regular file",
    ),
    "too few samples": (
        lambda r: np.savez(r / "fid/samples.npz", images=np.zeros((10, 32, 32), np.uint8)),
        "task7.sample_counts",
        "10 saved samples",
    ),
    "unbalanced subset": (
        lambda r: np.savez(
            r / "mnist_subset/subset.npz", images=np.zeros((3000, 32, 32), np.uint8), labels=np.zeros(3000, np.uint8)
        ),
        "task3.balanced_subset",
        "per digit",
    ),
}


# three breakages in the fast lane, every one in the full suite (each grades a whole submission: seconds)
FAST_BREAKAGES = {"missing file", "pickle in npz", "nan in json"}


@pytest.mark.parametrize(
    "breakage", [b if b in FAST_BREAKAGES else pytest.param(b, marks=pytest.mark.slow) for b in sorted(BREAKAGES)]
)
def test_each_broken_input_fails_its_check_with_one_line(good, rubric, quick, breakage):
    damage, check, phrase = BREAKAGES[breakage]
    damage(good)
    result = by_name(grade(good, rubric, quick))[check]
    assert result.status == "failed"
    assert phrase in result.measured
    assert "\n" not in result.measured and "Traceback" not in result.measured
    assert result.points == 0


@pytest.mark.slow
@pytest.mark.parametrize("damage", [bomb_png, lambda p: p.write_text("hello")])
def test_a_broken_student_png_is_not_shown_and_costs_nothing(good, rubric, quick, tmp_path, damage):
    damage(good / "train/loss.png")
    results = by_name(grade(good, rubric, quick))
    assert results["task6.loss_falls"].passed and results["task6.loss_falls"].figures == []
    assert grader_main([str(good), "--out", str(tmp_path / "out"), "--no-fid", "--quiet"]) == 1  # incomplete, not crashed
    assert "train/loss.png" not in (tmp_path / "out/report.md").read_text()


# What the grader writes ---------------------------------------------------------------------------------


@pytest.mark.slow
def test_feedback_is_the_same_in_terminal_markdown_notebook_and_results_json(good, tmp_path, capsys):
    csv(good / "train/loss.csv", ["epoch", "loss"], [(e, 1.0) for e in range(1, 201)])
    same = ["--seed", "0", "--draw-seed", "7"]  # the committed run's seed; the picks of a grading reproduced
    code = grader_main([str(good), "--out", str(tmp_path / "out"), "--no-fid", *same])
    assert code == 1
    printed = capsys.readouterr().out
    results = json.loads((tmp_path / "out/results.json").read_text())
    failed = next(t for t in results["tests"] if t["name"].endswith(": loss_falls"))
    assert failed["status"] == "failed" and failed["score"] == 0
    feedback = failed["output"]
    assert feedback.startswith("measured: last tenth") and "\nexpected: <= 0.9\nusual cause: The loss did not fall" in feedback
    report = (tmp_path / "out/report.md").read_text()
    nb = nbformat.read(tmp_path / "out/report.ipynb", as_version=4)
    nbformat.validate(nb)
    notebook_text = "\n".join(cell.source for cell in nb.cells)
    for where in (printed.replace("\n  ", "\n"), report, notebook_text):
        assert feedback in where
    for test in results["tests"]:
        if test["name"].split(": ")[-1] in ("fid_threshold", "fid_claim"):
            assert "status" not in test and test["output"].startswith("NOT RUN") and test["score"] == 0
        else:
            assert test["status"] in ("passed", "failed")
        assert test["visibility"] in ("visible", "hidden", "after_due_date", "after_published")
    assert "(FAIL)" in printed and "(INCOMPLETE)" not in printed  # a failed check outranks the checks not run
    # the grader's own figures are in the report, the student's labelled as such
    assert (tmp_path / "out/figures/task7_digits.png").exists()
    assert "![drawn by the grader](figures/task6_grid.png)" in report
    assert "![the student's sample_grid/grid.png]" in report
    assert sum("image/png" in out.get("data", {}) for c in nb.cells if c.cell_type == "code" for out in c.outputs) >= 8
    # the same grading writes the same bytes (no random cell ids, no timestamps; the picks from the draw seed)
    first = {name: (tmp_path / "out" / name).read_bytes() for name in ("results.json", "report.md", "report.ipynb")}
    assert grader_main([str(good), "--out", str(tmp_path / "out"), "--no-fid", "--quiet", *same]) == 1
    assert first == {name: (tmp_path / "out" / name).read_bytes() for name in first}


def _execute(notebook, folder: Path):
    """``notebook`` run again by a fresh kernel from ``folder``, its stored outputs dropped first."""
    from nbclient import NotebookClient

    again = copy.deepcopy(notebook)
    for cell in again.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    NotebookClient(again, timeout=900, kernel_name="python3", resources={"metadata": {"path": str(folder)}}).execute()
    return again


def _pngs(notebook) -> list[tuple[str, bytes]]:
    return [
        (out["data"]["text/plain"], base64.b64decode(out["data"]["image/png"]))
        for cell in notebook.cells
        if cell.cell_type == "code"
        for out in cell.outputs
    ]


@pytest.mark.slow
def test_the_report_notebook_runs_again_and_draws_the_figures_it_stores_from_the_arrays(good, tmp_path, root, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", str(root))  # the kernel imports this checkout's grader
    out = tmp_path / "out"
    assert grader_main([str(good), "--out", str(out), "--no-fid", "--quiet"]) == 1
    stored = nbformat.read(out / "report.ipynb", as_version=4)
    assert stored.metadata["kernelspec"]["name"] == "python3"
    executed = _execute(stored, out)
    counts = [[c.execution_count for c in nb.cells if c.cell_type == "code"] for nb in (executed, stored)]
    assert counts[0] == counts[1] and counts[0] == list(range(1, len(counts[0]) + 1))
    drawn, shown = _pngs(stored), _pngs(executed)
    assert sum("drawn by the grader" in label for label, _ in drawn) >= 7 and any("the student's" in label for label, _ in drawn)
    assert shown == drawn  # the same labels, the same PNG bytes
    assert (out / "figures/task6_grid.png").read_bytes() in [png for _, png in shown]

    with np.load(good / "sample_grid/samples.npz") as f:  # other samples: only the grid is drawn differently
        np.savez(good / "sample_grid/samples.npz", images=255 - f["images"])
    changed = [label for (label, a), (_, b) in zip(drawn, _pngs(_execute(stored, out))) if a != b]
    assert changed == ["task6_grid.png, drawn by the grader from the submitted arrays"]


@pytest.mark.slow
def test_exit_codes(good, tmp_path):
    assert grader_main([str(good), "--out", str(tmp_path / "a"), "--quiet", "--no-fid"]) == 1  # incomplete
    assert grader_main([str(tmp_path / "nowhere")]) == 2
    bad_rubric = tmp_path / "rubric.yaml"
    bad_rubric.write_text("tasks: [")
    assert grader_main([str(good), "--rubric", str(bad_rubric)]) == 2


def test_a_reference_file_that_does_not_match_the_rubric_stops_grading(good, root, tmp_path, capsys):
    import yaml

    rubric = yaml.safe_load((root / "grader/rubric.yaml").read_text())
    forged = tmp_path / "classifier.pt"
    forged.write_bytes((root / "grader" / rubric["references"]["digit_classifier"]["file"]).read_bytes() + b"\0")
    rubric["references"]["digit_classifier"]["file"] = str(forged)
    (tmp_path / "rubric.yaml").write_text(yaml.safe_dump(rubric))
    assert grader_main([str(good), "--rubric", str(tmp_path / "rubric.yaml"), "--no-fid"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "SHA-256" in err and "digit classifier" in err


@pytest.mark.slow
def test_grader_runs_as_a_module_and_never_imports_submission_code(good, root):
    (good / "sitecustomize.py").write_text("raise SystemExit('executed submission code')")
    (good / "grader").mkdir()
    (good / "grader" / "__init__.py").write_text("raise SystemExit('executed submission code')")
    run = subprocess.run(
        [sys.executable, "-m", "grader", str(good), "--quiet", "--no-fid"], cwd=root, capture_output=True, text=True
    )
    assert run.returncode == 1, run.stdout + run.stderr  # incomplete without the FID, and nothing of the submission ran
    assert "INCOMPLETE" in run.stdout
    assert "executed submission code" not in run.stdout + run.stderr


def test_stages_that_disagree_on_the_seed_fail_and_the_report_names_them(good, rubric, quick, tmp_path):
    results = by_name(grade(good, rubric, quick, Identity.of_seed(0)))
    assert results["run.seed"].passed and results["run.seed"].measured == "seed 0, the one --seed names"
    metrics = json.loads((good / "train/metrics.json").read_text())
    write_json(good / "train/metrics.json", {**metrics, "seed": 7})  # one stage run with another seed
    results = by_name(grade(good, rubric, quick, Identity.of_seed(0)))
    assert not results["run.seed"].passed and "7 (train)" in results["run.seed"].measured
    assert results["run.seed"].max_points > 0 and results["run.seed"].required
    assert "disagree on the run's seed" in results["run.seeded_draws"].measured
    grader_main([str(good), "--out", str(tmp_path / "out"), "--no-fid", "--quiet", "--seed", "0"])
    assert "seeds 0 (gaussian_demo)" in (tmp_path / "out/report.md").read_text()
