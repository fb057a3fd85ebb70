"""How far a full training's FID moves with its initial weights alone, and how far sampling in a lower precision moves the
samples: what a speed lever that changes the numerics must stay within (docs/benchmark.md, "What a lever that
changes the numbers must hold").

    python scripts/training_spread.py --training-seed 1 --n 2000 5000 --bf16-samples 100 --tf32-samples 100

1. Draws the committed model's first FID samples again in a lower precision and compares them with the fp32 ones
   pixel by pixel, as the grader's regeneration check does (rubric: task7.samples_regenerate): ``--bf16-samples``
   under bf16 autocast (``ddpm_lab.speed``; emulated where the CPU has no native bf16: the same roundings, several
   times slower), ``--tf32-samples`` with TF32 convolutions as a GPU computes fp32 ones by default (emulated).
2. Trains the U-Net of params.yaml on the pipeline's subset from the initial weights of run seed
   ``--training-seed`` (drawn as the train stage draws them from its seed; params.yaml's seed made the committed
   model's), with the committed run's batches, t and ε (``train.seed``'s generator), resumable from its checkpoint
   in ``--work``: the spread of the start alone. With ``--whole-run``, the batches, t and ε of that run seed too
   (``train.seed`` set to it): the spread of a whole training. With ``--bf16-training``, its forward passes under bf16 autocast
   (params.yaml's seed allowed: the committed model's own draws, rounded otherwise). On a CPU with native bf16:

       python scripts/training_spread.py --training-seed 0 --bf16-training --bf16-samples 0 --tf32-samples 0
3. Samples that model and the committed one with the fid stage's sampler, noise and mean image, ``max(--n)``
   images each, and writes the FID of the first n of each against the committed reference statistics.

``reports/training_spread/rows.json`` and ``table.md`` are written again as each phase ends; a rerun keeps the
rows there that were measured with the same settings (so a killed run goes on, its training from the checkpoint)
and adds its own. ``--set key=value`` changes params.yaml's settings and ``--train-images`` the training images
(tests: tiny sizes); with either, the committed model is not measured, and the precisions are compared on an
untrained U-Net of those sizes.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ddpm_lab import fid, inception, io, speed
from ddpm_lab.config import Device, Fid, pipeline_paths
from ddpm_lab.data import to_uint8
from ddpm_lab.progress import Bar
from ddpm_lab.sampler import SamplerConfig, generate, sample
from ddpm_lab.schedule import NoiseSchedule
from ddpm_lab.streams import seed_of
from ddpm_lab.training import TrainConfig, train
from ddpm_lab.unet import UNet, UNetConfig, load_trained, mixed_precision
from grader.runner import load_rubric

from _overrides import configs_with, parse_pairs  # a sibling: scripts/ is sys.path[0]

ROOT = Path(__file__).resolve().parent.parent
BUILDERS = {
    "schedule": NoiseSchedule.linear,
    "model": UNetConfig,
    "train": TrainConfig,
    "sampler": SamplerConfig,
    "fid": Fid,
    "device": Device,
}
LABELS = {
    "bf16_sampling": "the committed model's samples drawn again in bf16, against fp32",
    "tf32_sampling": "the committed model's samples drawn again with TF32 convolutions, against fp32",
    "committed": "the committed model (params.yaml's seed)",
}


class Run:
    """The rows measured so far, each with the command that measured it, written out again after each phase. Rows
    of an earlier run with the same settings are kept, so a killed run goes on where it stopped and a later
    command adds its rows; delete rows.json to measure again."""

    def __init__(self, out: Path, command: str, settings: dict) -> None:
        self.out, self.command, self.settings, self.rows, self.made_by = out, command, settings, {}, {}
        earlier = out / "rows.json"
        if earlier.exists():
            kept = json.loads(earlier.read_text())
            if kept["settings"] == settings:
                self.rows, self.made_by = kept["rows"], kept["made_by"]
                print(f"kept from {earlier}: {', '.join(self.rows)}", flush=True)

    def record(self, name: str, row: dict) -> None:
        self.rows[name], self.made_by[name] = {"label": LABELS.get(name, name), **row}, self.command
        io.write_json(self.out / "rows.json", {"settings": self.settings, "rows": self.rows, "made_by": self.made_by})
        io.write_text(self.out / "table.md", table(self.rows, self.made_by))
        print(f"{name}: {json.dumps(row)}", flush=True)


def table(rows: dict[str, dict], made_by: dict[str, str]) -> str:
    ns = sorted({int(k.removeprefix("fid_n")) for row in rows.values() for k in row if k.startswith("fid_n")})
    lines = ["| model | " + " | ".join(f"FID at n = {n}" for n in ns) + " | other |", "| --- |" + " --- |" * (len(ns) + 1)]
    for row in rows.values():
        fids = [f"{row[f'fid_n{n}']:.3f}" if f"fid_n{n}" in row else "" for n in ns]
        other = ", ".join(f"{k}: {v}" for k, v in row.items() if not k.startswith("fid_n") and k != "label")
        lines.append(f"| {row['label']} | " + " | ".join(fids) + f" | {other} |")
    lines += ["", "Made by:", ""] + [f"- {name}: `{command}`" for name, command in made_by.items()]
    return "\n".join(lines) + "\n"


def train_with_seed(cfg, images: torch.Tensor, run_seed: int, draws_seed: int, checkpoint: Path, bf16: bool) -> tuple[UNet, dict]:
    """The train stage's training from the initial weights of ``run_seed``, its batches, t and ε those of
    ``draws_seed`` (the seed of ``train``'s generator: ``cfg.train.seed`` for the start's spread alone); with
    ``bf16``, the U-Net's forward pass under bf16 autocast (emulated, and several times slower, where the CPU has no
    native bf16)."""
    torch.manual_seed(seed_of(run_seed, "training"))
    model = UNet(cfg.model, cfg.schedule)
    config = dataclasses.replace(cfg.train, seed=draws_seed)  # the seed of train's generator: batches, t and ε
    bar = Bar(f"training: initial weights of run seed {run_seed}, draws of seed {draws_seed}", unit="epoch")
    start = time.perf_counter()
    state = train(
        model,
        cfg.schedule,
        images,
        config,
        checkpoint=checkpoint,
        on_epoch=lambda e, loss: bar(e, config.epochs, loss=f"{loss:.4f}"),
        precision=lambda device: speed.autocast(device, True) if bf16 else mixed_precision(device),
    )
    seconds = time.perf_counter() - start
    tenth = max(1, len(state.history) // 10)
    facts = {
        "last_tenth_loss": round(float(np.mean(state.history[-tenth:])), 5),
        "train_seconds": round(seconds),
        "resumed_from_epoch": state.resumed_from,
    }
    return (state.ema if cfg.sampler.use_ema else state.model).eval(), facts


def fid_row(cfg, model: UNet, images: torch.Tensor, ns: list[int], reference: dict, extractor) -> tuple[dict, np.ndarray]:
    """FID of the first n of ``max(ns)`` samples, for each n, with the fid stage's sampler and noise."""
    n = max(ns)
    start = time.perf_counter()
    samples = generate(
        model,
        cfg.schedule,
        n,
        cfg.sampler,
        seed=seed_of(cfg.fid.seed, "fid_noise"),
        mean_image=images.mean(0),
        progress=Bar(f"sampling {n} images"),
    )
    features = extractor.features(samples, Bar(f"Inception features of {n} samples", unit="batch"))
    row = {f"fid_n{k}": round(fid.frechet_distance(fid.statistics(features[:k]), reference), 4) for k in sorted(ns)}
    row["mean_pixel"] = round(float(samples.mean()), 2)
    row["seconds"] = round(time.perf_counter() - start)
    return row, samples


