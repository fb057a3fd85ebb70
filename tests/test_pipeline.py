"""The whole pipeline, for real, at tiny sizes: `dvc repro` in a throwaway git + DVC copy of the project,
the grader on its reports, then DVC's experiments, remote and lock on the same copy."""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from ddpm_lab.config import pipeline_paths as artifacts  # dvc.yaml's paths

pytestmark = pytest.mark.slow  # the pipeline under DVC, for real: minutes

PROJECT_FILES = ("stages", "ddpm_lab", "grader", "scripts", "dvc.yaml", "params.yaml", ".gitignore", "pyproject.toml")


def tiny_params(root: Path, mnist_dir: Path) -> dict:
    params = yaml.safe_load((root / "params.yaml").read_text())
    params["data"].update(mnist_dir=str(mnist_dir), n_train=100)
    params["model"].update(base_channels=8, channel_mults=[1, 2], patch_size=2, full_res_channels=8)
    params["train"].update(epochs=3, batch_size=16, checkpoint_every=1, warmup_steps=1, learning_rate=0.005)
    params["sampler"].update(steps=10, batch_size=16)
    params["fid"].update(n_generated=20, n_reference=20, n_floor=20, batch_size=10)
    params["digit_classifier"].update(n_train=200, epochs=1, batch_size=50)
    return params


def tiny_rubric(root: Path, project: Path, path: Path) -> Path:
    """The shipped rubric with its sizes scaled to the tiny run, measured against the tiny run's own 20-image
    reference statistics; the FID threshold and the digit checks (a 3-epoch model draws no digits) are waived,
    visibly."""
    rubric = yaml.safe_load((root / "grader/rubric.yaml").read_text())
    rubric["lab"] += " (tiny integration run: sizes scaled down, FID threshold and digit checks waived)"
    stats = artifacts(project)["reference_stats"]
    record = project / "reports/fid_reference/metrics.json"  # the tiny stage's record of the tiny statistics
    rubric["references"]["fid_statistics"].update(file=str(stats), recorded_in=str(record))
    rubric["references"]["digit_classifier"]["file"] = str(artifacts(root)["classifier"])
    checks = {t: spec["checks"] for t, spec in rubric["tasks"].items()}
    checks["task3"]["balanced_subset"].update(n_images=100)
    checks["task6"]["epochs"]["min_epochs"] = 3
    checks["task6"]["loss_matches_weights"].update(last_epochs=1, ratio=[0.5, 2.0])  # 3 epochs: the loss still falls fast
    checks["task7"]["sample_counts"].update(min_generated=20)
    checks["task7"]["fid_threshold"].update(max_fid=1e9)
    for name in ("sample_grid", "digits_recognised", "black_backgrounds"):
        (checks["task6"] if name == "sample_grid" else checks["task7"])[name]["required"] = False
    path.write_text(yaml.safe_dump(rubric))
    return path


def run(cmd, cwd, check=True, **kw):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, env=env, **kw)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc


@pytest.fixture(scope="module")
def project(root, mnist_dir, tmp_path_factory):
    work = tmp_path_factory.mktemp("pipeline") / "lab"
    work.mkdir()
    for name in PROJECT_FILES:
        src = root / name
        (
            shutil.copytree(src, work / name, ignore=shutil.ignore_patterns("__pycache__"))
            if src.is_dir()
            else shutil.copy(src, work / name)
        )
    (work / "params.yaml").write_text(yaml.safe_dump(tiny_params(root, mnist_dir), sort_keys=False))
    run(["git", "init", "-q", "-b", "main"], work)
    run(["git", "config", "user.email", "ci@example.invalid"], work)
    run(["git", "config", "user.name", "ci"], work)
    run(["dvc", "init", "-q"], work)
    run(["dvc", "config", "core.autostage", "true"], work)
    run(["git", "add", "-A"], work)
    run(["git", "commit", "-qm", "tiny lab"], work)
    run(["dvc", "repro"], work, timeout=1500)
    run(["git", "add", "-A"], work)
    run(["git", "commit", "-qm", "tiny run"], work)
    return work


