"""What every stage does around its work: make the library importable, read and validate params.yaml,
time the work, and write its metrics atomically to reports/<stage>/metrics.json."""

from __future__ import annotations

import functools
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ddpm_lab import io  # noqa: E402
from ddpm_lab.errors import InceptionUnavailable, MnistUnavailable, TrainingDiverged  # noqa: E402
from ddpm_lab.params import ParamError, load  # noqa: E402

# failures with a message a person can act on: one line, no traceback
EXPECTED_FAILURES = (MnistUnavailable, InceptionUnavailable, TrainingDiverged, FileNotFoundError)


def stage(name: str):
    def wrap(work):
        @functools.wraps(work)
        def main():
            os.chdir(ROOT)
            try:
                params = load(ROOT / "params.yaml")
            except ParamError as err:
                sys.exit(f"params.yaml: {err}")
            out = ROOT / "reports" / name
            out.mkdir(parents=True, exist_ok=True)
            start = time.perf_counter()
            try:
                metrics = work(params, out)
            except EXPECTED_FAILURES as err:
                sys.exit(f"{name}: {type(err).__name__}: {err}")
            metrics["seconds"] = round(time.perf_counter() - start, 2)
            io.write_json(out / "metrics.json", metrics)
            print(f"{name}: done in {metrics['seconds']:.1f} s")
        return main
    return wrap
