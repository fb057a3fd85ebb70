"""The stage times of one `dvc repro`, from its log and the stages' own metrics, as the README quotes them.

    (time bash -c 'bash scripts/setup.sh && . .venv/bin/activate && dvc repro') 2>&1 | tee repro.log
    .venv/bin/python scripts/repro_times.py repro.log --out reports/repro_times.json

Reads which stages ran, in order, from DVC's "Running stage" lines, each stage's seconds from the `seconds` its
`reports/<stage>/metrics.json` records, and the wall-clock time from the `real` line that bash's `time` printed
(setup included). Writes them with the machine's CPU model, core count and the date.

    dvc repro train sample_grid fid 2>&1 | tee rerun.log         # after a change that only they depend on
    .venv/bin/python scripts/repro_times.py rerun.log --update

With ``--update`` the log is that of a `dvc repro` that reran some stages in place (no setup, no `time`): their
seconds replace those in the file, the others keep theirs, the wall time moves by the difference, and
``rerun_stages`` / ``rerun_date`` say which numbers are newer than the fresh clone's.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import re
from pathlib import Path

from ddpm_lab import io

from _machine import cpu_model  # a sibling: scripts/ is sys.path[0]

ROOT = Path(__file__).resolve().parent.parent


def stages_run(log: str) -> list[str]:
    return re.findall(r"^Running stage '([^']+)'", log, flags=re.MULTILINE)


def wall_seconds(log: str) -> float | None:
    """bash's ``time``: the last ``real  XmY.YYYs`` line."""
    found = re.findall(r"^real\s+(\d+)m([\d.]+)s", log, flags=re.MULTILINE)
    return round(int(found[-1][0]) * 60 + float(found[-1][1]), 1) if found else None


def total(seconds: dict[str, float | None]) -> float:
    return round(sum(s for s in seconds.values() if s), 1)


def updated(summary: dict, rerun: dict[str, float | None]) -> dict:
    """``summary`` with the seconds of the stages in ``rerun`` replaced and its totals moved by the difference."""
    missing = sorted(stage for stage, seconds in rerun.items() if seconds is None or stage not in summary["stage_seconds"])
    if missing:
        raise SystemExit(f"no seconds to replace for {', '.join(missing)}: update only stages the file already holds")
    delta = sum(rerun[stage] - summary["stage_seconds"][stage] for stage in rerun)
    stage_seconds = {**summary["stage_seconds"], **rerun}
    return {
        **summary,
        "wall_seconds_with_setup": round(summary["wall_seconds_with_setup"] + delta, 1),
        "stage_seconds": stage_seconds,
        "stages_seconds_total": total(stage_seconds),
        "rerun_stages": sorted(set(summary.get("rerun_stages", [])) | set(rerun)),
        "rerun_date": datetime.date.today().isoformat(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("log", type=Path, help="the output of the timed setup and dvc repro")
    parser.add_argument("--reports", type=Path, default=ROOT / "reports")
    parser.add_argument("--out", type=Path, default=ROOT / "reports/repro_times.json")
    parser.add_argument(
        "--update", action="store_true", help="replace the seconds of the stages this log ran in --out, keep the rest"
    )
    args = parser.parse_args()

    log = args.log.read_text(errors="replace")
    ran = stages_run(log)
    if not ran:
        raise SystemExit(f"{args.log}: no \"Running stage '…'\" line: not the log of a dvc repro")
    seconds = {}
    for stage in ran:
        metrics = args.reports / stage / "metrics.json"
        seconds[stage] = json.loads(metrics.read_text()).get("seconds") if metrics.exists() else None
    if args.update:
        summary = updated(json.loads(args.out.read_text()), seconds)
        io.write_text(args.out, json.dumps(summary, indent=1) + "\n")
        print(json.dumps(summary, indent=1))
        return
    wall = wall_seconds(log)
    summary = {
        "date": datetime.date.today().isoformat(),
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "wall_seconds_with_setup": wall,
        "stage_seconds": seconds,
        "stages_seconds_total": total(seconds),
    }
    io.write_text(args.out, json.dumps(summary, indent=1) + "\n")
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
