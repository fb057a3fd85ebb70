"""Training ablation: one lever per row against a fixed baseline recipe, each model trained from scratch.

Every row is params.yaml with BASELINE and its lever applied (so a row keeps its meaning when the defaults change),
trains with the same seed for --epochs epochs on the pipeline's training images, samples --n images with
params.yaml's sampler and the same seed, and measures them as the grader does: FID against the shipped reference
statistics beside the real-data floor at the same n, the grader's digit classifier (share of confidently
recognised digits, samples per digit) and its near-copy search among MNIST's training images; and the CPU
minutes that 200 epochs of that row's training take here.

    .venv/bin/python scripts/training_ablation.py --epochs 50 --n 1000                       # proxy rows, ranked
    .venv/bin/python scripts/training_ablation.py --epochs 200 --n 2000 --only baseline "cosine lr"   # full length
    .venv/bin/python scripts/training_ablation.py --n 5000 --trained     # the pipeline's own model, beside the floor
    .venv/bin/python scripts/training_ablation.py --n 2000 --trained --sampler steps=500   # ... sampled otherwise

The table is rewritten after each row and a row already in it (same lever, epochs and n) is not run again, so an
interrupted run resumes. Writes reports/training_ablation/table.csv, table.md and grids_<epochs>_epochs.png.
Reads the pipeline's training and floor images (`dvc repro mnist_subset` first; for an n above fid.n_floor the
floor's n images are drawn from MNIST outside the subset, as mnist_subset draws them) and the grader's references.
"""

from __future__ import annotations

import argparse
import dataclasses
import textwrap
import time
from pathlib import Path

import numpy as np
import torch
import yaml

from ddpm_lab import data, fid, inception, io, plots
from ddpm_lab.config import Device, Fid, Mnist, ParamError, pipeline_paths
from ddpm_lab.progress import Bar
from ddpm_lab.sampler import SamplerConfig, generate
from ddpm_lab.schedule import NoiseSchedule
from ddpm_lab.streams import seed_of
from ddpm_lab.training import TrainConfig, train
from ddpm_lab.unet import UNet, UNetConfig, count_parameters, load_trained

from _overrides import configs_with, parse_pairs

ROOT = Path(__file__).resolve().parent.parent

PATHS = pipeline_paths(ROOT)
FLOOR = "real images (floor)"
TRAINED = "the pipeline's model (dvc repro)"
TRAINED_SAMPLED = "the pipeline's model sampled with {}"

# The recipe every lever changes one thing of, whatever params.yaml's defaults are now: the pipeline's earlier
# defaults (base 32, constant learning rate) with the EMA warm-up, without which a 50-epoch EMA still holds ~10 % of
# its random initialisation (0.999^2350) and every short row measures mostly that.
BASELINE = {
    "model.base_channels": 32,
    "model.full_res_channels": 0,
    "model.full_res_groups": 8,
    "model.full_res_stem_block": True,
    "train.lr_schedule": "constant",
    "train.ema_warmup": True,
}
# lever → the params.yaml keys it changes on top of BASELINE
LEVERS: dict[str, dict] = {
    "baseline": {},
    "chosen (base 48, cosine lr)": {"model.base_channels": 48, "train.lr_schedule": "cosine"},
    "narrower (base 24)": {"model.base_channels": 24},
    "wider (base 48)": {"model.base_channels": 48},
    "deeper (2 blocks per level)": {"model.blocks_per_level": 2},
    "three levels (16, 8, 4)": {"model.channel_mults": [1, 2, 2]},
    "patch 1 (32, 16; attention at 16x16)": {"model.patch_size": 1},
    "full-resolution blocks (16 wide)": {"model.full_res_channels": 16},
    "full-resolution blocks (8 wide)": {"model.full_res_channels": 8},
    "full-resolution blocks (8 wide, 2 groups)": {"model.full_res_channels": 8, "model.full_res_groups": 2},
    "full-resolution block after the unfolding only (16 wide)": {
        "model.full_res_channels": 16,
        "model.full_res_stem_block": False,
    },
    "no attention": {"model.attention": False},
    "attention at 8x8 too": {"model.attention_levels": [1]},
    "dropout 0.1": {"model.dropout": 0.1},
    "cosine lr": {"train.lr_schedule": "cosine"},
    "linear lr": {"train.lr_schedule": "linear"},
    "batch 32": {"train.batch_size": 32},
    "batch 128": {"train.batch_size": 128},
    "EMA 0.9995": {"train.ema_decay": 0.9995},
    "EMA 0.995": {"train.ema_decay": 0.995},
    "no EMA warm-up": {"train.ema_warmup": False},
    "min-SNR-5": {"train.loss_weighting": "min_snr"},
    "v-prediction": {"model.prediction": "v"},
    "v-prediction + min-SNR-5": {"model.prediction": "v", "train.loss_weighting": "min_snr"},
}
BUILDERS = {
    "schedule": NoiseSchedule.linear,
    "model": UNetConfig,
    "train": TrainConfig,
    "sampler": SamplerConfig,
    "fid": Fid,
    "device": Device,
    "mnist": Mnist,
    "subset": data.SubsetConfig,
}


