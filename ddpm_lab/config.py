"""Library objects built from the validated params mapping (see params.yaml)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ddpm_lab.sampler import SamplerConfig, sample
from ddpm_lab.schedule import NoiseSchedule
from ddpm_lab.training import TrainConfig
from ddpm_lab.unet import UNet, UNetConfig


def schedule(params: dict) -> NoiseSchedule:
    s = params["schedule"]
    return NoiseSchedule.linear(s["alpha_start"], s["alpha_end"], s["steps"])


def unet_config(params: dict) -> UNetConfig:
    m = params["model"]
    return UNetConfig(
        image_size=params["data"]["image_size"],
        base_channels=m["base_channels"],
        channel_mults=tuple(m["channel_mults"]),
        attention=m["attention"],
        patch_size=m["patch_size"],
    )


def train_config(params: dict) -> TrainConfig:
    t = params["train"]
    return TrainConfig(
        epochs=t["epochs"], batch_size=t["batch_size"], learning_rate=t["learning_rate"], warmup_steps=t["warmup_steps"],
        ema_decay=t["ema_decay"], checkpoint_every=t["checkpoint_every"], seed=params["seed"],
    )


def sampler_config(params: dict) -> SamplerConfig:
    s = params["sampler"]
    return SamplerConfig(steps=s["steps"], start=s["start"], variance=s["variance"], clip_x0=s["clip_x0"], batch_size=s["batch_size"])


def device(params: dict) -> torch.device:
    wanted = params["train"]["device"]
    if wanted == "auto":
        wanted = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(wanted)


def generate(params: dict, n: int, seed: int, model_path: str | Path = "data/model/model.pt",
             training_images: str | Path = "data/mnist/train.npz", progress=None,
             sampler: SamplerConfig | None = None, ema: bool | None = None) -> np.ndarray:
    """``n`` uint8 samples of the trained model through the sampler of eq. (33): the one params.yaml describes,
    or ``sampler``; EMA weights as ``sampler.use_ema`` says, or ``ema``."""
    from ddpm_lab import data

    device_ = device(params)
    model = load_trained(params, model_path, ema=ema).to(device_)
    images = torch.from_numpy(np.load(training_images)["images"])
    size = params["data"]["image_size"]
    samples = sample(model, schedule(params), n, (1, size, size), sampler or sampler_config(params), seed=seed,
                     device=device_, mean_image=images.mean(0), progress=progress)
    return data.to_uint8(samples)


def load_trained(params: dict, path: str | Path = "data/model/model.pt", ema: bool | None = None) -> UNet:
    """The trained U-Net of the train stage, with EMA weights unless ``sampler.use_ema`` (or ``ema``) says no."""
    use_ema = params["sampler"]["use_ema"] if ema is None else ema
    saved = torch.load(path, map_location="cpu", weights_only=True)
    model = UNet(unet_config(params))
    model.load_state_dict(saved["ema" if use_ema else "model"])
    return model.eval().requires_grad_(False)
