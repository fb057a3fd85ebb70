"""Sampler ablation on the trained model: FID and mean pixel for each lever alone and combined.

    .venv/bin/python scripts/ablation.py --n 5000            # the issue's size (hours on a 2-core CPU)
    .venv/bin/python scripts/ablation.py --n 200 --steps 100  # a quick look

Writes reports/ablation/table.csv, table.md and grids.png. Uses the DVC outputs data/model/model.pt,
data/mnist/train.npz and data/fid/reference_stats.npz (run `dvc repro fid_reference train` first).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ddpm_lab import config, data, fid, io, params as lab_params, plots  # noqa: E402
from ddpm_lab.sampler import SamplerConfig, sample  # noqa: E402

VARIANTS = {
    "lab (posterior variance, N(0, I) start)": {},
    "clip x0": {"clip_x0": True},
    "forward-marginal start": {"start": "forward_marginal"},
    "beta variance": {"variance": "beta"},
    "clip x0 + forward-marginal start": {"clip_x0": True, "start": "forward_marginal"},
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=5000)
    parser.add_argument("--steps", type=int, nargs="+", default=[500, 100, 50])
    parser.add_argument("--no-fid", action="store_true")
    parser.add_argument("--out", type=Path, default=ROOT / "reports" / "ablation")
    args = parser.parse_args()

    params = lab_params.load(ROOT / "params.yaml")
    schedule, device = config.schedule(params), config.device(params)
    train = torch.from_numpy(np.load(ROOT / "data/mnist/train.npz")["images"])
    train_mean_pixel = float(data.to_uint8(train).mean())
    reference = None if args.no_fid else dict(np.load(ROOT / "data/fid/reference_stats.npz"))
    extractor = None if args.no_fid else fid.FeatureExtractor(device=device)
    base = config.sampler_config(params)
    rows, grids = [], []
    for weights in ("ema", "raw"):
        model = config.load_trained(params, ROOT / "data/model/model.pt", ema=weights == "ema").to(device)
        for steps in args.steps:
            for name, change in VARIANTS.items():
                if (weights == "raw" or steps != args.steps[0]) and change:
                    continue  # levers are compared on EMA weights at full steps; the rest vary one thing
                cfg = dataclasses.replace(base, steps=steps, **change)
                start = time.perf_counter()
                images = data.to_uint8(sample(model, schedule, args.n, (1, 32, 32), cfg, seed=params["seed"] + 4,
                                              device=device, mean_image=train.mean(0)))
                row = {"weights": weights, "steps": steps, "sampler": name, "n": args.n,
                       "mean_pixel": round(float(images.mean()), 1), "training_mean_pixel": round(train_mean_pixel, 1),
                       "sample_seconds": round(time.perf_counter() - start, 1)}
                if extractor is not None:
                    row["fid"] = round(fid.frechet_distance(fid.statistics_of(images, extractor, name), reference), 2)
                rows.append(row)
                grids.append((f"{weights}, {steps} steps\n{name}", images[:16]))
                print(row, flush=True)
    import pandas as pd

    table = pd.DataFrame(rows)
    io.write_text(args.out / "table.csv", table.to_csv(index=False))
    io.write_text(args.out / "table.md", table.to_markdown(index=False) if _has_tabulate() else table.to_string(index=False))
    io.save_figure(plots.grid_row(grids), args.out / "grids.png")


def _has_tabulate() -> bool:
    try:
        import tabulate  # noqa: F401
        return True
    except ImportError:
        return False


if __name__ == "__main__":
    main()
