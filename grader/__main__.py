"""python -m grader FOLDER [FOLDER ...] [--student-id ID | --seed N] [--roster seeds.csv] [--csv FILE] [--out DIR] [--no-fid]
                  [--workers N | --scheduler ADDRESS]
python -m grader assign OUT/ [--student-id ID | --roster FILE]   (the student edition: grader/assign.py)
python -m grader gradescope OUT.zip                              (Gradescope's autograder: grader/gradescope.py)

Every check measures the submitted arrays against the grader's own references; the FID is recomputed from
the saved samples unless --no-fid is given, in which case the FID checks are reported as not run.

Whose run it is (grader/identity.py): --student-id for one folder; with several folders, each folder's name
(subs/<id>/reports); --roster, the seeds.csv that `assign --roster` wrote, says whose seed a wrong one is. With no
id, run.seed is not run and the verdict is INCOMPLETE.

One folder is graded in this process. Several (or --workers / --scheduler) are graded on a Dask cluster, a time
limit each (grader/batch.py); with --csv, the class report is written beside the CSV (grader/classreport.py).

Exit 0 when every submission was graded and passed every required check, 1 when every submission was graded and
some failed or are incomplete, 3 when some submission could not be graded (its row says why), 2 when grading
could not run at all (a bad rubric, a reference file that does not match it, a Dask scheduler out of reach).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from grader import output
from grader.batch import ClusterUnavailable, Graded, Settings, grade_class, grade_into
from grader.identity import NOBODY, Identity, IdentityError, id_from_folder, read_roster
from grader.references import References, ReferenceUnavailable
from grader.runner import RubricError, load_rubric
from grader.safe import folder_problem

ALL_PASSED, SOME_FAILED, CANNOT_RUN, NOT_ALL_GRADED = 0, 1, 2, 3


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m grader", description="Grade Lab 7 reports folders.")
    parser.add_argument("folders", nargs="+", type=Path, help="reports/ folders made by the pipeline")
    parser.add_argument("--rubric", type=Path, help="rubric YAML (default: grader/rubric.yaml)")
    parser.add_argument("--out", type=Path, help="where to write results.json and the report (default: FOLDER/grading)")
    parser.add_argument("--csv", type=Path, help="write one row per submission to this CSV, and the class report beside it")
    parser.add_argument(
        "--no-fid", action="store_true", help="a quick look: skip Inception; the FID checks are reported as not run"
    )
    parser.add_argument(
        "--mnist-dir",
        type=Path,
        help="the grader's own copy of MNIST's IDX files (fetched and MD5-checked if missing; "
        "default: data/raw/mnist beside the grader)",
    )
    who = parser.add_mutually_exclusive_group()
    who.add_argument("--student-id", help="whose run one FOLDER is: the seed expected is the one `assign` gave this id")
    who.add_argument("--seed", type=int, help="the seed expected of one FOLDER, for a run of your own (the committed one: 0)")
    parser.add_argument(
        "--roster",
        type=Path,
        help="seeds.csv as `assign --roster` writes it: folder names are ids on it, and it names a seed's owner",
    )
    parser.add_argument(
        "--draw-seed", type=int, help="the seed of the grader's random picks, to reproduce a grading (default: fresh)"
    )
    parser.add_argument("--quiet", action="store_true", help="print only the score lines")
    cluster = parser.add_mutually_exclusive_group()
    cluster.add_argument("--workers", type=int, help="workers of the local Dask cluster (default: one per core)")
    cluster.add_argument("--scheduler", help="grade on this Dask scheduler's workers instead (tcp://HOST:8786)")
    parser.add_argument(
        "--time-limit", type=float, default=1800.0, help="seconds one submission may take on a cluster (default 1800)"
    )
    args = parser.parse_args(argv)
    if args.workers is not None and args.workers < 1:
        parser.error("--workers must be at least 1")
    if args.time_limit <= 0:
        parser.error("--time-limit must be positive")
    if (args.student_id is not None or args.seed is not None) and len(args.folders) > 1:
        parser.error("--student-id and --seed name the owner of one folder; for a class, folders are named by id")
    return args


def identities(args: argparse.Namespace, roster: dict[str, int] | None) -> list[Identity]:
    """Whose run each folder is, as the instructor said: --student-id or --seed for one folder; with a roster or
    several folders, each folder's name; else nobody."""
    if args.student_id is not None:
        return [Identity.of_student(args.student_id, "--student-id", roster)]
    if args.seed is not None:
        return [Identity.of_seed(args.seed)]
    if roster is not None or len(args.folders) > 1:
        return [Identity.of_student(id_from_folder(f), "the folder's name", roster) for f in args.folders]
    return [NOBODY]


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["assign"]:
        from grader import assign

        return assign.main(argv[1:])
    if argv[:1] == ["gradescope"]:
        from grader import gradescope

        return gradescope.main(argv[1:])
    args = parse(argv)
    settings = Settings(
        rubric=str(args.rubric) if args.rubric else None,
        mnist_dir=str(args.mnist_dir) if args.mnist_dir else None,
        fid=not args.no_fid,
        draw_seed=args.draw_seed,
    )
    try:  # the grader's files are checked before any submission is graded
        roster = read_roster(args.roster) if args.roster else None
        rubric = load_rubric(settings.rubric)
        refs = References(rubric, mnist_dir=args.mnist_dir, fid=settings.fid, draw_seed=args.draw_seed)
        refs.classifier  # noqa: B018
        if refs.fid_enabled:
            refs.fid_statistics  # noqa: B018
    except (RubricError, ReferenceUnavailable, IdentityError) as err:
        print(f"grader: {err}", file=sys.stderr)
        return CANNOT_RUN

    folders, owners = args.folders, identities(args, roster)
    in_process = len(folders) == 1 and args.workers is None and args.scheduler is None
    if in_process and not folders[0].is_dir():
        print(f"grader: {folders[0]}: {folder_problem(folders[0], rubric['limits'])}", file=sys.stderr)
        return CANNOT_RUN
    outs = [str(out_folder(args.out, folder, index, len(folders))) for index, folder in enumerate(folders)]
    if in_process:
        rows = [grade_here(folders[0], Path(outs[0]), rubric, refs, args.quiet, settings, owners[0])]
    else:
        del refs  # each worker loads its own
        try:
            rows = grade_class(
                [str(f) for f in folders], outs, settings, args.scheduler, args.workers, args.time_limit, identities=owners
            )
        except ClusterUnavailable as err:
            print(f"grader: {err}", file=sys.stderr)
            return CANNOT_RUN

    if args.csv:
        write_class(rows, rubric, args.csv)
    if not all(r.graded for r in rows):
        return NOT_ALL_GRADED
    return ALL_PASSED if all(r.verdict == "PASS" for r in rows) else SOME_FAILED


