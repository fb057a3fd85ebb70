"""What the checks tied to the handed-in model measure on a run, and what they cost: the ratio that
``task6.loss_matches_weights`` tests (eq. (38) on the weights against the logged loss), over several draw seeds,
and the seconds of every check of one grading (no FID).

    python scripts/model_check_costs.py reports/ --seed 0 --draws 8 > costs.json

The ratio's spread over draw seeds is what the rubric's window ``ratio`` must cover; the per-check seconds are
the price of the model checks per submission.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from grader import checks
from grader.checks.base import Registered
from grader.checks.regenerate import weights_loss
from grader.identity import Identity
from grader.references import References
from grader.runner import grade, load_rubric
from grader.safe import Submission

TIED = ("run.seed", "run.seeded_draws", "task6.grid_regenerates", "task7.samples_regenerate", "task6.loss_matches_weights")


def loss_ratios(folder: Path, refs: References, rubric: dict, draws: int) -> dict:
    logged = np.loadtxt(folder / "train/loss.csv", delimiter=",", skiprows=1, ndmin=2)[:, 1]
    typed, _ = checks.settings_problems(rubric)
    last = typed[("task6", "loss_matches_weights")].last_epochs
    reference = float(logged[-last:].mean())
    sub = Submission(folder, rubric["limits"])
    ratios, seconds = [], []
    for draw_seed in range(draws):
        ctx = checks.Context(sub=sub, z=float(rubric["statistics"]["z"]), refs=refs, draw_seed=draw_seed, settings=typed)
        start = time.perf_counter()
        ratios.append(weights_loss(ctx) / reference)
        seconds.append(time.perf_counter() - start)
    return {
        "logged_mean_of_last_epochs": reference,
        "last_epochs": last,
        "ratios": [round(r, 4) for r in ratios],
        "mean": float(np.mean(ratios)),
        "sd": float(np.std(ratios, ddof=1)) if draws > 1 else 0.0,
        "seconds": [round(s, 2) for s in seconds],
    }


def check_seconds(folder: Path, refs: References, rubric: dict, seed: int) -> dict:
    times: dict[str, float] = {}
    originals = dict(checks.CHECKS)
    for key, registered in originals.items():
        label = ".".join(key)

        def timed(ctx, cfg, fn=registered.run, name=label):
            start = time.perf_counter()
            try:
                return fn(ctx, cfg)
            finally:
                times[name] = round(time.perf_counter() - start, 2)

        checks.CHECKS[key] = Registered(timed, registered.settings)
    try:
        start = time.perf_counter()
        results = grade(folder, rubric, refs, Identity.of_seed(seed))
        total = time.perf_counter() - start
    finally:
        checks.CHECKS.update(originals)
    return {
        "per_check": times,
        "grading": round(total, 1),
        "tied_checks": round(sum(times.get(n, 0.0) for n in TIED), 1),
        "status": {r.name: r.status for r in results if r.name in TIED},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("reports", type=Path)
    parser.add_argument("--seed", type=int, default=0, help="the run's seed (the committed run: 0)")
    parser.add_argument("--draws", type=int, default=8, help="draw seeds 0..draws-1 for the loss ratio")
    args = parser.parse_args()
    rubric = load_rubric()
    refs = References(rubric, fid=False, progress=False)
    out = {"loss_ratio": loss_ratios(args.reports, refs, rubric, args.draws)}
    out["seconds"] = check_seconds(args.reports, refs, rubric, args.seed)
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