def tf32_rounded(x: torch.Tensor) -> torch.Tensor:
    """``x`` rounded to TF32's 10 mantissa bits (to nearest, ties away from zero), kept in fp32."""
    return ((x.float().view(torch.int32) + 0x1000) & ~0x1FFF).view(torch.float32)


@contextlib.contextmanager
def tf32_convolutions(model: nn.Module):
    """Every convolution of ``model`` with its input and weights rounded to TF32 and its sums in fp32, as cuDNN
    computes fp32 convolutions on a GPU by default (``torch.backends.cudnn.allow_tf32``); the rest stays fp32."""
    convolutions = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    saved = [m.weight.data for m in convolutions]
    hooks = [m.register_forward_pre_hook(lambda _, args: (tf32_rounded(args[0]), *args[1:])) for m in convolutions]
    for m in convolutions:
        m.weight.data = tf32_rounded(m.weight.data)
    try:
        yield
    finally:
        for m, weight, hook in zip(convolutions, saved, hooks):
            m.weight.data = weight
            hook.remove()


def precision_regeneration(cfg, model: UNet, images: torch.Tensor, k: int, tolerance: int, precision: str) -> dict:
    """The model's first ``k`` FID samples in fp32 and in ``precision``, same noise: how far apart, pixel by pixel.

    - ``bf16``: the U-Net under bf16 autocast through ``ddpm_lab.speed`` (as the pipeline would run that lever;
      emulated where the CPU has no native bf16: the same roundings, several times slower);
    - ``tf32``: fp32 with the convolutions' inputs and weights rounded to TF32 (:func:`tf32_convolutions`).
    """
    noise, mean = seed_of(cfg.fid.seed, "fid_noise"), images.mean(0)
    shape = (model.config.channels, model.config.image_size, model.config.image_size)
    config = dataclasses.replace(cfg.sampler, batch_size=min(cfg.sampler.batch_size, k))
    native = speed.native_bf16()
    drawn, seconds = {}, {}
    for name in ("fp32", precision):  # bf16 taken here even where it is only emulated: its roundings are the question
        levers = speed.Levers(bf16=name == "bf16")
        prepared = speed.prepare(model, levers, torch.device("cpu"), flags=frozenset(speed.NATIVE_BF16_FLAGS))
        start = time.perf_counter()
        with torch.no_grad(), tf32_convolutions(model) if name == "tf32" else contextlib.nullcontext():
            drawn[name] = to_uint8(
                sample(
                    prepared, cfg.schedule, k, shape, config, seed=noise, mean_image=mean, progress=Bar(f"{k} samples, {name}")
                )
            )
        seconds[name] = round(time.perf_counter() - start, 1)
    worst = np.abs(drawn[precision].astype(int) - drawn["fp32"].astype(int)).reshape(k, -1).max(1)
    how = {
        "bf16": "native" if native else "emulated (no native bf16 on this CPU)",
        "tf32": "emulated (convolutions' inputs and weights rounded)",
    }
    return {
        "k": k,
        precision: how[precision],
        "max_pixel_difference": int(worst.max()),
        "median_of_each_samples_max": float(np.median(worst)),
        "share_beyond_tolerance": round(float((worst > tolerance).mean()), 4),
        "tolerance": tolerance,
        "fp32_seconds": seconds["fp32"],
        f"{precision}_seconds": seconds[precision],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--training-seed", type=int, default=1, help="run seed of the second training's initial weights")
    parser.add_argument("--n", type=int, nargs="+", default=[2000, 5000], help="FID sample counts (the first n of one draw)")
    parser.add_argument("--bf16-samples", type=int, default=64, help="committed model's samples drawn again under bf16 (0: none)")
    parser.add_argument("--tf32-samples", type=int, default=64, help="and with TF32 convolutions, emulated (0: none)")
    parser.add_argument(
        "--whole-run", action="store_true", help="the batches, t and ε of --training-seed too, not params.yaml's seed's"
    )
    parser.add_argument("--bf16-training", action="store_true", help="train under bf16 autocast (params.yaml's seed allowed)")
    parser.add_argument("--skip-training", action="store_true", help="only the committed model's rows")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="a params.yaml setting changed (tests)")
    parser.add_argument(
        "--train-images", type=Path, help="the training images (npz, 'images' in [-1, 1]); default: the pipeline's subset"
    )
    parser.add_argument("--work", type=Path, default=ROOT / "data/training_spread", help="the training's checkpoint")
    parser.add_argument("--out", type=Path, default=ROOT / "reports/training_spread")
    args = parser.parse_args()
    overrides = parse_pairs(args.set)
    cfg = configs_with(ROOT / "params.yaml", overrides, BUILDERS)
    if cfg.train.seed == args.training_seed and not args.bf16_training:
        parser.error(f"--training-seed {args.training_seed} is params.yaml's seed, the committed model's own")
    if args.whole_run and args.bf16_training:
        parser.error("--whole-run measures fp32's spread; --bf16-training keeps the committed model's draws to pair with it")
    paths = pipeline_paths(ROOT)
    images = torch.from_numpy(np.load(args.train_images or paths["train_images"])["images"])
    reference = fid.load_statistics(paths["reference_stats"])
    extractor = inception.FeatureExtractor(device="cpu", batch_size=cfg.fid.batch_size, runtime=cfg.fid.runtime)
    args.work.mkdir(parents=True, exist_ok=True)
    variant = f"seed{args.training_seed}" + ("_bf16" if args.bf16_training else "") + ("_whole_run" if args.whole_run else "")
    checkpoint = args.work / f"resume_{variant}.pt"
    run = Run(
        args.out,
        "python scripts/training_spread.py " + " ".join(sys.argv[1:]),
        {"overrides": overrides, "torch": torch.__version__, "native_bf16": speed.native_bf16()},
    )
    if (overrides or args.train_images) and args.skip_training:
        parser.error("--skip-training measures the committed model only, which --set or --train-images would not match")
    trained_name = variant.replace("seed", "seed_")
    bf16_note = ", bf16 autocast" if args.bf16_training else ""
    LABELS[trained_name] = (
        f"trained again with run seed {args.training_seed}: its initial weights, batches, t and ε"
        if args.whole_run
        else f"trained again from the initial weights of run seed {args.training_seed}{bf16_note}"
    )
    asked = (("bf16", args.bf16_samples), ("tf32", args.tf32_samples))
    precisions = [(p, k) for p, k in asked if k and f"{p}_sampling" not in run.rows]
    needs_committed = not (overrides or args.train_images) and (precisions or "committed" not in run.rows)
    committed = load_trained(paths["model"], cfg.model, cfg.schedule, ema=cfg.sampler.use_ema) if needs_committed else None
    if precisions:
        tolerance = load_rubric()["tasks"]["task7"]["checks"]["samples_regenerate"]["max_pixel_difference"]
        torch.manual_seed(seed_of(cfg.train.seed, "training"))  # under --set: an untrained U-Net of those sizes
        model = committed if committed is not None else UNet(cfg.model, cfg.schedule).eval()
        for precision, k in precisions:
            run.record(f"{precision}_sampling", precision_regeneration(cfg, model, images, k, tolerance, precision))
    if not args.skip_training and trained_name not in run.rows:
        if args.bf16_training and not speed.native_bf16():
            print("bf16 training: this CPU has no native bf16; emulated, several times slower than fp32", flush=True)
        draws_seed = args.training_seed if args.whole_run else cfg.train.seed
        trained, facts = train_with_seed(cfg, images, args.training_seed, draws_seed, checkpoint, args.bf16_training)
        row, _ = fid_row(cfg, trained, images, args.n, reference, extractor)
        run.record(trained_name, {**row, **facts})
    if committed is not None and "committed" not in run.rows:
        row, samples = fid_row(cfg, committed, images, args.n, reference, extractor)
        shipped = np.load(ROOT / "reports/fid/samples.npz")["images"]
        m = min(len(shipped), len(samples))
        row[f"max_pixel_difference_to_committed_samples_{m}"] = int(
            np.abs(samples[:m].astype(int) - shipped[:m].astype(int)).max()
        )
        run.record("committed", row)
    return 0


if __name__ == "__main__":
    sys.exit(main())
