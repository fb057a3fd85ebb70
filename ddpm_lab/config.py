"""params.yaml → the typed configs a stage runs with, built once, before any work starts.

The one module that knows params.yaml's layout (as ``ddpm_lab.artifacts`` is the one that knows reports/'s): the
stages, the scripts and the tests import it as ``ddpm_lab.config``; the rest of the library takes the configs it
builds and never reads params.yaml.

Every key of params.yaml is read here and only here, each named once in ``FIELDS`` beside the config field
it fills. A stage asks for the configs it needs: the library's own dataclasses (``UNetConfig``,
``TrainConfig``, …, passed in by the stage, so its imports say what it runs) or the small stage settings
below. Their rules live in those dataclasses; the two rules that span sections live here
(:func:`cross_section_problems`). Every problem is reported at once, one line each, before any work:
a YAML syntax error (file, line, column), a missing key, a key the pipeline does not read (a typo such
as ``train.epoch``), and each value a config refuses.
"""

from __future__ import annotations

import copy
import difflib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import yaml

from ddpm_lab.errors import ConfigError
from ddpm_lab.rules import Checked, settings

# config name → {its field: the params.yaml key that fills it}
FIELDS: dict[str, dict[str, str]] = {
    "gaussian_demo": {"n_samples": "gaussian_demo.n_samples", "seed": "seed"},
    "gndm": {
        "n_samples": "gndm_fit.n_samples",
        "true_mean": "gndm_fit.true_mean",
        "learning_rate": "gndm_fit.learning_rate",
        "steps": "gndm_fit.steps",
        "seed": "seed",
    },
    "mnist": {"folder": "data.mnist_dir", "image_size": "data.image_size"},
    "subset": {
        "n_train": "data.n_train",
        "image_size": "data.image_size",
        "n_reference": "fid.n_reference",
        "n_floor": "fid.n_floor",
        "seed": "seed",
    },
    "schedule": {"steps": "schedule.steps", "alpha_start": "schedule.alpha_start", "alpha_end": "schedule.alpha_end"},
    "forward_demo": {"timesteps": "forward_demo.timesteps", "seed": "seed"},
    "model": {
        "image_size": "data.image_size",
        "patch_size": "model.patch_size",
        "full_res_channels": "model.full_res_channels",
        "full_res_groups": "model.full_res_groups",
        "groups": "model.groups",
        "full_res_stem_block": "model.full_res_stem_block",
        "base_channels": "model.base_channels",
        "channel_mults": "model.channel_mults",
        "attention": "model.attention",
        "attention_levels": "model.attention_levels",
        "blocks_per_level": "model.blocks_per_level",
        "dropout": "model.dropout",
        "prediction": "model.prediction",
    },
    "train": {
        "epochs": "train.epochs",
        "batch_size": "train.batch_size",
        "learning_rate": "train.learning_rate",
        "warmup_steps": "train.warmup_steps",
        "grad_clip": "train.grad_clip",
        "ema_decay": "train.ema_decay",
        "checkpoint_every": "train.checkpoint_every",
        "lr_schedule": "train.lr_schedule",
        "ema_warmup": "train.ema_warmup",
        "loss_weighting": "train.loss_weighting",
        "min_snr_gamma": "train.min_snr_gamma",
        "seed": "seed",
    },
    "device": {"name": "train.device"},
    "sampler": {
        "steps": "sampler.steps",
        "spacing_power": "sampler.spacing_power",
        "start": "sampler.start",
        "variance": "sampler.variance",
        "clip_x0": "sampler.clip_x0",
        "eta": "sampler.eta",
        "use_ema": "sampler.use_ema",
        "batch_size": "sampler.batch_size",
    },
    "sample_grid": {"n_rows": "sample_grid.n_rows", "trajectory": "sample_grid.trajectory", "seed": "seed"},
    # BEGIN SOLUTION  (the grader's own stages: not in the student edition)
    "classifier": {
        "epochs": "digit_classifier.epochs",
        "batch_size": "digit_classifier.batch_size",
        "learning_rate": "digit_classifier.learning_rate",
        "max_shift": "digit_classifier.max_shift",
        "seed": "seed",
    },
    "classifier_data": {"n_train": "digit_classifier.n_train"},
    "fid_reference": {
        "n_reference": "fid.n_reference",
        "batch_size": "fid.batch_size",
        "runtime": "fid.runtime",
        "reference_dtype": "fid.reference_dtype",
    },
    # END SOLUTION
    "fid_floor": {"n_floor": "fid.n_floor", "batch_size": "fid.batch_size", "runtime": "fid.runtime"},
    "fid": {"n_generated": "fid.n_generated", "batch_size": "fid.batch_size", "runtime": "fid.runtime", "seed": "seed"},
}
KNOWN_KEYS = sorted({key for fields in FIELDS.values() for key in fields.values()})