def out_folder(out: Path | None, folder: Path, index: int, count: int) -> Path:
    if out is None:
        return folder / "grading"
    return out if count == 1 else out / f"{index:03d}-{folder.parent.name or folder.name}"


def grade_here(
    folder: Path, out: Path, rubric: dict, refs: References, quiet: bool, settings: Settings, identity: Identity = NOBODY
) -> Graded:
    done = Graded(str(folder))
    results = grade_into(done, folder, out, rubric, refs, settings, identity)
    if results is None:
        print(f"\n== {folder}: not graded: {done.error}")
        return done
    print(f"\n== {folder}  ({done.verdict}; results in {out})")
    if not quiet:
        print(output.table(results))
    return done


def write_class(rows: list[Graded], rubric: dict, csv: Path) -> None:
    import pandas as pd

    from ddpm_lab.io import write_text
    from grader import classreport
    from grader.copies import find_copies

    pairs = find_copies([r.evidence for r in rows if r.evidence is not None], rubric["copies"])
    write_text(csv, pd.DataFrame([r.row() for r in rows]).to_csv(index=False))
    written = classreport.write(rows, pairs, rubric, csv)
    graded = sum(r.graded for r in rows)
    print(f"\ngrades of {len(rows)} submissions ({graded} graded) written to {csv}; {len(pairs)} pairs of copies listed")
    print("class report: " + ", ".join(str(p) for p in written))


if __name__ == "__main__":
    sys.exit(main())
