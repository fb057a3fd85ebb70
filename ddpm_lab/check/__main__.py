"""``python -m ddpm_lab.check [TASK ...]``: check the lab's functions (and the graded reports of Tasks 1–4)."""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter

from ddpm_lab.check import FAILED, NOT_RUN, NOT_WRITTEN, PASSED, function_checks, run

TASKS = range(1, 8)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m ddpm_lab.check",
        description="Check the lab's functions against its equations, and the graded checks of Tasks 1-4 on reports/. "
        "Exit 0 when every check passed, 1 otherwise.",
    )
    parser.add_argument("tasks", nargs="*", type=int, metavar="TASK", help="task numbers (default: all)")
    parser.add_argument("--reports", default="reports", help="the folder dvc repro writes (default: reports)")
    parser.add_argument("--mnist-dir", default="data/raw/mnist", help="MNIST's files, for Task 3 (params.yaml's data.mnist_dir)")
    args = parser.parse_args(argv)
    wrong = [t for t in args.tasks if t not in TASKS]
    if wrong:
        parser.error(f"no task {wrong[0]}: the lab's tasks are 1 to 7")
    from ddpm_lab.check.reports import report_checks

    chosen = set(args.tasks) or set(TASKS)
    checks = [c for c in (*function_checks(), *report_checks(args.reports, args.mnist_dir)) if c.task in chosen]
    start = time.perf_counter()
    counts: Counter = Counter()
    for check in checks:
        line = run(check)
        counts[line.status] += 1
        print(line, flush=True)
    summary = ", ".join(f"{counts[s]} {s}" for s in (PASSED, FAILED, NOT_WRITTEN, NOT_RUN) if counts[s])
    print(f"{summary or 'no check'} ({time.perf_counter() - start:.1f} s)")
    if counts[NOT_RUN]:
        print("a check not run counts as not passed: make what it needs (the line says how), then check again")
    return 0 if checks and counts[PASSED] == len(checks) else 1


if __name__ == "__main__":
    sys.exit(main())
