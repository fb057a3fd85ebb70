"""Reading and validating ``params.yaml`` before any work starts.

Each bad value raises :class:`ParamError` with one line naming the key and the value.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml


class ParamError(ValueError):
    pass


def load(path: str | Path = "params.yaml") -> dict[str, Any]:
    with open(path) as f:
        params = yaml.safe_load(f)
    if not isinstance(params, dict):
        raise ParamError(f"{path} must hold a mapping of sections")
    validate(params)
    return params


def get(params: dict, dotted: str) -> Any:
    node: Any = params
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            raise ParamError(f"{dotted}: missing")
        node = node[part]
    return node


def _number(params: dict, key: str, *, integer: bool = False, low: float | None = None, high: float | None = None,
            low_open: bool = False, high_open: bool = False) -> float:
    value = get(params, key)
    ok_type = isinstance(value, int) if integer else isinstance(value, (int, float))
    if isinstance(value, bool) or not ok_type:
        raise ParamError(f"{key}: expected {'an integer' if integer else 'a number'}, got {value!r}")
    if low is not None and (value <= low if low_open else value < low):
        raise ParamError(f"{key}: must be {'>' if low_open else '>='} {low}, got {value!r}")
    if high is not None and (value >= high if high_open else value > high):
        raise ParamError(f"{key}: must be {'<' if high_open else '<='} {high}, got {value!r}")
    return value


def _choice(params: dict, key: str, choices: tuple) -> Any:
    value = get(params, key)
    if value not in choices:
        raise ParamError(f"{key}: must be one of {list(choices)}, got {value!r}")
    return value


def validate(params: dict) -> None:
    """Check every key the stages read; raise ParamError on the first bad one."""
    _number(params, "seed", integer=True, low=0)
    _number(params, "gaussian_demo.n_samples", integer=True, low=2)
    _number(params, "gndm_fit.n_samples", integer=True, low=2)
    _number(params, "gndm_fit.learning_rate", low=0, low_open=True)
    _number(params, "gndm_fit.steps", integer=True, low=1)
    true_mean = get(params, "gndm_fit.true_mean")
    if not (isinstance(true_mean, list) and len(true_mean) == 2 and all(isinstance(v, (int, float)) for v in true_mean)):
        raise ParamError(f"gndm_fit.true_mean: expected two numbers, got {true_mean!r}")

    n_train = _number(params, "data.n_train", integer=True, low=10)
    if n_train % 10 != 0:
        raise ParamError(f"data.n_train: a class-balanced subset needs a multiple of 10, got {n_train}")
    _number(params, "data.image_size", integer=True, low=4)

    steps = _number(params, "schedule.steps", integer=True, low=1)
    start = _number(params, "schedule.alpha_start", low=0, high=1, low_open=True, high_open=True)
    end = _number(params, "schedule.alpha_end", low=0, high=1, low_open=True, high_open=True)
    if steps > 1 and not end < start:
        raise ParamError(f"schedule.alpha_end: α_t must decrease, so alpha_end < alpha_start; got {end!r} >= {start!r}")

    timesteps = get(params, "forward_demo.timesteps")
    if not (isinstance(timesteps, list) and timesteps and all(isinstance(t, int) and 0 <= t <= steps for t in timesteps)):
        raise ParamError(f"forward_demo.timesteps: expected integers in [0, {steps}], got {timesteps!r}")

    _number(params, "model.base_channels", integer=True, low=8)
    mults = get(params, "model.channel_mults")
    if not (isinstance(mults, list) and mults and all(isinstance(m, int) and m >= 1 for m in mults)):
        raise ParamError(f"model.channel_mults: expected positive integers, got {mults!r}")
    patch = _number(params, "model.patch_size", integer=True, low=1)
    size = get(params, "data.image_size")
    if size % (patch * 2 ** (len(mults) - 1)) != 0:
        raise ParamError(
            f"data.image_size: the U-Net cuts it into {patch}-pixel patches (model.patch_size) and halves it "
            f"{len(mults) - 1} times (model.channel_mults), so it must be a multiple of {patch * 2 ** (len(mults) - 1)}; got {size}"
        )
    if get(params, "model.base_channels") % 8 != 0:
        raise ParamError(f"model.base_channels: must be a multiple of 8 (GroupNorm groups), got {get(params, 'model.base_channels')!r}")

    _number(params, "train.epochs", integer=True, low=1)
    _number(params, "train.batch_size", integer=True, low=1)
    _number(params, "train.learning_rate", low=0, low_open=True)
    _number(params, "train.warmup_steps", integer=True, low=0)
    _number(params, "train.ema_decay", low=0, high=1, high_open=True)
    _number(params, "train.checkpoint_every", integer=True, low=1)
    _choice(params, "train.device", ("auto", "cpu", "cuda"))

    _choice(params, "sampler.start", ("standard_normal", "forward_marginal"))
    _choice(params, "sampler.variance", ("posterior", "beta"))
    _choice(params, "sampler.clip_x0", (True, False))
    _choice(params, "sampler.use_ema", (True, False))
    _number(params, "sampler.steps", integer=True, low=1, high=steps)
    _number(params, "sampler.batch_size", integer=True, low=1)

    _number(params, "sample_grid.n_rows", integer=True, low=1)
    _number(params, "digit_classifier.n_train", integer=True, low=10, high=60000)
    _number(params, "digit_classifier.epochs", integer=True, low=1)
    _number(params, "digit_classifier.batch_size", integer=True, low=1)
    _number(params, "digit_classifier.learning_rate", low=0, low_open=True)
    _number(params, "digit_classifier.max_shift", integer=True, low=0)
    _number(params, "fid.n_generated", integer=True, low=2)
    _number(params, "fid.n_reference", integer=True, low=2, high=10000)
    _number(params, "fid.n_floor", integer=True, low=2)
    _number(params, "fid.batch_size", integer=True, low=1)
    _choice(params, "fid.reference_dtype", ("float16", "float32", "float64"))
    if get(params, "fid.n_floor") + n_train > 60000:
        raise ParamError(f"fid.n_floor: at most {60000 - n_train} training images lie outside the subset")