def test_repro_produces_every_stage_output(project):
    for stage in (
        "gaussian_demo",
        "gndm_fit",
        "mnist_subset",
        "forward_demo",
        "train",
        "sample_grid",
        "digit_classifier",
        "fid_reference",
        "fid_floor",
        "fid",
    ):
        metrics = json.loads((project / "reports" / stage / "metrics.json").read_text())
        assert metrics["seconds"] > 0, stage
    fid = json.loads((project / "reports/fid/metrics.json").read_text())
    assert fid["n_generated"] == 20 and fid["n_reference"] == 20 and np.isfinite(fid["fid"]) and fid["fid"] > 0
    with np.load(project / "reports/fid/samples.npz") as f:
        assert f["images"].shape == (20, 32, 32) and f["images"].dtype == np.uint8
    assert artifacts(project)["model"].exists()
    assert "Data and pipelines are up to date" in run(["dvc", "status"], project).stdout


def test_grader_passes_the_tiny_run_with_its_scaled_rubric(project, root, mnist_dir, tmp_path):
    rubric = tiny_rubric(root, project, tmp_path / "tiny.yaml")
    proc = run(
        [
            sys.executable,
            "-m",
            "grader",
            str(project / "reports"),
            "--rubric",
            str(rubric),
            "--out",
            str(tmp_path / "out"),
            "--mnist-dir",
            str(mnist_dir),
            "--seed",
            "0",
        ],
        root,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-3000:]
    tests = {t["name"].split(": ")[-1]: t for t in json.loads((tmp_path / "out/results.json").read_text())["tests"]}
    claimed = json.loads((project / "reports/fid/metrics.json").read_text())["fid"]
    assert tests["fid_claim"]["status"] == "passed" and f"claimed {claimed:.3f}, recomputed" in tests["fid_claim"]["output"]
    assert "FID threshold and digit checks waived" in (tmp_path / "out/report.md").read_text()
    shipped = json.loads((project / "reports/digit_classifier/metrics.json").read_text())
    assert shipped["n_train"] == 200 and 0 <= shipped["test_accuracy"] <= 1


def test_a_class_of_three_where_one_hands_in_anothers_run(project, root, mnist_dir, tmp_path):
    """alice ran the tiny lab (seed 0 on the roster), bob ran it with his own seed, carol handed in alice's
    reports: carol fails run.seed with alice named, the pair is listed with identical weights, bob and alice pass."""
    import pandas as pd

    bob = tmp_path / "bob_lab"
    shutil.copytree(project, bob, symlinks=True)
    params = yaml.safe_load((bob / "params.yaml").read_text())
    (bob / "params.yaml").write_text(yaml.safe_dump({**params, "seed": 1}, sort_keys=False))
    run(["dvc", "repro"], bob, timeout=1500)
    subs, skipped = tmp_path / "subs", shutil.ignore_patterns("grading")
    for student, lab in (("alice", project), ("bob", bob), ("carol", project)):
        shutil.copytree(lab / "reports", subs / student / "reports", ignore=skipped)
    (tmp_path / "seeds.csv").write_text("student_id,seed\nalice,0\nbob,1\ncarol,2\n")
    rubric = tiny_rubric(root, project, tmp_path / "tiny.yaml")
    folders = [str(subs / s / "reports") for s in ("alice", "bob", "carol")]
    proc = run(
        [sys.executable, "-m", "grader", *folders, "--roster", str(tmp_path / "seeds.csv"), "--rubric", str(rubric)]
        + [
            "--csv",
            str(tmp_path / "grades.csv"),
            "--no-fid",
            "--mnist-dir",
            str(mnist_dir),
            "--workers",
            "1",
            "--draw-seed",
            "0",
        ],
        root,
        check=False,
    )
    assert proc.returncode == 1, proc.stdout[-3000:] + proc.stderr[-3000:]  # without the FID every verdict is incomplete
    grades = pd.read_csv(tmp_path / "grades.csv").set_index("student_id")
    tied = ["run.seed", "run.seeded_draws", "task6.grid_regenerates", "task7.samples_regenerate", "task6.loss_matches_weights"]
    assert (grades.loc[["alice", "bob"], tied] > 0).all().all(), grades[tied]
    assert grades.loc["carol", "run.seed"] == 0 and (grades.loc["carol", tied[1:]] > 0).all()
    carol = {t["name"].split(": ")[-1]: t for t in json.loads((subs / "carol/reports/grading/results.json").read_text())["tests"]}
    assert "seed 0, not carol's seed 2 (the folder's name); 0 is the seed of alice on the roster" in carol["seed"]["output"]
    copies = pd.read_csv(tmp_path / "grades.copies.csv")
    assert len(copies) == 1 and "identical weights" in copies.iloc[0]["kinds"].split("; ")
    assert {Path(copies.iloc[0]["a"]).parent.name, Path(copies.iloc[0]["b"]).parent.name} == {"alice", "carol"}


