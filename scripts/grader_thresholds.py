"""The measurements behind the grader's thresholds (grader/rubric.yaml), written to reports/grader_thresholds/.

For each set of images, the grader's own measures: the share its digit classifier recognises with confidence,
the share of the most and least frequent digit, the share of near-copies of MNIST training images at several
distances and the median distance to the nearest training image, and (with --fid) the FID against the shipped
statistics. The sets:

- real MNIST test images (what a perfect generator would score), and training images of the subset (a forgery)
- the committed run's FID samples (reports/fid/samples.npz)
- with --literal-sampler, the committed model sampled as the lab writes eq. (33): every one of the 500 steps,
  x_T from N(0, I) (``ddpm_lab.sampler.LAB_LITERAL``)
- any other saved samples given with --samples LABEL=PATH
- an undertrained model: --undertrained-epochs N trains the pipeline's U-Net for N epochs (params.yaml otherwise)
  and samples it with the pipeline's sampler
- noise: random pixels, 0 or 255, with MNIST's mean pixel

With --fid, the FID of the models' samples too (not of the real images: the test images are part of the
reference).

    python scripts/grader_thresholds.py --literal-sampler --undertrained-epochs 10 40 --fid   # about 70 min, 2 cores
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

import numpy as np

from ddpm_lab import io
from grader import classifier
from grader.references import References
from grader.runner import load_rubric

ROOT = Path(__file__).resolve().parent.parent

DISTANCES = (5.0, 10.0, 15.0, 20.0)
LITERAL = "the committed model, lab's literal sampler (500 steps from N(0, I))"


def pipeline_configs():
    from ddpm_lab.config import load
    from ddpm_lab.sampler import SamplerConfig
    from ddpm_lab.schedule import NoiseSchedule
    from ddpm_lab.training import TrainConfig
    from ddpm_lab.unet import UNetConfig

    return load(
        ROOT / "params.yaml",
        {"schedule": NoiseSchedule.linear, "model": UNetConfig, "train": TrainConfig, "sampler": SamplerConfig},
    )


def undertrained_samples(cfg, epochs: int, n: int, seed: int) -> np.ndarray:
    import torch

    from ddpm_lab.config import pipeline_paths
    from ddpm_lab.sampler import generate
    from ddpm_lab.training import train
    from ddpm_lab.unet import UNet

    torch.manual_seed(cfg.train.seed)
    images = torch.from_numpy(np.load(pipeline_paths(ROOT)["train_images"])["images"])
    state = train(UNet(cfg.model, cfg.schedule), cfg.schedule, images, dataclasses.replace(cfg.train, epochs=epochs))
    net = (state.ema if cfg.sampler.use_ema else state.model).eval()
    return generate(net, cfg.schedule, n, cfg.sampler, seed=seed, mean_image=images.mean(0))


def literal_sampler_samples(cfg, n: int, seed: int) -> np.ndarray:
    """The committed model sampled with the lab's literal sampler (eq. 33, all T steps from N(0, I): no mean image
    needed)."""
    from ddpm_lab.config import pipeline_paths
    from ddpm_lab.progress import Bar
    from ddpm_lab.sampler import LAB_LITERAL, generate
    from ddpm_lab.unet import load_trained

    model = load_trained(pipeline_paths(ROOT)["model"], cfg.model, cfg.schedule, ema=True)
    sampler = dataclasses.replace(cfg.sampler, **LAB_LITERAL)
    bar = Bar(f"sampling {n} images, {sampler.describe(cfg.schedule.steps)}")
    return generate(model, cfg.schedule, n, sampler, seed=seed, progress=bar)


def measure(refs: References, images: np.ndarray, confidence: float, with_fid: bool) -> dict:
    m = classifier.measure(refs.classifier, images, confidence)
    distance, _ = refs.nearest_training_image(images)
    row = {
        "n": m.n,
        "confident_share": round(m.confident_share, 4),
        "not_digit_share": round(m.not_digit_share, 4),
        "min_digit_share": round(float(m.shares.min()), 4),
        "max_digit_share": round(float(m.shares.max()), 4),
        "counts": " ".join(map(str, m.counts)),
        "median_nn_distance": round(float(np.median(distance)), 2),
        "mean_pixel": round(float(images.mean()), 1),
    }
    for d in DISTANCES:
        row[f"copies_within_{d:g}"] = round(float((distance < d).mean()), 4)
    if with_fid:
        row["fid"] = round(refs.fid(images), 2)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--samples", action="append", default=[], help="LABEL=PATH of a samples.npz (array 'images')")
    parser.add_argument("--literal-sampler", action="store_true", help="the committed model, sampled as the lab writes it")
    parser.add_argument("--undertrained-epochs", type=int, nargs="*", default=[], help="train and sample a model per count")
    parser.add_argument("--fid", action="store_true", help="also the FID of each model's samples (Inception: minutes per set)")
    parser.add_argument("--out", type=Path, default=ROOT / "reports/grader_thresholds")
    args = parser.parse_args()

    from ddpm_lab.streams import seed_of

    cfg = pipeline_configs()
    noise_seed = seed_of(cfg.train.seed, "fid_noise")  # the committed FID samples' stream
    rubric = load_rubric()
    refs = References(rubric)
    confidence = rubric["digits"]["confidence"]
    rng = np.random.default_rng(0)
    mean = refs.mean_pixel_training
    committed = np.load(ROOT / "reports/fid/samples.npz")["images"][: args.n]
    # row id → (what the images are, the images, whether a model drew them: only those get an FID)
    sets = {
        "real": ("real MNIST test images", refs.test_images[0][: args.n], False),
        "committed": ("committed run (reports/fid/samples.npz)", committed, True),
    }
    if args.literal_sampler:
        start = time.perf_counter()
        sets["literal"] = (LITERAL, literal_sampler_samples(cfg, args.n, seed=noise_seed), True)
        print(f"literal sampler: {args.n} images in {time.perf_counter() - start:.0f} s", flush=True)
    for item in args.samples:
        label, path = item.split("=", 1)
        sets[f"samples_{len(sets)}"] = (label, np.load(path)["images"][: args.n], True)
    for epochs in args.undertrained_epochs:
        start = time.perf_counter()
        sets[f"undertrained_{epochs}"] = (
            f"undertrained ({epochs} epochs)",
            undertrained_samples(cfg, epochs, args.n, seed=noise_seed),
            True,
        )
        print(f"{epochs}-epoch model trained and sampled in {time.perf_counter() - start:.0f} s", flush=True)
    subset = np.load(ROOT / "reports/mnist_subset/subset.npz")["images"][: args.n]
    sets["forgery"] = ("copies of the training subset (forgery)", subset, False)
    noise = np.where(rng.random((args.n, 32, 32)) < mean / 255, 255, 0).astype(np.uint8)
    sets["noise"] = ("noise with MNIST's mean pixel", noise, False)

    rows = {}
    for key, (label, images, generated) in sets.items():
        rows[key] = {"images": label, **measure(refs, images, confidence, args.fid and generated)}
        print(rows[key], flush=True)
    command = "python scripts/grader_thresholds.py " + " ".join(f'"{a}"' if " " in a else a for a in sys.argv[1:])
    write(rows, command, confidence, args.out)


def write(rows: dict[str, dict], command: str, confidence: float, out: Path) -> None:
    """The measurements as ``out``/rows.json (row id → measures: what docs/grading.md renders its table from),
    table.csv and table.md."""
    import json

    import pandas as pd

    table = pd.DataFrame([{"id": key, **row} for key, row in rows.items()])
    io.write_text(out / "table.csv", table.to_csv(index=False))
    header = (
        f"# Measurements behind the grader's thresholds\n\nMade by `{command}`. Classifier confidence {confidence}; "
        "distances are RMS over the 32x32 pixels (0-255) to the nearest of MNIST's 60,000 training images; "
        "`copies_within_d` is the share of images nearer than d.\n\n"
    )
    io.write_text(out / "table.md", header + table.to_markdown(index=False) + "\n")
    record = {"command": command, "confidence": confidence, "rows": rows}
    io.write_text(out / "rows.json", json.dumps(record, indent=1) + "\n")


if __name__ == "__main__":
    main()
