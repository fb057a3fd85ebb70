"""python -m grader FOLDER [FOLDER ...] [--rubric FILE] [--csv FILE] [--out DIR] [--no-fid] [--mnist-dir DIR]
python -m grader assign OUT/ [--student-id ID | --roster FILE]   (the student edition: grader/assign.py)

Every check measures the submitted arrays against the grader's own references; the FID is recomputed from
the saved samples unless --no-fid is given, in which case the FID checks are reported as not run.

Exit 0 when every required check ran and passed for every folder, 1 when any failed or did not run,
2 when grading could not run at all (a bad rubric, a reference file that does not match it).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from grader import output
from grader.references import References, ReferenceUnavailable
from grader.runner import RubricError, grade_and_draw, load_rubric, verdict


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["assign"]:
        from grader import assign

        return assign.main(argv[1:])
    parser = argparse.ArgumentParser(prog="python -m grader", description="Grade Lab 7 reports folders.")
    parser.add_argument("folders", nargs="+", type=Path, help="reports/ folders made by the pipeline")
    parser.add_argument("--rubric", type=Path, help="rubric YAML (default: grader/rubric.yaml)")
    parser.add_argument("--out", type=Path, help="where to write results.json and the report (default: FOLDER/grading)")
    parser.add_argument("--csv", type=Path, help="write one row per submission to this CSV")
    parser.add_argument(
        "--no-fid", action="store_true", help="a quick look: skip Inception; the FID checks are reported as not run"
    )
    parser.add_argument(
        "--mnist-dir",
        type=Path,
        help="the grader's own copy of MNIST's IDX files (fetched and MD5-checked if missing; "
        "default: data/raw/mnist beside the grader)",
    )
    parser.add_argument("--quiet", action="store_true", help="print only the score lines")
    args = parser.parse_args(argv)

    try:
        rubric = load_rubric(args.rubric)
        refs = References(rubric, mnist_dir=args.mnist_dir, fid=not args.no_fid)
        refs.classifier  # noqa: B018 - the grader's files are checked before any submission is graded
        if refs.fid_enabled:
            refs.fid_statistics  # noqa: B018
    except (RubricError, ReferenceUnavailable) as err:
        print(f"grader: {err}", file=sys.stderr)
        return 2
    missing = [f for f in args.folders if not f.is_dir()]
    if missing and len(args.folders) == 1:
        print(f"grader: no such folder: {missing[0]}", file=sys.stderr)
        return 2

    rows, everyone_passed = [], True
    for index, folder in enumerate(args.folders):
        if not folder.is_dir():
            print(f"\n== {folder}: no such folder")
            rows.append(
                {"submission": str(folder), "score": 0.0, "max_score": None, "verdict": "FAIL", "error": "no such folder"}
            )
            everyone_passed = False
            continue
        if args.out:
            out = args.out if len(args.folders) == 1 else args.out / f"{index:03d}-{folder.parent.name or folder.name}"
        else:
            out = folder / "grading"
        results, drawn = grade_and_draw(folder, rubric, refs, figures=out / "figures")
        result = verdict(results)
        everyone_passed &= result == "PASS"
        output.write_all(results, rubric.get("lab", "Lab"), folder, out, drawn)
        print(f"\n== {folder}  ({result}; results in {out})")
        if not args.quiet:
            print(output.table(results))
        row = {
            "submission": str(folder),
            "score": sum(r.points for r in results),
            "max_score": sum(r.max_points for r in results),
            "verdict": result,
            "error": "",
        }
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
