"""Speed of U-Net variants side by side: a training step and a sampler call of each, in alternating rounds in one
process, so that this machine's drift between sittings (up to a third) hits every variant alike.

Each variant is params.yaml with ``-S`` overrides, written as `dvc exp run -S` takes them; the first row is
params.yaml as it is. Prints, per variant, its parameters, the median training images/s (Adam steps of eq. 38 at
train.batch_size) and U-Net calls' images/s at each --sample-batch, and the median of each round's ratio to
the first row.

    .venv/bin/python scripts/step_times.py -S model.full_res_stem_block=true -S model.full_res_groups=2,model.full_res_channels=8
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch

from ddpm_lab.config import ParamError
from ddpm_lab.schedule import NoiseSchedule, q_sample
from ddpm_lab.training import TrainConfig
from ddpm_lab.unet import UNet, UNetConfig, count_parameters

from _overrides import configs_with, parse_pairs

ROOT = Path(__file__).resolve().parent.parent


def parse_overrides(text: str) -> dict:
    """``a.b=1,c.d=true`` → {"a.b": 1, "c.d": True}, each value read as YAML (as `dvc exp run -S` reads it)."""
    try:
        return parse_pairs([item for item in text.split(",") if item])
    except ValueError:
        raise SystemExit(f"-S {text}: expected key=value[,key=value…]") from None


def configs(params_file: Path, overrides: dict):
    """params.yaml with ``overrides``, checked as a stage checks it: a bad value stops before any timing."""
    try:
        return configs_with(params_file, overrides, {"schedule": NoiseSchedule.linear, "model": UNetConfig, "train": TrainConfig})
    except ParamError as error:
        raise SystemExit(f"-S {','.join(f'{k}={v}' for k, v in overrides.items())}: {'; '.join(error.lines)}") from None


class Variant:
    def __init__(self, name: str, cfg, sample_batches: list[int]) -> None:
        torch.manual_seed(0)
        self.name, self.batch = name, cfg.train.batch_size
        self.schedule = cfg.schedule
        self.model = UNet(cfg.model, cfg.schedule)
        self.opt = torch.optim.Adam(self.model.parameters(), lr=cfg.train.learning_rate)
        self.x0 = torch.rand(self.batch, 1, cfg.model.image_size, cfg.model.image_size) * 2 - 1
        self.probes = {b: torch.randn(b, 1, cfg.model.image_size, cfg.model.image_size) for b in sample_batches}
        self.train_rates: list[float] = []
        self.sample_rates: dict[int, list[float]] = {b: [] for b in sample_batches}

    def train_step(self) -> None:
        t = torch.randint(1, self.schedule.steps + 1, (self.batch,))
        noise = torch.randn_like(self.x0)
        loss = (self.model(q_sample(self.schedule, self.x0, t, noise), t) - noise).square().mean()
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()

    def time_round(self, steps: int, sample_images: int) -> None:
        start = time.perf_counter()
        for _ in range(steps):
            self.train_step()
        self.train_rates.append(steps * self.batch / (time.perf_counter() - start))
        with torch.no_grad():
            for b, x in self.probes.items():
                t = torch.full((b,), self.schedule.steps // 2)
                calls = max(1, sample_images // b)
                start = time.perf_counter()
                for _ in range(calls):
                    self.model(x, t)
                self.sample_rates[b].append(calls * b / (time.perf_counter() - start))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-S", dest="variants", action="append", default=[], help="key=value[,key=value…]")
    parser.add_argument("--params", type=Path, default=ROOT / "params.yaml")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--steps", type=int, default=8, help="training steps per round")
    parser.add_argument("--sample-batch", type=int, nargs="+", default=[100, 500], help="U-Net call batch sizes")
    parser.add_argument("--sample-images", type=int, default=1000, help="images per round at each batch size")
    args = parser.parse_args()

    variants = [Variant("params.yaml", configs(args.params, {}), args.sample_batch)]
    for text in args.variants:
        variants.append(Variant(text, configs(args.params, parse_overrides(text)), args.sample_batch))
    for v in variants:  # one untimed step each: allocations and oneDNN's kernel choice
        v.train_step()
    for _ in range(args.rounds):
        for v in variants:
            v.time_round(args.steps, args.sample_images)

    first = variants[0]

    def summary(rates: list[float], base: list[float]) -> str:
        ratio = statistics.median(a / b for a, b in zip(rates, base))
        return f"{statistics.median(rates):7.1f} ({ratio:.2f}x)"

    print(f"median images/s over {args.rounds} alternating rounds (median per-round ratio to the first row)")
    header = f"{'variant':60s} {'parameters':>10s} {'train':>15s} "
    print(header + " ".join(f"{'U-Net, batch ' + str(b):>20s}" for b in args.sample_batch))
    for v in variants:
        cells = " ".join(f"{summary(v.sample_rates[b], first.sample_rates[b]):>20s}" for b in args.sample_batch)
        parameters = count_parameters(v.model)
        print(f"{v.name:60s} {parameters:10d} {summary(v.train_rates, first.train_rates):>15s} {cells}")


if __name__ == "__main__":
    main()
