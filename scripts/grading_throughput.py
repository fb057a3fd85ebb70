"""Submissions graded per hour, with the FID recomputed, on a LocalCluster of 1 worker and of 2 (or --workers).

    python scripts/grading_throughput.py --submissions 2 --workers 1 2 --out reports/benchmark/grading_throughput.json

Every submission is the committed reports/ with its 2000 FID samples in an order of its own (so no worker reuses
another submission's Inception features): the full grading of a real submission, Inception included. Each
configuration's wall time counts everything an instructor waits for: the cluster's start, the references
loaded by each worker, every submission graded. The JSON is rewritten as each configuration ends.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from grader.batch import Settings, grade_class, local_shape

from _machine import cpu_model  # a sibling: scripts/ is sys.path[0]

ROOT = Path(__file__).resolve().parent.parent


def make_submissions(source: Path, folder: Path, count: int) -> list[str]:
    images = np.load(source / "fid/samples.npz")["images"]
    folders = []
    for k in range(count):
        target = folder / f"student{k:02d}"
        shutil.copytree(source, target, ignore=shutil.ignore_patterns("grading", "ablation", "benchmark"))
        order = np.random.default_rng(k).permutation(len(images))
        np.savez(target / "fid/samples.npz", images=images[order])
        folders.append(str(target))
    return folders


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--submissions", type=int, default=2)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--reports", type=Path, default=ROOT / "reports", help="the submission every copy is made from")
    parser.add_argument("--out", type=Path, default=ROOT / "reports/benchmark/grading_throughput.json")
    parser.add_argument("--no-fid", action="store_true", help="a quick try of this script: no Inception")
    args = parser.parse_args(argv)

    from ddpm_lab.io import write_json

    result = {
        "command": "python scripts/grading_throughput.py " + " ".join(sys.argv[1:] if argv is None else argv),
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "fid": not args.no_fid,
        "submissions": args.submissions,
        "samples_per_submission": int(len(np.load(args.reports / "fid/samples.npz")["images"])),
        "runs": [],
    }
    with tempfile.TemporaryDirectory() as tmp:
        folders = make_submissions(args.reports, Path(tmp), args.submissions)
        for workers in args.workers:
            n_workers, threads = local_shape(len(folders), workers)
            outs = [str(Path(tmp) / f"out-{workers}" / Path(f).name) for f in folders]
            messages = []
            start = time.monotonic()
            rows = grade_class(folders, outs, Settings(fid=not args.no_fid), workers=workers, log=messages.append)
            wall = time.monotonic() - start
            print(messages[0])
            failed = [r.submission for r in rows if not r.graded]
            result["runs"].append(
                {
                    "workers": n_workers,
                    "torch_threads_per_worker": threads,
                    "wall_seconds": round(wall, 1),
                    "seconds_per_submission": [round(r.seconds, 1) for r in rows],
                    "submissions_per_hour": round(len(rows) / wall * 3600, 2),
                    "not_graded": failed,
                    "scores": [r.score for r in rows],
                }
            )
            base = result["runs"][0]["submissions_per_hour"]
            result["runs"][-1]["speedup_over_first"] = round(result["runs"][-1]["submissions_per_hour"] / base, 3)
            write_json(args.out, result)
            print(json.dumps(result["runs"][-1]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
