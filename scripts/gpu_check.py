"""The GPU figures in one run, against the goals on an H200; → reports/benchmark/gpu.json, rewritten after each phase.

1. ``parts``: 200 epochs of training (the real loop: bf16 autocast, fused Adam, one host wait per epoch) timed
   over a few epochs on 3000 images; 5000 samples × 500 steps of the lab's sampler in one batch, eager and
   with ``torch.compile(mode="reduce-overhead")`` (CUDA graphs); Inception images/s on the device.
2. ``repro``: a full ``dvc repro`` at the lab's settings (the sampler's and Inception's batches raised) in a fresh
   copy of the project (no DVC cache, the MNIST files linked in), its wall time and each stage's own seconds; then
   the grader's regeneration checks on its reports, run on the CPU as an instructor runs them: whether the
   samples drawn on the GPU are drawn again from the weights within the rubric's tolerance.

On the GPU machine (the project's packages that its image lacks carried as wheels; docs/benchmark.md), with the
project importable from its root (``scripts/setup.sh`` installs it; without that, ``PYTHONPATH=.``):

    PYTHONPATH=. python scripts/gpu_check.py --out $OUT/gpu.json

Tried end to end on a CPU first, at tiny sizes (every stage of the pipeline runs, a few seconds each):

    .venv/bin/python scripts/gpu_check.py --tiny --out /tmp/gpu.json
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import yaml

from ddpm_lab import io
from ddpm_lab.config import Device, load, read, with_overrides
from ddpm_lab.sampler import SamplerConfig, sample
from ddpm_lab.schedule import NoiseSchedule
from ddpm_lab.training import TrainConfig, train
from ddpm_lab.unet import UNet, UNetConfig

from _machine import cpu_model  # a sibling: scripts/ is sys.path[0]

ROOT = Path(__file__).resolve().parent.parent

GOALS_SECONDS = {"train_200_epochs": 15, "sample_5000_x_500_steps": 10, "dvc_repro": 60}
LAB = {"train_images": 3000, "epochs": 200, "samples": 5000, "sampler_steps": 500, "inception_images": 2000}
TINY = {"train_images": 64, "epochs": 2, "samples": 4, "sampler_steps": 3, "inception_images": 4}
# the lab's settings with the batch sizes params.yaml says to raise on a GPU (its defaults fit a 2-core CPU's caches)
GPU_BATCHES = {"sampler.batch_size": 2000, "fid.batch_size": 250}
TINY_PARAMS = {  # params.yaml of the tiny repro: every stage runs, each in seconds
    "data.n_train": 100,
    "model.base_channels": 8,
    "train.epochs": 2,
    "train.batch_size": 16,
    "train.warmup_steps": 1,
    "sampler.steps": 5,
    "sampler.batch_size": 16,
    "fid.n_generated": 20,
    "fid.n_reference": 20,
    "fid.n_floor": 20,
    "digit_classifier.n_train": 200,
    "digit_classifier.epochs": 1,
}
REGENERATION_CHECKS = ("grid_regenerates", "samples_regenerate")  # the rubric's checks that draw samples again
# what a fresh clone lacks: git's and DVC's own folders are made anew, the data and the cache are not there
COPY_IGNORED = shutil.ignore_patterns(".git", ".dvc", ".venv", "data", "__pycache__", ".whl", ".pytest_cache", ".gl")


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def time_training(cfg, sizes: dict, device: torch.device) -> dict:
    """Seconds per epoch of :func:`ddpm_lab.training.train` after a warm-up epoch, times the lab's 200."""
    images = torch.rand(sizes["train_images"], 1, cfg.model.image_size, cfg.model.image_size) * 2 - 1
    config = dataclasses.replace(cfg.train, epochs=1)
    model = UNet(cfg.model, cfg.schedule)
    train(model, cfg.schedule, images, config, device)  # warm-up: kernels chosen, memory pooled
    epochs = sizes["epochs"]
    sync(device)
    start = time.perf_counter()
    train(model, cfg.schedule, images, dataclasses.replace(config, epochs=epochs), device)
    sync(device)
    per_epoch = (time.perf_counter() - start) / epochs * 3000 / sizes["train_images"]
    return {"seconds_per_epoch_of_3000": per_epoch, "train_200_epochs_s": 200 * per_epoch, "batch_size": config.batch_size}