def test_repro_twice_is_deterministic(project):
    """Training again from scratch (no resume checkpoint) gives the same bytes: weights, loss, samples."""
    outputs = (project / "reports/train/loss.csv", artifacts(project)["model"], project / "reports/sample_grid/samples.npz")
    before = {path: path.read_bytes() for path in outputs}
    shutil.rmtree(artifacts(project)["resume"].parent)
    run(["dvc", "repro", "--force", "--single-item", "train"], project, timeout=600)
    run(["dvc", "repro", "--force", "--single-item", "sample_grid"], project, timeout=600)
    for path in outputs:
        assert path.read_bytes() == before[path], path
    assert "Data and pipelines are up to date" in run(["dvc", "status"], project).stdout


TIMINGS = {"seconds", "train_seconds", "images_per_second"}


def test_the_student_edition_with_its_solutions_put_back_reproduces_the_run_byte_for_byte(project, tmp_path):
    """`python -m grader assign`, its stubs written back with the solution, at the tiny run's sizes and seed: the
    README's commands, as written, reproduce the tiny run itself; the student's check passes the functions, and
    fails Task 3's graded check of the tiny subset (100 images where the lab asks for 3000) with the grader's rule."""
    from grader import assign, markers

    edition = tmp_path / "edition"
    assign.write_edition(edition)
    for stub in markers.stubs(project):
        shutil.copy(project / stub["file"], edition / stub["file"])  # the functions written
    tiny = yaml.safe_load((project / "params.yaml").read_text())  # the tiny run's values of the edition's own keys
    keys = yaml.safe_load((edition / "params.yaml").read_text())
    mine = {name: {k: tiny[name][k] for k in v} if isinstance(v, dict) else tiny[name] for name, v in keys.items()}
    (edition / "params.yaml").write_text(yaml.safe_dump(mine, sort_keys=False))
    shutil.copy(artifacts(project)["reference_stats"], artifacts(edition)["reference_stats"])  # the tiny reference
    run(["git", "add", "-A"], edition)
    run(["git", "-c", "user.email=a@b", "-c", "user.name=a", "commit", "-qm", "my functions, tiny sizes"], edition)
    readme = (edition / "README.md").read_text()
    block = readme.split("## The lab's run", 1)[1].split("```bash\n", 1)[1].split("```", 1)[0]
    commands = [line.split("  #")[0].split() for line in block.splitlines() if line.strip()]
    assert commands[0] == ["dvc", "repro"]
    for command in commands:
        run(command, edition, timeout=1500)
    compared = 0
    for name in ("train_images", "reference_images", "floor_images", "model", "floor_stats"):
        assert artifacts(edition)[name].read_bytes() == artifacts(project)[name].read_bytes(), name
        compared += 1
    for path in sorted((edition / "reports").rglob("*")):
        if path.is_file():
            theirs = project / path.relative_to(edition)
            if path.name == "metrics.json":
                ours, reference = (
                    {k: v for k, v in json.loads(p.read_text()).items() if k not in TIMINGS} for p in (path, theirs)
                )
                assert ours == reference, path
            else:
                assert path.read_bytes() == theirs.read_bytes(), path
            compared += 1
    assert compared >= 30
    mnist = tiny_params_dir(project)
    checked = run([sys.executable, "-m", "ddpm_lab.check", "--mnist-dir", mnist], edition, check=False)
    lines = checked.stdout.splitlines()[:-1]
    failed = [line for line in lines if not line.startswith("PASS")]
    assert checked.returncode == 1 and len(failed) == 1 and "graded check balanced_subset" in failed[0], checked.stdout
    assert "100 images" in failed[0] and "3000 distinct MNIST training images" in failed[0]