class ParamError(ValueError):
    """Everything wrong with params.yaml for a stage: ``lines``, one problem each."""

    def __init__(self, lines: list[str]) -> None:
        self.lines = lines
        super().__init__("\n".join(lines))


# Settings of the stages themselves ------------------------------------------------------------------------


SEED = ("integer", {"low": 0})
BATCH = ("integer", {"low": 1})
INCEPTION_RUNTIME = ("choice", {"choices": ("auto", "openvino", "clean-fid")})  # ddpm_lab.inception.RUNTIMES
GaussianDemo = settings("GaussianDemo", n_samples=("integer", {"low": 2}), seed=SEED)
Gndm = settings(
    "Gndm",
    n_samples=("integer", {"low": 2}),
    true_mean=("numbers", {"length": 2}),
    learning_rate=("number", {"low": 0, "low_open": True}),
    steps=("integer", {"low": 1}),
    seed=SEED,
)
Mnist = settings("Mnist", folder=("text", {}), image_size=("integer", {"low": 4}))
ForwardDemo = settings("ForwardDemo", timesteps=("integers", {"low": 0}), seed=SEED)
SampleGrid = settings("SampleGrid", n_rows=("integer", {"low": 1}), trajectory=("integers", {"low": 0}), seed=SEED)
# BEGIN SOLUTION  (the grader's own stages: not in the student edition)
ClassifierData = settings("ClassifierData", n_train=("integer", {"low": 10, "high": 60000}))
FidReference = settings(
    "FidReference",
    n_reference=("integer", {"low": 2, "high": 10000}),
    batch_size=BATCH,
    runtime=INCEPTION_RUNTIME,
    reference_dtype=("choice", {"choices": ("float16", "float32", "float64")}),
)
# END SOLUTION
FidFloor = settings("FidFloor", n_floor=("integer", {"low": 2}), batch_size=BATCH, runtime=INCEPTION_RUNTIME)
Fid = settings("Fid", n_generated=("integer", {"low": 2}), batch_size=BATCH, runtime=INCEPTION_RUNTIME, seed=SEED)


@dataclass(frozen=True)
class Device(Checked):
    name: str
    RULES = {"name": ("choice", {"choices": ("auto", "cpu", "cuda")})}

    @property
    def torch(self):
        """cuda when asked for, or when ``auto`` and a GPU is present; else cpu."""
        import torch

        if self.name == "auto":
            return torch.device("cuda" if torch.cuda.is_available() else "cpu")
        return torch.device(self.name)


STAGE_SETTINGS: dict[str, Callable[..., Any]] = {
    "gaussian_demo": GaussianDemo,
    "gndm": Gndm,
    "mnist": Mnist,
    "forward_demo": ForwardDemo,
    "device": Device,
    "sample_grid": SampleGrid,
    # BEGIN SOLUTION  (the grader's own stages: not in the student edition)
    "classifier_data": ClassifierData,
    "fid_reference": FidReference,
    # END SOLUTION
    "fid_floor": FidFloor,
    "fid": Fid,
}


# Reading and building ---------------------------------------------------------------------------------------


def read(path: Path) -> dict:
    """params.yaml as a mapping; a syntax error becomes one line with the file, line and column."""
    try:
        params = yaml.safe_load(Path(path).read_text())
    except yaml.MarkedYAMLError as err:
        mark, opened = err.problem_mark or err.context_mark, err.context_mark
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        context = f" ({err.context} at line {opened.line + 1}, column {opened.column + 1})" if opened and err.problem else ""
        raise ParamError([f"{where}: YAML syntax error: {err.problem or err.context}{context}"]) from None
    except OSError as err:
        raise ParamError([f"{path}: cannot be read ({err.strerror})"]) from None
    if not isinstance(params, dict):
        raise ParamError([f"{path}: expected a mapping of sections, got {type(params).__name__}"])
    return params


