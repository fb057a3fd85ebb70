"""scripts/benchmark.py at tiny sizes: the real timing code path for both models, JSON written."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_benchmark_times_ours_and_the_peer_and_writes_ratios(tmp_path):
    pytest.importorskip("diffusers", reason="the peer needs the bench extra (scripts/setup.sh installs it)")
    out = tmp_path / "bench.json"
    cmd = [
        sys.executable,
        str(ROOT / "scripts/benchmark.py"),
        "--out",
        str(out),
        "--train-batch",
        "4",
        "--train-steps",
        "1",
        "--sample-batches",
        "2",
        "3",
        "--sample-steps",
        "2",
        "--fid-images",
        "2",
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(out.read_text())
    assert result == json.loads(proc.stdout[proc.stdout.index("{\n") :])  # what it printed is what it wrote
    for who in ("ours", "peer"):
        assert result[who]["train_images_per_s"] > 0
        rates = result[who]["sample_images_per_s_by_batch"]
        assert set(rates) == {"2", "3"} and result[who]["sample_images_per_s"] == max(rates.values())
    assert result["peer"]["parameters"] > result["ours"]["parameters"]
    assert result["ratios"]["train_images_per_s"] == pytest.approx(
        result["ours"]["train_images_per_s"] / result["peer"]["train_images_per_s"]
    )
    assert result["fid_features_images_per_s"] > 0
