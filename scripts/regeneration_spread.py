"""How far samples drawn again from a run's handed-in weights lie from the submitted ones: the spread that the
grader's regeneration tolerance (rubric: task6.grid_regenerates, task7.samples_regenerate) must cover.

    python scripts/regeneration_spread.py reports/ --n 64 --k 8 [--variant x0] > spread.json

Draws the first ``n`` FID samples again, ``k`` at a time (as the grader does), from
``sample_grid/weights.safetensors`` with the settings ``fid/metrics.json`` recorded, and prints the largest pixel
difference (0-255) per sample, as JSON. Run it under another CPU code path to see what another machine does:
``ATEN_CPU_CAPABILITY=default`` (torch's kernels without AVX2/AVX-512) and ``ONEDNN_MAX_CPU_ISA=SSE41`` (oneDNN's
convolutions without them). ``--variant x0`` takes each step's mean through x̂_0 and eq. (29), algebraically the
same as eq. (35): the rounding of another correct implementation of the lab's sampler.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import fields
from pathlib import Path

import numpy as np
import torch

from ddpm_lab import sampler, weights
from ddpm_lab.schedule import NoiseSchedule, posterior_mean_from_x0, predict_x0
from grader.runner import load_rubric


def step_through_x0(schedule, x_t, eps, t, config, z):
    """The lab's step with its mean taken as eq. (29) of x̂_0 (eq. 27 solved for x_0), unclipped: eq. (35)'s
    value, rounded another way."""
    steps = torch.full((len(x_t),), t, dtype=torch.long)
    mean = posterior_mean_from_x0(schedule, x_t, predict_x0(schedule, x_t, eps, steps), steps)
    return mean if z is None else mean + schedule.posterior_variance[t].sqrt().item() * z


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("reports", type=Path)
    parser.add_argument("--n", type=int, default=64)
    parser.add_argument("--k", type=int, default=8)
    parser.add_argument("--variant", choices=("lab", "x0"), default="lab")
    args = parser.parse_args()
    metrics = json.loads((args.reports / "fid/metrics.json").read_text())
    config = sampler.SamplerConfig(**{f.name: metrics["sampler"][f.name] for f in fields(sampler.SamplerConfig)})
    lab = load_rubric()["lab_settings"]["schedule"]  # the grader's schedule, as it regenerates with
    schedule = NoiseSchedule.linear(lab["alpha_start"], lab["alpha_end"], lab["steps"])
    net = weights.from_bytes((args.reports / "sample_grid/weights.safetensors").read_bytes(), schedule)
    subset = np.load(args.reports / "mnist_subset/subset.npz")["images"]
    mean = torch.from_numpy(subset.astype(np.float32) / 255 * 2 - 1).mean(0)[None]
    submitted = np.load(args.reports / "fid/samples.npz")["images"]
    if args.variant == "x0":
        sampler.step = step_through_x0
    start, worst = time.perf_counter(), []
    for first in range(0, args.n, args.k):
        picked = list(range(first, min(first + args.k, args.n)))
        again = sampler.generate(net, schedule, len(picked), config, seed=metrics["noise_seed"], mean_image=mean, indices=picked)
        worst += np.abs(again.astype(int) - submitted[picked].astype(int)).reshape(len(picked), -1).max(1).tolist()
    print(
        json.dumps(
            {
                "variant": args.variant,
                "env": {k: os.environ.get(k) for k in ("ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA", "OMP_NUM_THREADS")},
                "torch_capability": torch.backends.cpu.get_cpu_capability(),
                "n": args.n,
                "k": args.k,
                "max": int(max(worst)),
                "counts": {str(v): worst.count(v) for v in sorted(set(worst))},
                "seconds": round(time.perf_counter() - start, 1),
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
