"""Where a training step's time goes, for the U-Net of params.yaml (docs/benchmark.md, "How close this is to the
CPU's limit"): the share of the step's own time per kind of operator (torch.profiler), and each convolution
timed alone, forward and backward, in GFLOP/s to set against the CPU's peak (scripts/fp32_peak.c).

    .venv/bin/python scripts/step_profile.py [--steps 5] [-S key=value ...] [--out reports/benchmark/step_profile.json]

The step is the pipeline's own (``ddpm_lab.training.training_step``: eq. 38, Adam, clipping, the EMA) at
train.batch_size, on the CPU, fp32. A convolution's backward pass computes its input's gradient too, except for
the first, whose input (x_t) needs none.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch
from torch import nn
from torch.profiler import ProfilerActivity, profile

from ddpm_lab import io, speed
from ddpm_lab.schedule import NoiseSchedule
from ddpm_lab.training import TrainConfig, new_state, training_step
from ddpm_lab.unet import UNet, UNetConfig

from _machine import cpu_model  # siblings: scripts/ is sys.path[0]
from _overrides import configs_with, parse_pairs

ROOT = Path(__file__).resolve().parent.parent
# operator kinds, by the first matching fragment of a profiler row's name (forward and backward alike)
KINDS = {"convolution": "convolution", "group_norm": "GroupNorm", "silu": "SiLU", "scaled_dot_product": "attention"}


def operator_shares(state, cfg, x0: torch.Tensor, steps: int) -> dict[str, float]:
    """Each operator kind's share of the step's self CPU time, over ``steps`` steps after two to warm up."""
    for _ in range(2):
        training_step(state, cfg.schedule, x0, cfg.train)
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(steps):
            training_step(state, cfg.schedule, x0, cfg.train)
    times = {kind: 0.0 for kind in [*KINDS.values(), "rest"]}
    for row in prof.key_averages():
        kind = next((k for fragment, k in KINDS.items() if fragment in row.key), "rest")
        times[kind] += row.self_cpu_time_total
    total = sum(times.values())
    return {kind: t / total for kind, t in times.items()}


def seconds_per_call(conv: nn.Conv2d, x: torch.Tensor, grad: torch.Tensor, backward: bool, repeats: int) -> float:
    """Seconds per call of ``conv`` on ``x``: its forward pass alone, or with ``backward`` both passes."""

    def call() -> None:
        if backward:
            conv(x).backward(grad)
        else:
            with torch.no_grad():
                conv(x)

    for _ in range(2):
        call()
    start = time.perf_counter()
    for _ in range(repeats):
        call()
    return (time.perf_counter() - start) / repeats


def convolution_rates(model: UNet, x0: torch.Tensor, repeats: int) -> list[dict]:
    """Each convolution of ``model`` timed alone on its input's shape in one forward pass: ms and GFLOP/s."""
    inputs: list[tuple[nn.Conv2d, torch.Size]] = []
    hooks = [
        m.register_forward_hook(lambda m, i, o: inputs.append((m, i[0].shape)))
        for m in model.modules()
        if isinstance(m, nn.Conv2d)
    ]
    with torch.no_grad():
        model(x0, torch.ones(len(x0), dtype=torch.long))
    for hook in hooks:
        hook.remove()
    rows = []
    for index, (conv, shape) in enumerate(inputs):
        x = torch.randn(shape).to(memory_format=torch.channels_last).requires_grad_(index > 0)
        out = conv(x)
        grad = torch.randn_like(out)
        flop = 2 * out.numel() * conv.in_channels // conv.groups * conv.kernel_size[0] * conv.kernel_size[1]

        forward = seconds_per_call(conv, x, grad, False, repeats)
        backward = seconds_per_call(conv, x, grad, True, repeats) - forward
        (kh, kw), stride = conv.kernel_size, conv.stride[0]
        name = f"{conv.in_channels}→{conv.out_channels} {kh}×{kw}/{stride} at {shape[2]}×{shape[3]}"
        rows.append(
            {
                "conv": name,
                "forward_ms": forward * 1e3,
                "forward_gflops": flop / forward / 1e9,
                "backward_ms": backward * 1e3,
                "backward_gflops": 2 * flop / backward / 1e9,
                "gflop": flop / 1e9,
            }
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=5, help="profiled training steps")
    parser.add_argument("--repeats", type=int, default=10, help="timed calls of each convolution")
    parser.add_argument("--out", type=Path, help="also write the figures here (JSON)")
    parser.add_argument("-S", dest="set", action="append", default=[], metavar="KEY=VALUE", help="a params.yaml key changed")
    args = parser.parse_args()
    builders = {"schedule": NoiseSchedule.linear, "model": UNetConfig, "train": TrainConfig}
    cfg = configs_with(ROOT / "params.yaml", parse_pairs(args.set), builders)
    torch.manual_seed(0)
    model = UNet(cfg.model, cfg.schedule)
    state = new_state(model, cfg.train)
    state.total_steps = 10**6
    size = cfg.model.image_size
    x0 = (torch.rand(cfg.train.batch_size, cfg.model.channels, size, size) * 2 - 1).to(memory_format=torch.channels_last)
    print(f"training step at batch {cfg.train.batch_size}, {torch.get_num_threads()} threads: share of its own time")
    shares = operator_shares(state, cfg, x0, args.steps)
    for kind, share in shares.items():
        print(f"  {kind:12s} {share:6.1%}")
    rows = convolution_rates(model, x0, args.repeats)
    print("each convolution alone: forward ms, GFLOP/s | backward ms, GFLOP/s")
    for row in rows:
        forward, backward = (
            f"{row['forward_ms']:7.2f} {row['forward_gflops']:6.1f}",
            f"{row['backward_ms']:7.2f} {row['backward_gflops']:6.1f}",
        )
        print(f"  {row['conv']:28s} {forward} | {backward}")
    forward, backward = sum(r["forward_ms"] for r in rows), sum(r["backward_ms"] for r in rows)
    gflop = sum(r["gflop"] for r in rows)
    print(
        f"  all {len(rows)}: forward {forward:.1f} ms, {gflop / forward * 1e3:.1f} GFLOP/s | backward {backward:.1f} ms, "
        f"{2 * gflop / backward * 1e3:.1f} GFLOP/s"
    )
    if args.out:
        step = (forward + backward) / shares["convolution"]  # the step's time, its convolutions timed alone
        io.write_json(
            args.out,
            {
                "command": "python scripts/step_profile.py " + " ".join(sys.argv[1:]),
                "cpu": cpu_model(),
                "cpu_native_bf16": speed.native_bf16(),
                "threads": torch.get_num_threads(),
                "batch_size": cfg.train.batch_size,
                "shares": shares,
                "convolutions": {
                    "forward_ms": forward,
                    "forward_gflops": gflop / forward * 1e3,
                    "backward_ms": backward,
                    "backward_gflops": 2 * gflop / backward * 1e3,
                    "each": rows,
                },
                # a step's time if every backward pass ran at the forward passes' rate (twice their time: twice the
                # FLOPs), the rest unchanged: what fp32 kernels could still gain here
                "speedup_if_backward_at_forward_rate": step / (step - backward + 2 * forward),
            },
        )


if __name__ == "__main__":
    main()
