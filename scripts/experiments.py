"""DVC's experiments, measured as the grader measures: one row per experiment of `dvc exp show`.

An ablation here is a set of DVC experiments, each params.yaml with some keys changed:

    dvc exp run --queue -n base32 -S model.base_channels=32 -S train.epochs=50 -S fid.n_generated=1000 -S fid.n_floor=1000
    dvc exp run --queue -n eta0 -S sampler.eta=0 -S fid.n_generated=1000 -S fid.n_floor=1000
    dvc queue start -j 1    # one at a time: two trainings on 2 cores slow each other several times
    dvc exp show --only-changed --md    # DVC's own table: the changed params, FID, floor, loss
    python scripts/experiments.py       # this table: the same rows with the grader's measures beside

DVC runs each experiment (only the stages its keys reach: a sampler key reuses the trained model from the cache),
keeps it when the next one fails, and records params and metrics. What DVC cannot measure, because it is no stage's
output (the digit classifier and MNIST's near-copies are the grader's, not the student's pipeline's), this script
adds: for each experiment, the FID samples it committed (``reports/fid/samples.npz``, read from its git commit)
through the grader's classifier and near-copy search, and the CPU minutes 200 epochs of its training take. Writes
``--out``/table.csv and table.md.
"""

from __future__ import annotations

import argparse
import io as bytes_io
import json
import subprocess
from pathlib import Path

import numpy as np

from ddpm_lab import artifacts, io
from ddpm_lab.config import leaf_keys, lookup
from grader import classifier
from grader.references import References
from grader.runner import load_rubric

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = artifacts.FID_SAMPLES.path  # reports/ relative
FID, TRAIN = artifacts.METRICS["fid"], artifacts.METRICS["train"]


def experiments(shown: list) -> list[dict]:
    """The experiments of `dvc exp show --json`, each ``{"name", "rev", "params", "baseline", "metrics"}``: the
    revs of each baseline commit's experiments (the workspace and the commits themselves are not experiments),
    those that failed left out; ``params`` and its commit's ``baseline`` params flattened to dotted keys."""
    found = []
    for baseline in shown:
        for group in baseline.get("experiments") or []:
            for rev in group.get("revs") or []:
                data = rev.get("data") or {}
                if rev.get("error") or not data or not rev.get("name"):
                    continue
                metrics = {path: (entry or {}).get("data", {}) for path, entry in (data.get("metrics") or {}).items()}
                found.append(
                    {
                        "name": rev["name"],
                        "rev": rev["rev"],
                        "params": params_of(data),
                        "baseline": params_of(baseline.get("data") or {}),
                        "metrics": metrics,
                    }
                )
    return found


def params_of(data: dict) -> dict:
    """params.yaml's values in an entry of `dvc exp show --json`, by dotted key."""
    params = (data.get("params") or {}).get("params.yaml", {}).get("data", {})
    return {key: lookup(params, key) for key in leaf_keys(params)} if params else {}


def committed_samples(root: Path, rev: str) -> np.ndarray:
    """The FID samples an experiment committed, from its git commit (they are `cache: false` outputs)."""
    blob = subprocess.run(["git", "show", f"{rev}:reports/{SAMPLES}"], cwd=root, capture_output=True, check=True).stdout
    with np.load(bytes_io.BytesIO(blob)) as archive:
        return archive["images"]


def row(experiment: dict, changed: list[str], refs: References, rubric: dict, samples: np.ndarray) -> dict:
    fid, train = experiment["metrics"].get(f"reports/{FID.path}", {}), experiment["metrics"].get(f"reports/{TRAIN.path}", {})
    digits = classifier.measure(refs.classifier, samples, rubric["digits"]["confidence"])
    distance, _ = refs.nearest_training_image(samples)
    trained = train.get(TRAIN.key("epochs"), 0) - train.get(TRAIN.key("resumed_from_epoch"), 0)
    return {
        "experiment": experiment["name"],
        **{key: experiment["params"].get(key) for key in changed},
        "n": len(samples),
        "fid": round(fid[FID.key("fid")], 2),
        "floor": round(fid[FID.key("floor")], 2),
        "fid_over_floor": round(fid[FID.key("fid_over_floor")], 2),
        "confident_digits": round(digits.confident_share, 3),
        "not_digits": round(digits.not_digit_share, 3),
        "digit_counts": "/".join(str(c) for c in digits.counts),
        "near_copies": round(float((distance < rubric_copy_distance(rubric)).mean()), 4),
        "cpu_minutes_per_200_epochs": round(train[TRAIN.key("train_seconds")] / trained * 200 / 60, 1) if trained else None,
    }


def rubric_copy_distance(rubric: dict) -> float:
    return float(rubric["tasks"]["task7"]["checks"]["not_training_copies"]["copy_distance"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("names", nargs="*", help="experiments to measure (default: every one `dvc exp show` lists)")
    parser.add_argument("--root", type=Path, default=ROOT, help="the DVC project whose experiments are read")
    parser.add_argument("--rubric", type=Path, help="the grader's rubric (default: the shipped one)")
    parser.add_argument("--mnist-dir", type=Path, help="the grader's copy of MNIST")
    parser.add_argument("--out", type=Path, default=ROOT / "reports" / "experiments")
    args = parser.parse_args()

    import pandas as pd

    shown = json.loads(subprocess.run(["dvc", "exp", "show", "--json"], cwd=args.root, capture_output=True, check=True).stdout)
    chosen = [e for e in experiments(shown) if not args.names or e["name"] in args.names]
    if not chosen:
        raise SystemExit(f"experiments.py: no experiment {'named ' + ' '.join(args.names) if args.names else 'to measure'}")
    keys = sorted({key for e in chosen for key in (*e["params"], *e["baseline"])})
    # a key set otherwise in some experiment than in another, or than in its baseline commit
    changed = [key for key in keys if len({json.dumps(e[side].get(key)) for e in chosen for side in ("params", "baseline")}) > 1]
    rubric = load_rubric(args.rubric)
    refs = References(rubric, mnist_dir=args.mnist_dir, fid=False)
    rows = []
    for experiment in chosen:
        rows.append(row(experiment, changed, refs, rubric, committed_samples(args.root, experiment["rev"])))
        print(rows[-1], flush=True)
    table = pd.DataFrame(rows)
    io.write_text(args.out / "table.csv", table.to_csv(index=False))
    io.write_text(args.out / "table.md", table.fillna("").to_markdown(index=False) + "\n")


if __name__ == "__main__":
    main()