def configs(params_file: Path, overrides: dict, epochs: int | None):
    """params.yaml with ``overrides`` (dotted keys), checked as a stage checks it; the epochs set to ``epochs``
    (None: params.yaml's)."""
    cfg = configs_with(params_file, overrides, BUILDERS)
    if epochs is not None:
        cfg.train = dataclasses.replace(cfg.train, epochs=epochs)
    return cfg


def floor_images(cfg, n: int) -> np.ndarray:
    """n real training images outside the subset: the pipeline's floor images, or, where it holds fewer than n
    (params.yaml's fid.n_floor), n drawn outside the subset as mnist_subset draws them."""
    real = np.load(PATHS["floor_images"])["images"]
    if len(real) >= n:
        return real[:n]
    subset = dataclasses.replace(cfg.subset, n_floor=n)
    return data.prepare(data.fetch_mnist(cfg.mnist.folder), subset)["floor"]


class Measures:
    """The grader's measures of a set of samples: FID against its reference, digits, near-copies."""

    def __init__(self, cfg, rubric_file: Path) -> None:
        from grader.references import References

        self.rubric = yaml.safe_load(rubric_file.read_text())
        self.refs = References(self.rubric, progress=False)
        self.extractor = inception.FeatureExtractor(
            device=cfg.device.torch, batch_size=cfg.fid.batch_size, runtime=cfg.fid.runtime
        )
        # the grader's files, checked against the rubric's SHA-256 now rather than after minutes of training or sampling
        self.reference = self.refs.fid_statistics
        self.refs.classifier  # noqa: B018 (loaded and cached for of_samples)
        self.copy_distance = self.rubric["tasks"]["task7"]["checks"]["not_training_copies"]["copy_distance"]

    def fid(self, images: np.ndarray, caption: str) -> float:
        features = self.extractor.features(images, Bar(f"Inception features: {caption}", unit="batch", leave=False))
        return round(fid.frechet_distance(fid.statistics(features), self.reference), 2)

    def of_samples(self, images: np.ndarray, caption: str) -> dict:
        from grader import classifier

        digits = classifier.measure(self.refs.classifier, images, self.rubric["digits"]["confidence"])
        distance, _ = self.refs.nearest_training_image(images)
        return {
            "fid": self.fid(images, caption),
            "mean_pixel": round(float(images.mean()), 1),
            "confident_digits": round(digits.confident_share, 3),
            "not_digits": round(digits.not_digit_share, 3),
            "fewest_of_a_digit": int(min(digits.counts)),
            "most_of_a_digit": int(max(digits.counts)),
            "digit_counts": "/".join(str(c) for c in digits.counts),
            "near_copies": round(float((distance < self.copy_distance).mean()), 4),
        }


def run_lever(lever: str, cfg, images: torch.Tensor, n: int, measures: Measures) -> tuple[dict, np.ndarray]:
    torch.manual_seed(cfg.train.seed)
    model = UNet(cfg.model, cfg.schedule)
    bar = Bar(f"{lever}: training", unit="epoch", leave=False)
    start = time.perf_counter()
    state = train(model, cfg.schedule, images, cfg.train, cfg.device.torch, on_epoch=lambda e, loss: bar(e, cfg.train.epochs))
    seconds = time.perf_counter() - start
    row = {
        "lever": lever,
        "epochs": cfg.train.epochs,
        "n": n,
        "parameters": count_parameters(model),
        "final_loss": round(state.history[-1], 5),
        "cpu_minutes_per_200_epochs": round(seconds / cfg.train.epochs * 200 / 60, 1),
    }
    net = state.ema if cfg.sampler.use_ema else state.model
    return measure_model(row, net, cfg, images, n, measures)