@torch.no_grad()
def time_sampling(cfg, sizes: dict, device: torch.device, compiled: bool) -> float:
    """Seconds for ``samples`` samples × ``sampler_steps`` steps of the lab's sampler in one batch."""
    model = UNet(cfg.model, cfg.schedule).to(device).eval()
    net = torch.compile(model, mode="reduce-overhead") if compiled else model
    n, steps = sizes["samples"], sizes["sampler_steps"]
    schedule = NoiseSchedule.from_alphas(cfg.schedule.alphas[: steps + 1]) if steps < cfg.schedule.steps else cfg.schedule
    config = SamplerConfig.literal(batch_size=n)
    short = NoiseSchedule.from_alphas(schedule.alphas[:3])
    sample(net, short, n, (1, cfg.model.image_size, cfg.model.image_size), config, device=device)  # warm-up, compile
    sync(device)
    start = time.perf_counter()
    sample(net, schedule, n, (1, cfg.model.image_size, cfg.model.image_size), config, device=device)
    sync(device)
    return time.perf_counter() - start


def time_inception(sizes: dict, device: torch.device) -> dict:
    from ddpm_lab.inception import FeatureExtractor

    n = sizes["inception_images"]
    extractor = FeatureExtractor(device=device, batch_size=min(n, 250))
    images = (np.random.default_rng(0).random((n, 32, 32)) * 255).astype(np.uint8)
    extractor.features(images[:2])
    start = time.perf_counter()
    extractor.features(images)
    return {"runtime": extractor.runtime, "images_per_s": n / (time.perf_counter() - start), "batch_size": extractor.batch_size}


def parts(cfg, sizes: dict, device: torch.device, compile_sampler: bool) -> dict:
    out = {"training": time_training(cfg, sizes, device)}
    eager = time_sampling(cfg, sizes, device, compiled=False)
    out["sampling"] = {"samples": sizes["samples"], "steps": sizes["sampler_steps"], "eager_s": eager}
    if compile_sampler:
        graphs = time_sampling(cfg, sizes, device, compiled=True)
        out["sampling"] |= {"cuda_graphs_s": graphs, "cuda_graphs_speedup": eager / graphs}
    out["sampling"]["best_s"] = min(eager, out["sampling"].get("cuda_graphs_s", eager))
    out["inception"] = time_inception(sizes, device)
    return out


