"""python -m grader FOLDER [FOLDER ...] [--rubric FILE] [--csv FILE] [--out DIR] [--recompute-fid]

Exit 0 when every required check passes for every folder, 1 when any fails, 2 when grading could not run.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from grader import output
from grader.runner import RubricError, all_required_pass, grade, load_rubric


def _fid_recomputer(stats_path: Path):
    """FID of saved uint8 samples against trusted reference statistics (ours, never the submission's)."""
    import numpy as np

    from ddpm_lab import fid

    if not stats_path.is_file():
        def missing(images):
            raise FileNotFoundError(f"no reference statistics at {stats_path}; run `dvc repro fid_reference` first")
        return missing
    with np.load(stats_path, allow_pickle=False) as f:
        reference = {k: f[k] for k in f.files}
    extractor = None

    def recompute(images):
        nonlocal extractor
        extractor = extractor or fid.FeatureExtractor()
        return fid.frechet_distance(fid.statistics(extractor.features(images)), reference)

    return recompute


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m grader", description="Grade Lab 7 reports folders.")
    parser.add_argument("folders", nargs="+", type=Path, help="reports/ folders made by the pipeline")
    parser.add_argument("--rubric", type=Path, help="rubric YAML (default: grader/rubric.yaml)")
    parser.add_argument("--out", type=Path, help="where to write results.json and the report (default: FOLDER/grading)")
    parser.add_argument("--csv", type=Path, help="write one row per submission to this CSV")
    parser.add_argument("--recompute-fid", action="store_true", help="recompute the FID from the saved samples with clean-fid")
    parser.add_argument("--reference-stats", type=Path, default=Path("data/fid/reference_stats.npz"),
                        help="trusted Inception statistics of the MNIST test images, for --recompute-fid")
    parser.add_argument("--quiet", action="store_true", help="print only the score lines")
    args = parser.parse_args(argv)

    try:
        rubric = load_rubric(args.rubric)
    except RubricError as err:
        print(f"grader: {err}", file=sys.stderr)
        return 2
    missing = [f for f in args.folders if not f.is_dir()]
    if missing and len(args.folders) == 1:
        print(f"grader: no such folder: {missing[0]}", file=sys.stderr)
        return 2
    recompute = _fid_recomputer(args.reference_stats) if args.recompute_fid else None

    rows, everyone_passed = [], True
    for index, folder in enumerate(args.folders):
        if not folder.is_dir():
            print(f"\n== {folder}: no such folder")
            rows.append({"submission": str(folder), "score": 0.0, "max_score": None, "passed": False, "error": "no such folder"})
            everyone_passed = False
            continue
        results = grade(folder, rubric, recompute)
        passed = all_required_pass(results)
        everyone_passed &= passed
        out = args.out if args.out and len(args.folders) == 1 else (args.out / f"{index:03d}-{folder.parent.name or folder.name}" if args.out else folder / "grading")
        output.write_all(results, rubric.get("lab", "Lab"), folder, out)
        print(f"\n== {folder}  ({'PASS' if passed else 'FAIL'}; results in {out})")
        if not args.quiet:
            print(output.table(results))
            print("\n" + output.markdown(results, rubric.get("lab", "Lab"), folder, out))
        row = {"submission": str(folder), "score": sum(r.points for r in results), "max_score": sum(r.max_points for r in results), "passed": passed, "error": ""}
        row.update({r.name: r.points for r in results})
        rows.append(row)

    if args.csv:
        import pandas as pd

        args.csv.parent.mkdir(parents=True, exist_ok=True)
        pd.DataFrame(rows).to_csv(args.csv, index=False)
        print(f"\ngrades of {len(rows)} submissions written to {args.csv}")
    return 0 if everyone_passed else 1


if __name__ == "__main__":
    sys.exit(main())