def measure_model(row: dict, net: UNet, cfg, images: torch.Tensor, n: int, measures: Measures) -> tuple[dict, np.ndarray]:
    """``row`` with the grader's measures of ``n`` samples of ``net`` (params.yaml's sampler, the rows' seed)."""
    samples = generate(
        net.eval().requires_grad_(False),
        cfg.schedule,
        n,
        cfg.sampler,
        seed=seed_of(cfg.fid.seed, "fid_noise"),
        device=cfg.device.torch,
        mean_image=images.mean(0),
        progress=Bar(f"{row['lever']}: sampling {n} images", leave=False),
    )
    return row | measures.of_samples(samples, row["lever"]), samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=50, help="training epochs of every row")
    parser.add_argument("--n", type=int, default=1000, help="samples per row (and real images for the floor)")
    parser.add_argument("--only", nargs="+", choices=list(LEVERS), help="levers to run (default: all)")
    parser.add_argument("--params", type=Path, default=ROOT / "params.yaml")
    parser.add_argument("--rubric", type=Path, default=ROOT / "grader/rubric.yaml")
    parser.add_argument("--out", type=Path, default=ROOT / "reports/training_ablation")
    parser.add_argument(
        "--trained",
        action="store_true",
        help=f"measure the pipeline's trained model ({PATHS['model'].relative_to(ROOT)}) instead of training rows",
    )
    parser.add_argument(
        "--sampler",
        nargs="+",
        default=[],
        metavar="KEY=VALUE",
        help="with --trained: sample it with these sampler keys changed (a row of its own), e.g. steps=500 use_ema=false",
    )
    args = parser.parse_args()
    if args.sampler and not args.trained:
        parser.error("--sampler changes how the pipeline's trained model is sampled: it needs --trained")
    try:
        sampler = parse_pairs(args.sampler, prefix="sampler.")  # {"sampler.steps": 500}: params.yaml's keys
    except ValueError as error:
        parser.error(f"--sampler takes KEY=VALUE pairs of params.yaml's sampler section: {error}")
    try:  # the trained model's settings, checked before any work: a bad --sampler value stops here
        trained = configs(args.params, sampler, None) if args.trained else None
    except ParamError as error:
        parser.error("; ".join(error.lines))

    import pandas as pd

    base = configs(args.params, {}, args.epochs)
    images = torch.from_numpy(np.load(PATHS["train_images"])["images"])
    measures = Measures(base, args.rubric)
    table, shown = args.out / "table.csv", args.out / "samples.npz"
    rows = pd.read_csv(table).to_dict("records") if table.exists() else []
    done = {(r["lever"], r["epochs"], r["n"]) for r in rows}
    grids = dict(np.load(shown)) if shown.exists() else {}  # 16 samples of each row, keyed "epochs|n|lever"

    def save(row: dict, samples: np.ndarray | None) -> None:
        rows.append(row)
        floors = {r["n"]: r["fid"] for r in rows if r["lever"] == FLOOR}
        for r in rows:
            r["fid_over_floor"] = round(r["fid"] / floors[r["n"]], 2) if r["n"] in floors and r["lever"] != FLOOR else ""
        frame = pd.DataFrame(rows)
        io.write_text(table, frame.to_csv(index=False))
        io.write_text(args.out / "table.md", frame.astype(object).fillna("").to_markdown(index=False) + "\n")
        if samples is not None:
            grids[f"{row['epochs']}|{row['n']}|{row['lever']}"] = samples[:16]
            io.write_npz(shown, **grids)
            fids = {(r["epochs"], r["n"], r["lever"]): r["fid"] for r in rows}
            panels = [
                (f"{textwrap.fill(lever, 30)}\nFID {fids[int(e), int(n), lever]}", grid)  # long labels on lines
                for key, grid in grids.items()
                for e, n, lever in [key.split("|", 2)]
                if int(e) == row["epochs"]  # the rows of this row's length: --trained's are the pipeline's
            ]
            io.save_figure(plots.grid_row(panels), args.out / f"grids_{row['epochs']}_epochs.png")
        print({k: row[k] for k in ("lever", "epochs", "n", "fid") if k in row}, flush=True)

    if not any(r["lever"] == FLOOR and r["n"] == args.n for r in rows):
        real = floor_images(base, args.n)
        measured = measures.of_samples(real, FLOOR)
        measured.pop("near_copies")  # they are MNIST training images themselves
        save({"lever": FLOOR, "epochs": 0, "n": len(real), **measured}, None)
    if trained is not None:
        label = TRAINED if not sampler else TRAINED_SAMPLED.format(", ".join(f"{k} {v}" for k, v in sampler.items()))
        if (label, trained.train.epochs, args.n) not in done:
            net = load_trained(PATHS["model"], trained.model, trained.schedule, ema=trained.sampler.use_ema)
            row = {"lever": label, "epochs": trained.train.epochs, "n": args.n, "parameters": count_parameters(net)}
            save(*measure_model(row, net, trained, images, args.n, measures))
        return
    for lever in args.only or LEVERS:
        if (lever, args.epochs, args.n) in done:
            continue
        cfg = configs(args.params, BASELINE | LEVERS[lever], args.epochs)
        row, samples = run_lever(lever, cfg, images, args.n, measures)
        save(row, samples)


if __name__ == "__main__":
    main()
