"""Sampler ablation on a trained model: FID and mean pixel for each lever alone and combined.

    .venv/bin/python scripts/ablation.py --n 5000                  # hours on a 2-core CPU
    .venv/bin/python scripts/ablation.py --n 500                   # what reports/ablation/ holds
    .venv/bin/python scripts/ablation.py --n 500 --model other/model.pt --label "300 epochs" --append --only lab

Every row samples with the same seed, so rows differ only by the lever. The real-data floor at the same
n (training images outside the subset, against the same reference) is a row of its own. The table is
rewritten after each row, so an interrupted run keeps what it measured. Writes reports/ablation/table.csv,
table.md and grids.png. Reads the pipeline's trained model, training and floor images and the shipped
reference statistics, where dvc.yaml's `paths` put them (`dvc repro train` first).
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path

import numpy as np
import torch

from ddpm_lab import data, fid, inception, io, plots
from ddpm_lab.config import Device, Fid, load, pipeline_paths
from ddpm_lab.progress import Bar
from ddpm_lab.sampler import SamplerConfig, generate
from ddpm_lab.schedule import NoiseSchedule
from ddpm_lab.streams import seed_of
from ddpm_lab.unet import UNetConfig, load_trained

ROOT = Path(__file__).resolve().parent.parent

PATHS = pipeline_paths(ROOT)

LEVERS = {
    "lab": {},
    "clip x0": {"clip_x0": True},
    "forward-marginal start": {"start": "forward_marginal"},
    "beta variance": {"variance": "beta"},
    "clip x0 + forward-marginal start": {"clip_x0": True, "start": "forward_marginal"},
    "forward-marginal start, eta 1.3": {"start": "forward_marginal", "eta": 1.3},
    "forward-marginal start, eta 0 (DDIM)": {"start": "forward_marginal", "eta": 0.0},
}
LAB_SAMPLER = {"start": "standard_normal", "variance": "posterior", "clip_x0": False, "eta": 1.0, "spacing_power": 1.0}
BEST = "forward-marginal start"  # params.yaml's default, chosen from reports/ablation/table.md


def plan(
    steps: list[int], only: list[str] | None, combination: str = BEST, respaced_only: bool = False
) -> list[tuple[str, int, str]]:
    """(weights, steps, lever) rows: every lever on EMA weights at full steps; the lab sampler on raw
    weights; the lab sampler and ``combination`` respaced."""
    full = steps[0]
    rows = [] if respaced_only else [("ema", full, lever) for lever in LEVERS] + [("raw", full, "lab")]
    rows += [("ema", s, lever) for s in steps[1:] for lever in dict.fromkeys(("lab", combination))]
    return [r for r in rows if only is None or r[2] in only]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=5000, help="generated images per row (and real ones for the floor)")
    parser.add_argument("--steps", type=int, nargs="+", default=[500, 100, 50], help="full steps first, then respaced")
    parser.add_argument("--model", type=Path, default=PATHS["model"])
    parser.add_argument("--label", default="200 epochs", help="names the model in the table")
    parser.add_argument("--only", nargs="+", choices=list(LEVERS), help="levers to run (default: all)")
    parser.add_argument("--combination", default=BEST, choices=list(LEVERS), help="the lever respaced beside the lab's")
    parser.add_argument("--respaced-only", action="store_true", help="only the respaced rows")
    parser.add_argument("--append", action="store_true", help="add rows to the existing table")
    parser.add_argument("--out", type=Path, default=ROOT / "reports" / "ablation")
    args = parser.parse_args()

    import pandas as pd

    cfg = load(
        ROOT / "params.yaml",
        {"schedule": NoiseSchedule.linear, "model": UNetConfig, "sampler": SamplerConfig, "fid": Fid, "device": Device},
    )
    device = cfg.device.torch
    train = torch.from_numpy(np.load(PATHS["train_images"])["images"])
    train_mean_pixel = round(float(data.to_uint8(train).mean()), 1)
    reference = fid.load_statistics(PATHS["reference_stats"])
    extractor = inception.FeatureExtractor(device=device, batch_size=cfg.fid.batch_size, runtime=cfg.fid.runtime)
    table = pd.read_csv(args.out / "table.csv") if args.append and (args.out / "table.csv").exists() else pd.DataFrame()
    rows = table.to_dict("records")
    grids = []

    def record(row: dict, images: np.ndarray, caption: str) -> None:
        row |= {"n": len(images), "mean_pixel": round(float(images.mean()), 1), "training_mean_pixel": train_mean_pixel}
        features = extractor.features(images, Bar(f"Inception features: {caption}", unit="batch", leave=False))
        row["fid"] = round(fid.frechet_distance(fid.statistics(features), reference), 2)
        rows.append(row)
        floors = {r["n"]: r["fid"] for r in rows if r["model"] == "real images (floor)"}
        for r in rows:
            if r["model"] != "real images (floor)" and r["n"] in floors:
                r["fid_over_floor"] = round(r["fid"] / floors[r["n"]], 2)
        grids.append((caption, images[:16]))
        frame = pd.DataFrame(rows)
        io.write_text(args.out / "table.csv", frame.to_csv(index=False))
        io.write_text(args.out / "table.md", frame.fillna("").to_markdown(index=False) + "\n")
        io.save_figure(plots.grid_row(grids), args.out / ("grids.png" if not args.append else f"grids_{_slug(args.label)}.png"))
        print(row, flush=True)

    if not any(r["model"] == "real images (floor)" and r["n"] == args.n for r in rows):
        real = np.load(PATHS["floor_images"])["images"][: args.n]
        record({"model": "real images (floor)", "weights": "", "steps": "", "sampler": ""}, real, "real training images")

    for weights, steps, lever in plan(args.steps, args.only, args.combination, args.respaced_only):
        sampler = dataclasses.replace(cfg.sampler, steps=steps, **(LAB_SAMPLER | LEVERS[lever]))
        start = time.perf_counter()
        model = load_trained(args.model, cfg.model, cfg.schedule, ema=weights == "ema")
        images = generate(
            model,
            cfg.schedule,
            args.n,
            sampler,
            seed=seed_of(cfg.fid.seed, "ablation_fid_noise"),
            device=device,
            mean_image=train.mean(0),
            progress=Bar(f"sampling {args.n} images", leave=False),
        )
        seconds = round(time.perf_counter() - start, 1)
        record(
            {"model": args.label, "weights": weights, "steps": steps, "sampler": lever, "sample_seconds": seconds},
            images,
            f"{args.label}, {weights}, {steps} steps\n{lever}",
        )


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in text).strip("_")


if __name__ == "__main__":
    main()
