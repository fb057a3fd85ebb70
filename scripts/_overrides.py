"""params.yaml with some keys changed, as `dvc exp run -S key=value` changes them: the scripts that compare
variants of the pipeline's settings build each variant's configs here, checked as a stage checks its own."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import yaml

from ddpm_lab.config import ParamError, load, read, with_overrides


def parse_pairs(pairs: list[str], prefix: str = "") -> dict[str, Any]:
    """``["a.b=1", "c=true"]`` → ``{prefix + "a.b": 1, prefix + "c": True}``, each value read as YAML reads it;
    a pair without ``=`` raises ValueError naming it."""
    overrides = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ValueError(f"expected key=value, not {pair!r}")
        overrides[prefix + key] = yaml.safe_load(value)
    return overrides


def configs_with(params_file: Path, overrides: dict[str, Any], builders: dict[str, Callable[..., Any]]) -> SimpleNamespace:
    """The configs ``builders`` names, built from ``params_file`` with ``overrides`` (dotted keys) set; raises
    the stages' ParamError, every problem at once, where a changed value breaks a rule: each line names the key,
    not the temporary file the variant was checked in."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "params.yaml"
        path.write_text(yaml.safe_dump(with_overrides(read(params_file), overrides)))
        try:
            return load(path, builders)
        except ParamError as error:
            raise ParamError([line.removeprefix(f"{path}: ") for line in error.lines]) from None
