"""scripts/step_profile.py, the source of docs/benchmark.md's account of a training step's time, at tiny sizes."""

import importlib

import torch
from torch import nn

from ddpm_lab.unet import UNet
from tests import lab


def test_the_profile_shares_out_the_whole_step_and_times_every_convolution_of_the_unet():
    profile = importlib.import_module("step_profile")
    cfg = lab.configs({"model.base_channels": 8, "train.batch_size": 4}, which=("schedule", "model", "train"))
    torch.manual_seed(0)
    model = UNet(cfg.model, cfg.schedule)
    state = profile.new_state(model, cfg.train)
    state.total_steps = 100
    x0 = torch.rand(4, 1, 32, 32) * 2 - 1
    shares = profile.operator_shares(state, cfg, x0, steps=1)
    assert set(shares) == {"convolution", "GroupNorm", "SiLU", "attention", "rest"}
    assert abs(sum(shares.values()) - 1) < 1e-9 and shares["convolution"] > 0 and shares["GroupNorm"] > 0
    assert state.step == 3  # two warm-up steps and the profiled one, the pipeline's own step

    rows = profile.convolution_rates(model, x0, repeats=1)
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert len(rows) == len(convs) and rows[0]["conv"] == "1→16 3×3/1 at 32×32"
    assert rows[-1]["conv"] == "16→1 3×3/1 at 32×32"  # the output convolution, after the unfolding
    assert all(r["forward_gflops"] > 0 and r["backward_gflops"] > 0 for r in rows)
    # FLOPs of a convolution: 2 × outputs × inputs a kernel sees; the stem, 1→16 3×3 at 32×32 on 4 images
    assert rows[0]["gflop"] == 2 * 4 * 16 * 32 * 32 * 1 * 9 / 1e9
