"""The student edition's times, as its README quotes them: its check and its smoke run, walked as a student would.

    .venv/bin/python scripts/edition_times.py --out reports/edition_times.json

Writes an edition (`python -m grader assign`), writes the solution's functions back into its stubs, puts MNIST's
four files where its README says for offline use, then times, one after the other on this machine:

- ``python -m ddpm_lab.check`` before any stage has run (every function check; the graded ones skipped);
- the README's smoke run, its first command exactly as written (``dvc exp run -S …``);
- ``python -m ddpm_lab.check`` after it (the function checks and the graded checks of Tasks 1–4 on its reports).

Each number is written with the machine's CPU and core count; the README renders them (grader/assign.py).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from grader import assign, markers

from _machine import cpu_model  # a sibling: scripts/ is sys.path[0]

ROOT = Path(__file__).resolve().parent.parent


def timed(command: str, cwd: Path, expect_ok: bool = True) -> tuple[float, str]:
    env = {**os.environ, "DVC_NO_ANALYTICS": "1", "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    start = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, shell=True, capture_output=True, text=True, env=env)
    seconds = time.perf_counter() - start
    if expect_ok and done.returncode != 0:
        sys.exit(f"{command} failed ({done.returncode}):\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    print(f"{seconds:7.1f} s  {command}", flush=True)
    return seconds, done.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "reports/edition_times.json")
    parser.add_argument("--mnist-dir", type=Path, default=ROOT / "data/raw/mnist")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        edition = Path(tmp) / "lab"
        assign.write_edition(edition)
        for stub in markers.stubs(ROOT):
            shutil.copy(ROOT / stub["file"], edition / stub["file"])
        offline = edition / "data/raw/mnist"
        offline.mkdir(parents=True)
        for name in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
            shutil.copy(args.mnist_dir / name, offline / name)
        timed("git add -A && git -c user.name=s -c user.email=s@invalid commit -qm 'my functions'", edition)
        check_seconds, _ = timed("python -m ddpm_lab.check", edition, expect_ok=False)  # graded checks skipped: exit 1
        readme = (edition / "README.md").read_text()
        block = readme.split("## A smoke run", 1)[1].split("```bash\n", 1)[1].split("```", 1)[0]
        smoke = block.splitlines()[0].strip()
        smoke_seconds, _ = timed(smoke, edition)
        after_seconds, said = timed("python -m ddpm_lab.check", edition)
    record = {
        "date": datetime.date.today().isoformat(),
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "check_seconds": round(check_seconds, 1),
        "smoke_command": smoke,
        "smoke_seconds": round(smoke_seconds, 1),
        "check_after_smoke_seconds": round(after_seconds, 1),
        "check_after_smoke": said.splitlines()[-1],
    }
    args.out.write_text(json.dumps(record, indent=1) + "\n")
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