def tiny_params_dir(project: Path) -> str:
    return yaml.safe_load((project / "params.yaml").read_text())["data"]["mnist_dir"]


def test_experiment_changes_epochs_and_exp_show_lists_fid_and_loss(project):
    proc = run(["dvc", "exp", "run", "-S", "train.epochs=2", "-n", "two-epochs"], project, timeout=900)
    log = proc.stdout + proc.stderr
    ran = set(re.findall(r"Running stage '(\w+)'", log))
    assert ran == {"train", "sample_grid", "fid"}, log[-2000:]  # what depends on train.epochs, and nothing else
    shown = json.loads(run(["dvc", "exp", "show", "--json"], project).stdout)
    epochs = set(collect(shown, "reports/train/metrics.json", "epochs"))
    assert {2, 3} <= epochs and "two-epochs" in json.dumps(shown)  # the experiment and the workspace's run
    assert set(collect(shown, "reports/fid/metrics.json", "fid")) and set(
        collect(shown, "reports/train/metrics.json", "final_loss")
    )


def test_remote_push_fresh_clone_pull_gives_identical_outputs(project, tmp_path):
    remote = tmp_path / "remote"
    run(["dvc", "remote", "add", "-f", "-d", "shared", str(remote)], project)
    run(["git", "commit", "-qam", "remote"], project)
    run(["dvc", "push"], project, timeout=600)
    clone = tmp_path / "clone"
    run(["git", "clone", "-q", str(project), str(clone)], tmp_path)
    run(["dvc", "pull"], clone, timeout=600)
    for name in ("model", "floor_stats", "train_images"):
        rel = artifacts(project)[name].relative_to(project)
        assert (clone / rel).read_bytes() == (project / rel).read_bytes()
    assert "Data and pipelines are up to date" in run(["dvc", "status"], clone).stdout


