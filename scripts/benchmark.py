"""Speed of our U-Net against the usual peer, measured in one run on the same machine.

The peer is the diffusers UNet2DModel of the Hugging Face diffusion course for MNIST (block_out_channels
(32, 64, 64), DownBlock2D / AttnDownBlock2D / AttnDownBlock2D and mirrored up blocks, layers_per_block 2).
Both models run the same training step (eq. 27 + eq. 38, Adam) and the same sampler step (eq. 33/35).

    .venv/bin/pip install -e ".[bench]"
    .venv/bin/python scripts/benchmark.py --out reports/benchmark/cpu.json

Sampling images/s is through the full T-step sampler: the time of one sampler step, measured over
--sample-steps steps, times T (every step costs the same). Each model is timed at every batch size of
--sample-batches and credited with its best, so neither is judged at a batch that suits only the other.

With --levers, our U-Net is also timed with each of the CPU's speed levers (ddpm_lab/speed.py) alone and together,
against the same model in plain fp32 eager mode, the variants interleaved round by round (this machine's speed
drifts): training at the pipeline's batch (and at half and twice it), sampling at the pipeline's sampler batch.
``ratios.train_vs_fp32_eager`` and ``ratios.sample_vs_fp32_eager`` are the pipeline's default path against it.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from ddpm_lab import io
from ddpm_lab.config import Device, load
from ddpm_lab.sampler import SamplerConfig, sample
from ddpm_lab.schedule import NoiseSchedule, q_sample
from ddpm_lab.speed import Levers, cpu_flags, native_bf16, prepare
from ddpm_lab.training import TrainConfig
from ddpm_lab.unet import UNet, UNetConfig, count_parameters

from _machine import cpu_model  # a sibling: scripts/ is sys.path[0]

ROOT = Path(__file__).resolve().parent.parent


def peer_model():
    from diffusers import UNet2DModel

    net = UNet2DModel(
        sample_size=32,
        in_channels=1,
        out_channels=1,
        layers_per_block=2,
        block_out_channels=(32, 64, 64),
        down_block_types=("DownBlock2D", "AttnDownBlock2D", "AttnDownBlock2D"),
        up_block_types=("AttnUpBlock2D", "AttnUpBlock2D", "UpBlock2D"),
    )
    return lambda x, t: net(x, t).sample, net


class TrainTimer:
    """Training steps (eq. 27 + eq. 38, Adam) of one model at one batch size; the caller puts it in train mode."""

    def __init__(self, model_fn, module, schedule, batch, device) -> None:
        self.model_fn, self.schedule, self.device = model_fn, schedule, device
        self.opt = torch.optim.Adam(module.parameters(), lr=1e-3)
        self.x0 = torch.rand(batch, 1, 32, 32, device=device) * 2 - 1

    def step(self) -> None:
        t = torch.randint(1, self.schedule.steps + 1, (len(self.x0),))
        noise = torch.randn_like(self.x0)
        loss = (self.model_fn(q_sample(self.schedule, self.x0, t, noise), t.to(self.device)) - noise).square().mean()
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()

    def first(self) -> float:
        start = time.perf_counter()
        self.step()
        sync(self.device)
        return time.perf_counter() - start

    def rate(self, steps: int) -> float:
        start = time.perf_counter()
        for _ in range(steps):
            self.step()
        sync(self.device)
        return len(self.x0) * steps / (time.perf_counter() - start)


class SampleTimer:
    """Sampler steps of eq. (33) of one model, as images/s through the full T-step sampler; the caller puts it in
    eval mode."""

    def __init__(self, model_fn, schedule, batch, device) -> None:
        self.model_fn, self.schedule, self.batch, self.device = model_fn, schedule, batch, device

    @torch.no_grad()
    def run(self, steps: int) -> float:
        """Seconds of ``steps`` real sampler steps (the first ``steps`` of the schedule)."""
        cfg = SamplerConfig.literal(batch_size=self.batch, steps=steps)
        sub = NoiseSchedule.from_alphas(self.schedule.alphas[: steps + 1])
        start = time.perf_counter()
        sample(self.model_fn, sub, self.batch, (1, 32, 32), cfg, device=self.device)
        sync(self.device)
        return time.perf_counter() - start

    def first(self) -> float:
        return self.run(1)

    def rate(self, steps: int) -> float:
        return self.batch / (self.run(steps) / steps * self.schedule.steps)


def train_rate(model_fn, module, schedule, batch, steps, device):
    timer = TrainTimer(model_fn, module, schedule, batch, device)
    timer.first()  # warm-up
    return timer.rate(steps)


def sample_rate(model_fn, schedule, batch, steps, device):
    timer = SampleTimer(model_fn, schedule, batch, device)
    timer.run(steps)  # warm-up
    return timer.rate(steps)


def best_sample_rate(model_fn, schedule, batches, steps, device) -> dict:
    rates = {str(b): sample_rate(model_fn, schedule, b, steps, device) for b in batches}
    best = max(rates, key=rates.get)
    return {"sample_images_per_s": rates[best], "sample_batch": int(best), "sample_images_per_s_by_batch": rates}


def inception_rates(n: int, batches: list[int], rounds: int) -> dict:
    """Images/s of each Inception runtime at each batch size on the same n images, the runtimes interleaved
    round by round (this machine's speed drifts); each credited with its best batch (median of the rounds)."""
    import numpy as np

    from ddpm_lab.inception import FeatureExtractor

    images = (np.random.default_rng(0).random((n, 32, 32)) * 255).astype(np.uint8)
    runs = {(runtime, b): FeatureExtractor(batch_size=b, runtime=runtime) for runtime in INCEPTION_RUNTIMES for b in batches}
    rates: dict = {key: [] for key in runs}
    for extractor in runs.values():
        extractor.features(images[:2])  # warm-up
    for _ in range(rounds):
        for key, extractor in runs.items():
            start = time.perf_counter()
            extractor.features(images)
            rates[key].append(n / (time.perf_counter() - start))
    out = {}
    for runtime in INCEPTION_RUNTIMES:
        by_batch = {str(b): float(np.median(rates[runtime, b])) for b in batches}
        best = max(by_batch, key=by_batch.get)
        out[runtime] = {"images_per_s": by_batch[best], "batch": int(best), "images_per_s_by_batch": by_batch}
    out["ratio"] = out["openvino"]["images_per_s"] / out["clean-fid"]["images_per_s"]
    return out


def inception_agreement(n: int) -> dict:
    """Both runtimes on the first n committed samples: the largest feature difference, relative to the largest
    feature, and the FID of each against the committed reference statistics."""
    import numpy as np

    from ddpm_lab import fid, inception

    with np.load(ROOT / "reports/fid/samples.npz") as f:
        images = f["images"][:n]
    reference = fid.load_statistics(ROOT / "grader/references/mnist_test_inception.npz")
    features = {runtime: inception.FeatureExtractor(runtime=runtime).features(images) for runtime in INCEPTION_RUNTIMES}
    theirs, ours = features["clean-fid"], features["openvino"]
    scores = {runtime: fid.frechet_distance(fid.statistics(f), reference) for runtime, f in features.items()}
    return {
        "n": len(images),
        "max_feature_difference_relative": float(np.abs(ours - theirs).max() / np.abs(theirs).max()),
        "fid": scores,
        "fid_difference": abs(scores["openvino"] - scores["clean-fid"]),
    }


INCEPTION_RUNTIMES = ("clean-fid", "openvino")

FP32_EAGER, DEFAULT = "fp32_eager", "channels_last"
LEVERS = {  # key → (what it is, its levers, the training batch as a multiple of the pipeline's)
    FP32_EAGER: ("fp32 eager, contiguous (NCHW)", Levers(channels_last=False), 1),
    DEFAULT: ("channels_last, NHWC (the pipeline's default)", Levers(), 1),
    "compile": ("torch.compile (inductor)", Levers(channels_last=False, compile=True), 1),
    "bf16": ("bf16 autocast, where native", Levers(channels_last=False, bf16=True), 1),
    "one_thread": ("1 thread of 2", Levers(channels_last=False, threads=1), 1),
    "half_batch": ("half the training batch", Levers(channels_last=False), 0.5),
    "double_batch": ("twice the training batch", Levers(channels_last=False), 2),
    "together": ("channels_last + torch.compile + bf16 where native", Levers(compile=True, bf16=True), 1),
}


def lever_rates(
    cfg, device, train_batch: int, sample_batch: int, train_steps: int, sample_steps: int, rounds: int, keys=tuple(LEVERS)
) -> dict:
    """Training and sampling images/s of our U-Net with each lever set of LEVERS, the variants interleaved round by
    round and each credited with its median; the first step's seconds (torch.compile's cost) apart."""
    from dataclasses import asdict
    from statistics import median

    threads = torch.get_num_threads()
    schedule = cfg.schedule
    runs = {}
    for name in keys:
        label, levers, scale = LEVERS[name]
        torch.manual_seed(0)
        model = UNet(cfg.model, schedule)
        torch.set_num_threads(levers.threads or threads)
        prepared = prepare(model, levers, device)
        batch = max(1, round(train_batch * scale))
        trainer = TrainTimer(prepared, model, schedule, batch, device)
        sampler = SampleTimer(prepared, schedule, sample_batch, device)
        runs[name] = {"label": label, "levers": asdict(levers), "train_batch": batch, "bf16_taken": prepared.bf16}
        runs[name]["notes"] = prepared.notes
        model.train()
        runs[name]["first_train_step_seconds"] = trainer.first()
        model.eval()
        runs[name]["first_sample_step_seconds"] = sampler.first()
        runs[name]["timers"] = (model, trainer, sampler, levers.threads or threads)
        print(f"levers: {name} ready", flush=True)
    rates = {name: {"train": [], "sample": []} for name in runs}
    for _ in range(rounds):
        for name, run in runs.items():
            model, trainer, sampler, n_threads = run["timers"]
            torch.set_num_threads(n_threads)
            model.train()
            rates[name]["train"].append(trainer.rate(train_steps))
            model.eval()
            rates[name]["sample"].append(sampler.rate(sample_steps))
    torch.set_num_threads(threads)
    out = {}
    for name, run in runs.items():
        run.pop("timers")
        out[name] = run | {
            "train_images_per_s": median(rates[name]["train"]),
            "sample_images_per_s": median(rates[name]["sample"]),
            "train_images_per_s_rounds": rates[name]["train"],
            "sample_images_per_s_rounds": rates[name]["sample"],
        }
    base = out[FP32_EAGER]
    for run in out.values():
        run["train_vs_fp32_eager"] = run["train_images_per_s"] / base["train_images_per_s"]
        run["sample_vs_fp32_eager"] = run["sample_images_per_s"] / base["sample_images_per_s"]
    return out


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, default=Path("reports/benchmark/benchmark.json"))
    parser.add_argument("--train-batch", type=int, default=128)
    parser.add_argument("--train-steps", type=int, default=5)
    parser.add_argument("--sample-batches", type=int, nargs="+", default=[20, 100, 500])
    parser.add_argument("--sample-steps", type=int, default=5)
    parser.add_argument("--fid-images", type=int, default=100, help="images per Inception timing")
    parser.add_argument("--fid-batches", type=int, nargs="+", default=[10, 32, 50], help="32: clean-fid's default")
    parser.add_argument("--fid-rounds", type=int, default=2)
    parser.add_argument("--fid-agreement", type=int, default=2000, help="committed samples run through both runtimes")
    parser.add_argument("--skip-peer", action="store_true")
    parser.add_argument("--skip-inception", action="store_true", help="time the U-Nets only")
    parser.add_argument("--params", type=Path, default=ROOT / "params.yaml", help="the model and schedule to time")
    parser.add_argument("--levers", action="store_true", help="time each CPU speed lever against fp32 eager")
    parser.add_argument("--lever-rounds", type=int, default=3)
    parser.add_argument("--lever-train-steps", type=int, default=10)
    parser.add_argument("--lever-sample-steps", type=int, default=5)
    parser.add_argument("--lever-keys", nargs="+", choices=list(LEVERS), default=list(LEVERS), help="the levers to time (all)")
    args = parser.parse_args()

    builders = {
        "schedule": NoiseSchedule.linear,
        "model": UNetConfig,
        "device": Device,
        "train": TrainConfig,
        "sampler": SamplerConfig,
    }
    cfg = load(args.params, builders)
    device, schedule = cfg.device.torch, cfg.schedule
    torch.manual_seed(0)
    ours = UNet(cfg.model, cfg.schedule).to(device)
    results = {
        "device": torch.cuda.get_device_name() if device.type == "cuda" else cpu_model(),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "settings": vars(args) | {"out": str(args.out), "params": str(args.params)},
        "ours": {"parameters": count_parameters(ours)},
    }
    ours.train()
    results["ours"]["train_images_per_s"] = train_rate(ours, ours, schedule, args.train_batch, args.train_steps, device)
    ours.eval()
    results["ours"] |= best_sample_rate(ours, schedule, args.sample_batches, args.sample_steps, device)
    print(json.dumps(results["ours"]), flush=True)
    if not args.skip_peer:
        fn, net = peer_model()
        net.to(device)
        results["peer"] = {"parameters": count_parameters(net)}
        net.train()
        results["peer"]["train_images_per_s"] = train_rate(fn, net, schedule, args.train_batch, args.train_steps, device)
        net.eval()
        results["peer"] |= best_sample_rate(fn, schedule, args.sample_batches, args.sample_steps, device)
        results["ratios"] = {k: results["ours"][k] / results["peer"][k] for k in ("train_images_per_s", "sample_images_per_s")}
    if args.levers:
        flags = cpu_flags()
        results["cpu_native_bf16"] = native_bf16(flags)
        results["cpu_flags"] = sorted(f for f in flags if f.startswith(("avx", "amx", "fma")))
        levers = lever_rates(
            cfg,
            device,
            cfg.train.batch_size,
            cfg.sampler.batch_size,
            args.lever_train_steps,
            args.lever_sample_steps,
            args.lever_rounds,
            [FP32_EAGER, *(k for k in args.lever_keys if k != FP32_EAGER)],
        )
        results["levers"] = levers
        results.setdefault("ratios", {}).update(
            train_vs_fp32_eager=levers[DEFAULT]["train_vs_fp32_eager"],
            sample_vs_fp32_eager=levers[DEFAULT]["sample_vs_fp32_eager"],
        )
        print(json.dumps({k: [v["train_images_per_s"], v["sample_images_per_s"]] for k, v in levers.items()}), flush=True)
    if not args.skip_inception:
        results["inception"] = inception_rates(args.fid_images, args.fid_batches, args.fid_rounds)
        print(json.dumps(results["inception"]), flush=True)
        results["inception"]["agreement"] = inception_agreement(args.fid_agreement)
    io.write_json(args.out, results)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