def leaf_keys(node: Any, prefix: str = "") -> list[str]:
    """The dotted keys of a nested mapping's leaves, in the mapping's order (an empty section is a leaf)."""
    if not isinstance(node, dict) or not node:
        return [prefix]
    return [key for name, value in node.items() for key in leaf_keys(value, f"{prefix}.{name}" if prefix else str(name))]


def with_overrides(params: dict, overrides: dict[str, Any]) -> dict:
    """A copy of ``params`` with each dotted key of ``overrides`` set, as `dvc exp run -S key=value` sets it."""
    params = copy.deepcopy(params)
    for dotted, value in overrides.items():
        *parents, leaf = dotted.split(".")
        node = params
        for key in parents:
            node = node.setdefault(key, {})
        node[leaf] = value
    return params


def lookup(params: dict, key: str) -> Any:
    node = params
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            raise KeyError(key)
        node = node[part]
    return node


def cross_section_problems(built: dict[str, Any]) -> dict[str, str]:
    """The rules that join two sections; each runs when the stage built both."""
    problems = {}
    schedule = built.get("schedule")
    if schedule is not None and built.get("sampler") is not None and built["sampler"].steps is not None:
        if built["sampler"].steps > schedule.steps:
            problems["sampler.steps"] = f"must be <= {schedule.steps} (schedule.steps), got {built['sampler'].steps}"
    if schedule is not None and built.get("forward_demo") is not None:
        late = [t for t in built["forward_demo"].timesteps if t > schedule.steps]
        if late:
            problems["forward_demo.timesteps"] = f"must lie in [0, {schedule.steps}] (schedule.steps), got {late}"
    if schedule is not None and built.get("sample_grid") is not None:
        late = [t for t in built["sample_grid"].trajectory if t > schedule.steps]
        if late:
            problems["sample_grid.trajectory"] = f"must lie in [0, {schedule.steps}] (schedule.steps), got {late}"
    return problems


def load(path: Path, builders: dict[str, Callable[..., Any]]) -> SimpleNamespace:
    """The configs named by ``builders`` (name → class or factory taking the fields of ``FIELDS[name]``),
    built from the params file at ``path``; raises :class:`ParamError` with every problem, one line each,
    each starting with ``path``."""
    params = read(path)
    problems: dict[str, str] = {}
    for key in leaf_keys(params):
        if key not in KNOWN_KEYS:
            close = difflib.get_close_matches(key, KNOWN_KEYS, n=1)
            problems[key] = "not a setting of this pipeline" + (f" (did you mean {close[0]}?)" if close else "")
    built: dict[str, Any] = {}
    for name, build in builders.items():
        fields = FIELDS[name]
        values = {}
        for field, key in fields.items():
            try:
                value = lookup(params, key)
            except KeyError:
                problems.setdefault(key, "missing")
                continue
            values[field] = tuple(value) if isinstance(value, list) else value
        if len(values) < len(fields):
            continue
        try:
            built[name] = build(**values)
        except ConfigError as err:
            for field, why in err.problems.items():
                problems.setdefault(fields.get(field, f"{name}.{field}"), why)
    problems.update({k: v for k, v in cross_section_problems(built).items() if k not in problems})
    if problems:
        order = {key: i for i, key in enumerate(leaf_keys(params))}
        keys = sorted(problems, key=lambda k: (order.get(k, len(order)), k))
        raise ParamError([f"{path}: {key}: {problems[key]}" for key in keys])
    return SimpleNamespace(**built)


def pipeline_paths(root: Path) -> dict[str, Path]:
    """The artifact paths dvc.yaml names once in its ``vars`` (``paths``), under ``root``: for the scripts that
    read the pipeline's outputs outside DVC."""
    for entry in yaml.safe_load((Path(root) / "dvc.yaml").read_text()).get("vars", []):
        if isinstance(entry, dict) and "paths" in entry:
            return {name: Path(root) / path for name, path in entry["paths"].items()}
    raise KeyError("dvc.yaml names no paths in its vars")