def test_a_second_repro_in_the_same_workspace_is_refused_by_the_lock(project):
    import time

    env = {**os.environ, "OMP_NUM_THREADS": "1", "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    shutil.rmtree(artifacts(project)["resume"].parent, ignore_errors=True)  # so the first repro really trains, holding the lock
    first = subprocess.Popen(
        ["dvc", "repro", "--force", "train"], cwd=project, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        deadline = time.time() + 60
        while time.time() < deadline and first.poll() is None and not (project / "reports/train").exists():
            time.sleep(0.2)
        time.sleep(2)  # the first is now inside its stage, holding the lock
        assert first.poll() is None, "the first repro ended before the second could race it"
        second = run(["dvc", "repro", "train"], project, check=False)
        assert second.returncode != 0
        assert "lock" in (second.stdout + second.stderr).lower()
    finally:
        first.wait(timeout=600)
    assert first.returncode == 0
    assert "Data and pipelines are up to date" in run(["dvc", "status"], project).stdout


def test_queued_sweep_runs_both_experiments(project):
    run(["dvc", "exp", "run", "--queue", "-S", "train.epochs=1,2"], project)
    run(["dvc", "queue", "start", "-j", "2"], project)
    import time

    deadline = time.time() + 1200
    while time.time() < deadline:
        status = run(["dvc", "queue", "status"], project).stdout
        if "Queued" not in status and "Running" not in status:
            break
        time.sleep(5)
    assert status.count("Success") >= 2, status
    shown = json.loads(run(["dvc", "exp", "show", "--json"], project).stdout)
    trained = set(collect(shown, "reports/train/metrics.json", "epochs"))
    assert {1, 2} <= trained


def collect(node, file_key, field):
    """Every value of ``field`` inside any ``file_key`` entry of dvc exp show's JSON."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == file_key:
                data = value.get("data", value) if isinstance(value, dict) else {}
                if isinstance(data, dict) and field in data:
                    yield data[field]
            yield from collect(value, file_key, field)
    elif isinstance(node, list):
        for item in node:
            yield from collect(item, file_key, field)


def test_a_sampler_experiment_reuses_the_trained_model_and_is_measured_as_the_grader_measures(project, root, tmp_path):
    """An ablation row is a DVC experiment: a sampler key reaches the sampling stages only (the model comes from the
    cache), and scripts/experiments.py adds the grader's measures of the samples the experiment committed."""
    import pandas as pd

    keys = ["-S", "sampler.steps=4", "-S", "sampler.use_ema=false", "-S", "fid.n_generated=12", "-S", "fid.n_floor=12"]
    proc = run(["dvc", "exp", "run", "-n", "raw-4-steps", *keys], project, timeout=900)
    ran = set(re.findall(r"Running stage '(\w+)'", proc.stdout + proc.stderr))
    assert ran == {"mnist_subset", "sample_grid", "fid_floor", "fid"}, ran  # no training: the cached model is reused
    out, rubric = tmp_path / "measured", tiny_rubric(root, project, tmp_path / "rubric.yaml")
    script = str(root / "scripts" / "experiments.py")
    mnist = tiny_params_dir(project)
    run(
        [
            sys.executable,
            script,
            "raw-4-steps",
            "--root",
            str(project),
            "--rubric",
            str(rubric),
            "--mnist-dir",
            mnist,
            "--out",
            str(out),
        ],
        root,
    )
    table = pd.read_csv(out / "table.csv")
    assert list(table["experiment"]) == ["raw-4-steps"] and int(table["n"].iloc[0]) == 12
    changed = {"sampler.steps": 4, "sampler.use_ema": False, "fid.n_generated": 12, "fid.n_floor": 12}
    assert {k: table[k].iloc[0] for k in changed} == changed and "train.epochs" not in table  # its keys, and only those
    shown = json.loads(run(["dvc", "exp", "show", "--json"], project).stdout)
    import experiments  # scripts/ (pyproject's pythonpath)

    listed = {e["name"]: e for e in experiments.experiments(shown)}
    fid = listed["raw-4-steps"]["metrics"]["reports/fid/metrics.json"]
    assert listed["raw-4-steps"]["params"]["sampler.steps"] == 4 and fid["n_generated"] == 12
    assert table["fid"].iloc[0] == round(fid["fid"], 2) and table["fid_over_floor"].iloc[0] == round(fid["fid_over_floor"], 2)
    counts = [int(c) for c in table["digit_counts"].iloc[0].split("/")]
    assert len(counts) == 10 and sum(counts) + round(table["not_digits"].iloc[0] * 12) == 12  # every sample called
    assert 0 <= table["near_copies"].iloc[0] <= 1 and table["cpu_minutes_per_200_epochs"].iloc[0] > 0
    assert "raw-4-steps" in (out / "table.md").read_text()
    refused = run([sys.executable, script, "no-such-run", "--root", str(project)], root, check=False)
    assert refused.returncode != 0 and "no experiment named no-such-run" in refused.stderr
