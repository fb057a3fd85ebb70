"""The Fréchet distance's two computations side by side: clean-fid's (``sqrtm`` of Σ_a Σ_b) and the project's
(two symmetric eigendecompositions), on the floor's statistics against the shipped reference statistics.

    OMP_NUM_THREADS=1 python scripts/frechet_timing.py --rounds 3

Prints JSON: each computation's seconds per round and value, and their relative difference.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from cleanfid.fid import frechet_distance as cleanfid_distance

from ddpm_lab import fid

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--a", type=Path, default=ROOT / "data/fid/floor_stats.npz")
    parser.add_argument("--b", type=Path, default=ROOT / "grader/references/mnist_test_inception.npz")
    args = parser.parse_args()
    a, b = fid.load_statistics(args.a), fid.load_statistics(args.b)
    out = {"clean_fid_s": [], "ours_s": []}
    for _ in range(args.rounds):  # interleaved, so that a slower minute slows both
        start = time.perf_counter()
        theirs = float(cleanfid_distance(a["mu"], a["sigma"], b["mu"], b["sigma"]))
        out["clean_fid_s"].append(round(time.perf_counter() - start, 2))
        start = time.perf_counter()
        ours = fid.frechet_distance(a, b)
        out["ours_s"].append(round(time.perf_counter() - start, 2))
    out.update(clean_fid=theirs, ours=ours, relative_difference=abs(ours - theirs) / theirs)
    out["speedup"] = round(float(np.median(out["clean_fid_s"]) / np.median(out["ours_s"])), 2)
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
