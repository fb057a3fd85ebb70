"""Speed of our U-Net against the usual peer, measured in one run on the same machine.

The peer is the diffusers UNet2DModel of the Hugging Face diffusion course for MNIST (block_out_channels
(32, 64, 64), DownBlock2D / AttnDownBlock2D / AttnDownBlock2D and mirrored up blocks, layers_per_block 2).
Both models run the same training step (eq. 27 + eq. 38, Adam) and the same sampler step (eq. 33/35).

    .venv/bin/pip install -e ".[bench]"
    .venv/bin/python scripts/benchmark.py --out reports/benchmark/cpu.json

Sampling images/s is through the full T-step sampler: the time of one sampler step, measured over
--sample-steps steps, times T (every step costs the same). Each model is timed at every batch size of
--sample-batches and credited with its best, so neither is judged at a batch that suits only the other.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "stages"))

from _machine import cpu_model  # noqa: E402 (a sibling: scripts/ is sys.path[0])
from _params import Device, load  # noqa: E402

from ddpm_lab import io  # noqa: E402
from ddpm_lab.sampler import SamplerConfig, sample  # noqa: E402
from ddpm_lab.schedule import NoiseSchedule, q_sample  # noqa: E402
from ddpm_lab.unet import UNet, UNetConfig, count_parameters  # noqa: E402


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


def train_rate(model_fn, module, schedule, batch, steps, device):
    opt = torch.optim.Adam(module.parameters(), lr=1e-3)
    x0 = torch.rand(batch, 1, 32, 32, device=device) * 2 - 1

    def step():
        t = torch.randint(1, schedule.steps + 1, (batch,))
        noise = torch.randn_like(x0)
        loss = (model_fn(q_sample(schedule, x0, t, noise), t.to(device)) - noise).square().mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    step()  # warm-up
    sync(device)
    start = time.perf_counter()
    for _ in range(steps):
        step()
    sync(device)
    return batch * steps / (time.perf_counter() - start)


@torch.no_grad()
def sample_rate(model_fn, schedule, batch, steps, device):
    cfg = SamplerConfig(steps=steps, batch_size=batch)
    sub = NoiseSchedule.from_alphas(schedule.alphas[: steps + 1])  # `steps` real sampler steps
    sample(model_fn, sub, batch, (1, 32, 32), cfg, device=device)  # warm-up
    sync(device)
    start = time.perf_counter()
    sample(model_fn, sub, batch, (1, 32, 32), cfg, device=device)
    sync(device)
    per_step = (time.perf_counter() - start) / steps
    return batch / (per_step * schedule.steps)


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
    args = parser.parse_args()

    cfg = load(args.params, {"schedule": NoiseSchedule.linear, "model": UNetConfig, "device": Device})
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
    if not args.skip_inception:
        results["inception"] = inception_rates(args.fid_images, args.fid_batches, args.fid_rounds)
        print(json.dumps(results["inception"]), flush=True)
        results["inception"]["agreement"] = inception_agreement(args.fid_agreement)
    io.write_json(args.out, results)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