def repro(work: Path, mnist_dir: Path, overrides: dict) -> dict:
    """``dvc repro`` in a fresh copy of the project (no DVC cache), reading MNIST from ``mnist_dir``: wall seconds
    and each stage's own."""
    shutil.copytree(ROOT, work, ignore=COPY_IGNORED)
    params = with_overrides(read(work / "params.yaml"), {"data.mnist_dir": str(mnist_dir.resolve()), **overrides})
    (work / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    env = {**os.environ, "DVC_NO_ANALYTICS": "1", "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    dvc = [sys.executable, "-m", "dvc"]
    commit = ["git", "-c", "user.name=lab", "-c", "user.email=lab@invalid", "commit", "-qm", "lab"]
    for cmd in (["git", "init", "-q"], [*dvc, "init", "-q"], ["git", "add", "-A"], commit):
        subprocess.run(cmd, cwd=work, check=True, env=env)
    start = time.perf_counter()
    proc = subprocess.run([*dvc, "repro"], cwd=work, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    ran = [line.split("'")[1] for line in proc.stdout.splitlines() if line.startswith("Running stage '")]
    stages = {}
    for stage in ran:
        metrics = work / "reports" / stage / "metrics.json"
        if metrics.exists():
            stages[stage] = json.loads(metrics.read_text()).get("seconds")
    result = {"returncode": proc.returncode, "wall_s": wall, "stages_run": ran, "stage_seconds": stages}
    if proc.returncode:
        result["error"] = (proc.stdout + proc.stderr)[-2000:]
    else:
        result["regenerated_on_cpu"] = regenerated_on_cpu(work / "reports", mnist_dir, params["seed"])
    return result


def regenerated_on_cpu(reports: Path, mnist_dir: Path, seed: int) -> dict:
    """The grader's checks that draw a run's samples again from its weights, run as an instructor runs them: on
    the CPU (CUDA hidden), in fp32. Each check's status and what it said: whether samples this device drew are
    drawn again there within the rubric's tolerance."""
    out = reports.parent / "grading"
    command = [sys.executable, "-m", "grader", str(reports), "--no-fid", "--seed", str(seed), "--mnist-dir", str(mnist_dir)]
    proc = subprocess.run(
        [*command, "--out", str(out), "--quiet"],
        cwd=ROOT,
        env={**os.environ, "CUDA_VISIBLE_DEVICES": ""},
        capture_output=True,
        text=True,
    )
    if not (out / "results.json").exists():
        return {"returncode": proc.returncode, "error": (proc.stdout + proc.stderr)[-2000:]}
    tests = json.loads((out / "results.json").read_text())["tests"]
    return {
        test["name"].rsplit(": ", 1)[-1]: {"status": test.get("status", "not run"), "output": test["output"][:600]}
        for test in tests
        if test["name"].endswith(REGENERATION_CHECKS)
    }


def against_goals(results: dict) -> dict:
    measured = {
        "train_200_epochs": results.get("parts", {}).get("training", {}).get("train_200_epochs_s"),
        "sample_5000_x_500_steps": results.get("parts", {}).get("sampling", {}).get("best_s"),
        "dvc_repro": results.get("repro", {}).get("wall_s"),
    }
    return {
        k: {"goal_s": GOALS_SECONDS[k], "measured_s": v, "met": v is not None and v <= GOALS_SECONDS[k]}
        for k, v in measured.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "reports/benchmark/gpu.json")
    parser.add_argument("--tiny", action="store_true", help="tiny sizes, to try the whole script on a CPU")
    parser.add_argument("--skip-repro", action="store_true")
    args = parser.parse_args()

    cfg = load(
        ROOT / "params.yaml", {"schedule": NoiseSchedule.linear, "model": UNetConfig, "train": TrainConfig, "device": Device}
    )
    device, sizes = cfg.device.torch, TINY if args.tiny else LAB
    results = {
        "device": torch.cuda.get_device_name() if device.type == "cuda" else cpu_model(),
        "torch": torch.__version__,
        "tiny": args.tiny,
        "sizes": sizes,
    }
    print(f"measuring on {results['device']} ({'tiny sizes' if args.tiny else 'the lab sizes'})", flush=True)
    results["parts"] = parts(cfg, sizes, device, compile_sampler=device.type == "cuda")
    results["goals"] = against_goals(results)
    io.write_json(args.out, results)
    print(json.dumps(results["parts"]), flush=True)
    if not args.skip_repro:
        mnist_dir = ROOT / yaml.safe_load((ROOT / "params.yaml").read_text())["data"]["mnist_dir"]
        with tempfile.TemporaryDirectory() as tmp:
            results["repro"] = repro(Path(tmp) / "lab", mnist_dir, TINY_PARAMS if args.tiny else GPU_BATCHES)
        results["goals"] = against_goals(results)
        io.write_json(args.out, results)
    print(json.dumps(results, indent=2))
    sys.exit(1 if results.get("repro", {}).get("returncode") else 0)


if __name__ == "__main__":
    main()
