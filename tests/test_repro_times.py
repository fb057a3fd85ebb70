"""scripts/repro_times.py: the stage times the README quotes, read from a dvc repro's log and the stages' metrics."""

import json
import subprocess
import sys

import yaml

LOG = """Collecting torch
Running stage 'gaussian_demo':
> python -m stages.gaussian_demo
gaussian_demo: done in 0.2 s
Running stage 'train':
> python -m stages.train
Updating lock file 'dvc.lock'

real\t61m3.250s
user\t110m0.000s
"""


def test_times_come_from_the_stages_that_ran_and_their_own_metrics(root, tmp_path):
    reports = tmp_path / "reports"
    for stage, seconds in (("gaussian_demo", 0.25), ("train", 1234.5), ("fid", 99.0)):  # fid did not run
        (reports / stage).mkdir(parents=True)
        (reports / stage / "metrics.json").write_text(json.dumps({"seconds": seconds}))
    (tmp_path / "repro.log").write_text(LOG)
    out = tmp_path / "times.json"
    script = root / "scripts" / "repro_times.py"
    subprocess.run(
        [sys.executable, str(script), str(tmp_path / "repro.log"), "--reports", str(reports), "--out", str(out)], check=True
    )
    times = json.loads(out.read_text())
    assert times["stage_seconds"] == {"gaussian_demo": 0.25, "train": 1234.5}
    assert times["wall_seconds_with_setup"] == round(61 * 60 + 3.25, 1) and times["stages_seconds_total"] == 1234.8
    (tmp_path / "empty.log").write_text("nothing ran\n")
    failed = subprocess.run(
        [sys.executable, str(script), str(tmp_path / "empty.log"), "--out", str(out)], capture_output=True, text=True
    )
    assert failed.returncode != 0 and "not the log of a dvc repro" in failed.stderr


def test_the_committed_times_are_those_of_every_stage_of_the_committed_run(root):
    times = json.loads((root / "reports" / "repro_times.json").read_text())
    stages = yaml.safe_load((root / "dvc.yaml").read_text())["stages"]
    assert set(times["stage_seconds"]) == set(stages)  # a repro ran them all (some perhaps rerun since: --update)
    for stage, seconds in times["stage_seconds"].items():
        assert json.loads((root / "reports" / stage / "metrics.json").read_text())["seconds"] == seconds
    assert times["wall_seconds_with_setup"] > times["stages_seconds_total"] > 0


def test_an_update_replaces_the_rerun_stages_and_moves_the_wall_time(root, tmp_path):
    reports = tmp_path / "reports"
    for stage, seconds in (("gaussian_demo", 0.25), ("train", 1500.0)):
        (reports / stage).mkdir(parents=True)
        (reports / stage / "metrics.json").write_text(json.dumps({"seconds": seconds}))
    out = tmp_path / "times.json"
    before = {
        "date": "2026-01-01",
        "cpu": "x",
        "cores": 2,
        "wall_seconds_with_setup": 3000.0,
        "stage_seconds": {"gaussian_demo": 0.25, "train": 1000.0, "fid": 400.0},
        "stages_seconds_total": 1400.25,
    }
    out.write_text(json.dumps(before))
    (tmp_path / "rerun.log").write_text("Running stage 'train':\n> python -m stages.train\n")

    def update(log):
        script = root / "scripts" / "repro_times.py"
        command = [sys.executable, str(script), str(log), "--reports", str(reports), "--out", str(out), "--update"]
        return subprocess.run(command, capture_output=True, text=True)

    assert update(tmp_path / "rerun.log").returncode == 0
    times = json.loads(out.read_text())
    assert times["stage_seconds"] == {"gaussian_demo": 0.25, "train": 1500.0, "fid": 400.0}
    assert times["wall_seconds_with_setup"] == 3500.0 and times["stages_seconds_total"] == 1900.2
    assert times["rerun_stages"] == ["train"] and times["date"] == "2026-01-01"
    (tmp_path / "other.log").write_text("Running stage 'digit_classifier':\n")
    failed = update(tmp_path / "other.log")
    assert failed.returncode != 0 and "no seconds to replace for digit_classifier" in failed.stderr
