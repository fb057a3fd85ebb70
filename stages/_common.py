"""What every stage does around its work.

A stage script is a function of its typed configs and its paths::

    @stage("train", configs={"model": UNetConfig, ...}, inputs=["images"], outputs=["model"])
    def main(cfg, paths) -> dict: ...

Its paths come from the command line (``--images data/mnist/train.npz``), as dvc.yaml's ``cmd`` passes them,
so each artifact's path is written once, in dvc.yaml's ``vars``; what a stage writes to ``reports/`` is declared
in ``ddpm_lab/artifacts.py`` and written through it. This wrapper checks that the library is this checkout's, builds the
configs from params.yaml (every problem at once, before any work: see ``ddpm_lab.config``), checks that every input
exists, times the work, writes the metrics the work returns (with the run's seed) atomically to
``reports/<stage>/metrics.json``, and turns the failures a person can act on into one line: among them a
function of the student edition that is still a stub (``NotImplementedError``), named with its file and line.
"""

from __future__ import annotations

import argparse
import functools
import os
import re
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
_elsewhere = [
    m.__file__ for name, m in sys.modules.items() if name.startswith("ddpm_lab.") and ROOT not in Path(m.__file__).parents
]
if _elsewhere:  # another checkout's library (an editable install) would run instead of this one's
    sys.exit(f"{_elsewhere[0]}: another checkout's library; run the stage from this one's root, `python -m stages.<name>`")

from ddpm_lab import artifacts  # noqa: E402
from ddpm_lab.config import ParamError, load  # noqa: E402  (after the check above)
from ddpm_lab.errors import InceptionUnavailable, MnistUnavailable, TrainingDiverged  # noqa: E402

# failures with a message a person can act on: one line, no traceback
EXPECTED_FAILURES = (MnistUnavailable, InceptionUnavailable, TrainingDiverged, FileNotFoundError)


def stage(
    name: str,
    *,
    configs: dict[str, Callable[..., Any]],
    inputs: tuple[str, ...] | list[str] = (),
    outputs: tuple[str, ...] | list[str] = (),
):
    def wrap(work):
        @functools.wraps(work)
        def main(argv: list[str] | None = None) -> None:
            parser = argparse.ArgumentParser(prog=f"python -m stages.{name}", description=sys.modules[work.__module__].__doc__)
            for arg in (*inputs, *outputs):
                parser.add_argument(f"--{arg.replace('_', '-')}", type=Path, required=True, metavar="PATH")
            paths = parser.parse_args(argv)
            os.chdir(ROOT)
            try:
                cfg = load(Path("params.yaml"), configs)
            except ParamError as err:
                sys.exit("\n".join(err.lines))
            missing = [
                f"{name}: missing input {getattr(paths, arg)} (--{arg.replace('_', '-')}); `dvc repro {name}` "
                "runs the stages that make it"
                for arg in inputs
                if not getattr(paths, arg).exists()
            ]
            if missing:
                sys.exit("\n".join(missing))
            paths.reports = Path("reports")  # what a stage writes there is declared in ddpm_lab/artifacts.py
            start = time.perf_counter()
            try:
                metrics = work(cfg, paths)
            except NotImplementedError as err:  # a function of the student edition not written yet
                sys.exit(f"{name}: not written yet: {err} ({where_raised(err)}){check_hint(err)}")
            except EXPECTED_FAILURES as err:
                sys.exit(f"{name}: {type(err).__name__}: {err}")
            seeds = {config.seed for config in vars(cfg).values() if hasattr(config, "seed")}
            if len(seeds) == 1:
                metrics["seed"] = seeds.pop()  # the run's seed, for whoever reads the metrics (the grader reports it)
            metrics["seconds"] = round(time.perf_counter() - start, 2)
            artifacts.write(paths.reports, artifacts.metrics(name), metrics)
            print(f"{name}: done in {metrics['seconds']:.1f} s")

        main.configs, main.inputs, main.outputs = configs, tuple(inputs), tuple(outputs)  # what tests check dvc.yaml against
        return main

    return wrap


def check_hint(err: NotImplementedError) -> str:
    """For a stub's "Task N: ..." message, the command that checks Task N's functions in seconds."""
    task = re.match(r"Task (\d+):", str(err))
    return f"; `python -m ddpm_lab.check {task.group(1)}` checks it in seconds" if task else ""


def where_raised(err: BaseException) -> str:
    """``file:line in function`` of the frame that raised ``err``, the file relative to the project."""
    frame = traceback.extract_tb(err.__traceback__)[-1]
    path = Path(frame.filename)
    shown = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
    return f"{shown}:{frame.lineno} in {frame.name}"
