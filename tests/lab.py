"""Configs for the tests: the lab's own, built from params.yaml as a stage builds them, and the unit tests' own.

The library's config classes have no defaults: the lab's values live in params.yaml alone. A test that runs at
the lab's settings asks :func:`configs` (``dvc exp run -S``-style overrides welcome). A unit test that needs a
small network, a short run or one sampler setting calls :func:`unet`, :func:`train` or :func:`sampler` with
the fields it cares about, on top of the starting points below: test sizes, deliberately not the lab's (a test
of the patch folding keeps its meaning when params.yaml's recipe changes).
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

from ddpm_lab.data import SubsetConfig
from ddpm_lab.sampler import LAB_LITERAL, SamplerConfig
from ddpm_lab.schedule import NoiseSchedule
from ddpm_lab.training import TrainConfig
from ddpm_lab.unet import UNetConfig

from _overrides import configs_with  # scripts/ (pyproject's pythonpath)

PARAMS = Path(__file__).resolve().parent.parent / "params.yaml"

LIBRARY_CONFIGS = {
    "schedule": NoiseSchedule.linear,
    "model": UNetConfig,
    "train": TrainConfig,
    "sampler": SamplerConfig,
    "subset": SubsetConfig,
}

# A U-Net at full resolution throughout, 32 channels: the unit tests' network, whatever params.yaml's recipe is.
UNIT_UNET = {
    "image_size": 32,
    "base_channels": 32,
    "channel_mults": (1, 2, 2),
    "attention": True,
    "attention_levels": (),
    "blocks_per_level": 1,
    "dropout": 0.0,
    "prediction": "eps",
    "groups": 8,
    "patch_size": 1,
    "full_res_channels": 0,
    "full_res_groups": 8,
    "full_res_stem_block": True,
}
# Eq. (38) unweighted at a constant rate after a short warm-up, a plain EMA: the unit tests' training.
UNIT_TRAIN = {
    "epochs": 200,
    "batch_size": 64,
    "learning_rate": 2e-3,
    "warmup_steps": 100,
    "ema_decay": 0.999,
    "grad_clip": 1.0,
    "checkpoint_every": 10,
    "seed": 0,
    "lr_schedule": "constant",
    "ema_warmup": False,
    "loss_weighting": "none",
    "min_snr_gamma": 5.0,
}
UNIT_CLASSIFIER = {"epochs": 4, "batch_size": 128, "learning_rate": 2e-3, "max_shift": 2, "seed": 0}


def configs(overrides: dict | None = None, which: tuple[str, ...] = tuple(LIBRARY_CONFIGS)) -> SimpleNamespace:
    """The lab's schedule, model, train, sampler and subset configs (or those named in ``which``), as the stages
    build them from params.yaml, with ``overrides`` by dotted key as `dvc exp run -S` gives them
    (``{"train.epochs": 3}``)."""
    return configs_with(PARAMS, overrides or {}, {name: LIBRARY_CONFIGS[name] for name in which})


def unet(**fields) -> UNetConfig:
    return UNetConfig(**{**UNIT_UNET, **fields})


def train(**fields) -> TrainConfig:
    return TrainConfig(**{**UNIT_TRAIN, **fields})


def sampler(**fields) -> SamplerConfig:
    """The lab's literal sampler (eq. 33 over every step, from N(0, I)), 500 images a batch, EMA weights."""
    return SamplerConfig(**{**LAB_LITERAL, "batch_size": 500, "use_ema": True, **fields})


def schedule(steps: int | None = None) -> NoiseSchedule:
    """The lab's α_t (params.yaml: linear from alpha_start to alpha_end), on its T or on ``steps`` timesteps."""
    return configs({"schedule.steps": steps} if steps else None, which=("schedule",)).schedule


def classifier(**fields):
    from grader.classifier import ClassifierConfig

    return ClassifierConfig(**{**UNIT_CLASSIFIER, **fields})
