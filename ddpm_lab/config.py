"""params.yaml → the typed configs a stage runs with, built once, before any work starts.

The one module that knows params.yaml's layout (as ``ddpm_lab.artifacts`` is the one that knows reports/'s): the
stages, the scripts and the tests import it as ``ddpm_lab.config``; the rest of the library takes the configs it
builds and never reads params.yaml.

Every key of params.yaml is read here and only here: ``FIELDS`` lists the keys each config reads, and a
field is named as its key (``train.epochs`` fills ``epochs``). params.yaml holds the lab's values once: the
library's dataclasses have no defaults of their own. A stage asks for the configs it needs: those dataclasses
(``UNetConfig``, ``TrainConfig``, …, passed in by the stage, so its imports say what it runs) or the small stage
settings below. Their rules live in those dataclasses; the three rules that span sections live here
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


def _keys(section: str, *names: str) -> tuple[str, ...]:
    return tuple(f"{section}.{name}" for name in names)


# config name → the params.yaml keys that fill it. A field is named as its key's last part (``data.mnist_dir``
# fills ``mnist_dir``): no key is renamed on its way to the code. A config named as a section reads that
# section's keys, and a few of other sections that it shares (``seed``, ``data.image_size``).
FIELDS: dict[str, tuple[str, ...]] = {
    "gaussian_demo": (*_keys("gaussian_demo", "n_samples"), "seed"),
    "gndm_fit": (*_keys("gndm_fit", "n_samples", "true_mean", "learning_rate", "steps"), "seed"),
    "mnist": _keys("data", "mnist_dir", "image_size"),
    "subset": (*_keys("data", "n_train", "image_size"), *_keys("fid", "n_reference", "n_floor"), "seed"),
    "schedule": _keys("schedule", "steps", "alpha_start", "alpha_end"),
    "forward_demo": (*_keys("forward_demo", "timesteps"), "seed"),
    "model": (
        "data.image_size",
        *_keys(
            "model",
            "patch_size",
            "full_res_channels",
            "full_res_groups",
            "groups",
            "full_res_stem_block",
            "base_channels",
            "channel_mults",
            "attention",
            "attention_levels",
            "blocks_per_level",
            "dropout",
            "prediction",
        ),
    ),
    "train": (
        *_keys(
            "train",
            "epochs",
            "batch_size",
            "learning_rate",
            "warmup_steps",
            "grad_clip",
            "ema_decay",
            "checkpoint_every",
            "lr_schedule",
            "ema_warmup",
            "loss_weighting",
            "min_snr_gamma",
        ),
        "seed",
    ),
    "device": ("train.device",),
    "sampler": _keys("sampler", "steps", "spacing_power", "start", "variance", "clip_x0", "eta", "use_ema", "batch_size"),
    "sample_grid": (*_keys("sample_grid", "n_rows", "trajectory"), "seed"),
    # BEGIN SOLUTION  (the grader's own stages: not in the student edition)
    "digit_classifier": (*_keys("digit_classifier", "epochs", "batch_size", "learning_rate", "max_shift"), "seed"),
    "classifier_data": ("digit_classifier.n_train",),
    "fid_reference": _keys("fid", "n_reference", "batch_size", "runtime", "reference_dtype"),
    # END SOLUTION
    "fid_floor": _keys("fid", "n_floor", "batch_size", "runtime"),
    "fid": (*_keys("fid", "n_generated", "batch_size", "runtime"), "seed"),
}


def field_of(key: str) -> str:
    """The config field a params.yaml key fills: its last part."""
    return key.rsplit(".", 1)[-1]


KNOWN_KEYS = sorted({key for keys in FIELDS.values() for key in keys})


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
Mnist = settings("Mnist", mnist_dir=("text", {}), image_size=("integer", {"low": 4}))
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
    device: str
    RULES = {"device": ("choice", {"choices": ("auto", "cpu", "cuda")})}

    @property
    def torch(self):
        """cuda when asked for, or when ``auto`` and a GPU is present; else cpu."""
        import torch

        if self.device == "auto":
            return torch.device("cuda" if torch.cuda.is_available() else "cpu")
        return torch.device(self.device)


STAGE_SETTINGS: dict[str, Callable[..., Any]] = {
    "gaussian_demo": GaussianDemo,
    "gndm_fit": Gndm,
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
    """The configs named by ``builders`` (name → class or factory taking the fields ``FIELDS[name]`` fills),
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
        keys, values = FIELDS[name], {}
        for key in keys:
            try:
                value = lookup(params, key)
            except KeyError:
                problems.setdefault(key, "missing")
                continue
            values[field_of(key)] = tuple(value) if isinstance(value, list) else value
        if len(values) < len(keys):
            continue
        try:
            built[name] = build(**values)
        except ConfigError as err:
            key_of = {field_of(key): key for key in keys}
            for field, why in err.problems.items():
                problems.setdefault(key_of.get(field, f"{name}.{field}"), why)
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
