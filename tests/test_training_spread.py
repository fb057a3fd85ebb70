"""scripts/training_spread.py, the source of reports/training_spread/ (docs/benchmark.md, "The spread a lever must
hold"), at tiny sizes: a second training with another seed, its FID at two sample counts, bf16 sampling against
fp32, and a rerun that keeps what was measured."""

import importlib
import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from ddpm_lab import speed

TINY = ["train.epochs=2", "train.batch_size=16", "model.base_channels=8", "sampler.steps=4", "sampler.batch_size=4"]


def run(root, tmp_path, *extra):
    images = np.load(root / "reports/mnist_subset/subset.npz")["images"][:32]
    np.savez(tmp_path / "train.npz", images=(images[:, None].astype(np.float32) / 255 * 2 - 1))
    args = [
        "--n",
        "6",
        "10",
        "--bf16-samples",
        "3",
        "--tf32-samples",
        "3",
        "--train-images",
        str(tmp_path / "train.npz"),
        "--work",
        str(tmp_path / "work"),
        "--out",
        str(tmp_path / "out"),
    ]
    command = [sys.executable, str(root / "scripts/training_spread.py"), *args, *extra]
    for pair in TINY:
        command += ["--set", pair]
    return subprocess.run(command, capture_output=True, text=True)


@pytest.mark.slow
def test_the_spread_script_trains_again_measures_fid_and_bf16_and_keeps_its_rows_on_a_rerun(root, tmp_path):
    first = run(root, tmp_path)
    assert first.returncode == 0, first.stderr[-2000:]
    record = json.loads((tmp_path / "out/rows.json").read_text())
    rows = record["rows"]
    assert list(rows) == ["bf16_sampling", "tf32_sampling", "seed_1"]  # the committed model: only without --set
    trained = rows["seed_1"]
    assert trained["fid_n6"] > 0 and trained["fid_n10"] > 0 and trained["resumed_from_epoch"] == 0
    assert (tmp_path / "work/resume_seed1.pt").exists()
    sampled = rows["bf16_sampling"]
    assert sampled["k"] == 3 and sampled["tolerance"] == 8 and sampled["max_pixel_difference"] >= 0
    assert sampled["bf16"] == ("native" if speed.native_bf16() else "emulated (no native bf16 on this CPU)")
    assert rows["tf32_sampling"]["k"] == 3 and rows["tf32_sampling"]["max_pixel_difference"] >= 0
    assert record["settings"]["native_bf16"] == speed.native_bf16()
    assert set(record["made_by"]) == set(rows)
    assert "| trained again from the initial weights of run seed 1 |" in (tmp_path / "out/table.md").read_text()

    again = run(root, tmp_path)  # the same command: nothing measured twice
    assert again.returncode == 0, again.stderr[-2000:]
    assert "kept from" in again.stdout and json.loads((tmp_path / "out/rows.json").read_text())["rows"] == rows

    bf16 = run(root, tmp_path, "--training-seed", "0", "--bf16-training", "--bf16-samples", "0", "--tf32-samples", "0")
    assert bf16.returncode == 0, bf16.stderr[-2000:]
    record = json.loads((tmp_path / "out/rows.json").read_text())
    assert list(record["rows"]) == [*rows, "seed_0_bf16"] and record["rows"]["seed_0_bf16"]["fid_n10"] > 0
    assert "--bf16-training" in record["made_by"]["seed_0_bf16"] and "--bf16-training" not in record["made_by"]["seed_1"]
    assert (tmp_path / "work/resume_seed0_bf16.pt").exists()
    if not speed.native_bf16():
        assert "no native bf16; emulated" in bf16.stdout

    whole = run(root, tmp_path, "--whole-run", "--bf16-samples", "0", "--tf32-samples", "0")
    assert whole.returncode == 0, whole.stderr[-2000:]
    rows = json.loads((tmp_path / "out/rows.json").read_text())["rows"]
    assert list(rows)[-1] == "seed_1_whole_run" and rows["seed_1_whole_run"]["fid_n10"] > 0
    assert rows["seed_1_whole_run"]["last_tenth_loss"] != rows["seed_1"]["last_tenth_loss"]
    # the same initial weights; the batches, t and ε of the run seed's generator: seed 1's, not params.yaml's 0
    draws = {
        v: torch.load(tmp_path / f"work/resume_{v}.pt", weights_only=True)["identity"]["settings"]["seed"]
        for v in ("seed1", "seed1_whole_run")
    }
    assert draws == {"seed1": 0, "seed1_whole_run": 1}


def test_the_spread_script_refuses_the_committed_models_own_seed(root, tmp_path):
    proc = run(root, tmp_path, "--training-seed", "0")
    assert proc.returncode == 2 and "params.yaml's seed" in proc.stderr
    proc = run(root, tmp_path, "--whole-run", "--bf16-training")
    assert proc.returncode == 2 and "--whole-run measures fp32's spread" in proc.stderr


def test_tf32_rounding_keeps_ten_mantissa_bits_and_the_convolutions_weights_come_back(root, monkeypatch):
    monkeypatch.syspath_prepend(str(root / "scripts"))  # the scripts import their siblings so
    script = importlib.import_module("training_spread")
    tf32_convolutions, tf32_rounded = script.tf32_convolutions, script.tf32_rounded

    x = torch.tensor([1 + 2**-10, 1 + 2**-11 + 2**-13, 1 + 2**-12, -3.0, 0.0])
    assert tf32_rounded(x).tolist() == [1 + 2**-10, 1 + 2**-10, 1.0, -3.0, 0.0]  # the 11th bit rounds up
    conv = torch.nn.Conv2d(1, 2, 3)
    before = conv.weight.detach().clone()
    with tf32_convolutions(conv):
        assert torch.equal(conv.weight, tf32_rounded(before)) and not torch.equal(conv.weight, before)
        image = torch.rand(1, 1, 5, 5)
        expected = torch.nn.functional.conv2d(tf32_rounded(image), tf32_rounded(before), conv.bias)
        assert torch.equal(conv(image), expected)
    assert torch.equal(conv.weight, before) and not conv._forward_pre_hooks
