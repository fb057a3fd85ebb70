"""The measured numbers that the README and docs/ quote, rendered from the committed reports.

A number in the text is written between two comments that say where it comes from, and nothing else:

    | `fid` | 7 | ... | <!-- repro_times.json stage_seconds.fid/60 .1f -->9.6<!-- end --> min |

names a JSON file under ``reports/``, a dotted key in it (``/60`` divides the value), and a Python format
(``.1f``). Markdown shows the number alone. This script rewrites every such number from the reports:

    python scripts/render_numbers.py           # README.md and docs/*.md rewritten in place
    python scripts/render_numbers.py --check   # exit 1, one line per stale number, when any differs

``tests/test_render_numbers.py`` runs ``--check`` on the committed text, so a rerun stage whose numbers move makes
the test fail until the text is rendered again.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NUMBER = re.compile(
    r"<!-- (?P<file>\S+\.json) (?P<key>[\w.-]+)(?:/(?P<divisor>[\d.]+))? (?P<format>\S+) -->(?P<shown>.*?)<!-- end -->"
)


def value(reports: Path, file: str, key: str, divisor: str | None, spec: str) -> str:
    node = json.loads((reports / file).read_text())
    for part in key.split("."):
        node = node[int(part)] if isinstance(node, list) else node[part]
    number = float(node) / float(divisor) if divisor else node
    return format(number, spec)


def render(text: str, reports: Path) -> tuple[str, list[str]]:
    """``text`` with every marked number rendered from ``reports``, and one line per number that changed."""
    changed = []

    def one(match: re.Match) -> str:
        m = match.groupdict()
        try:
            fresh = value(reports, m["file"], m["key"], m["divisor"], m["format"])
        except (OSError, KeyError, IndexError, ValueError, TypeError) as err:
            raise SystemExit(f"render_numbers: {m['file']} {m['key']}: {type(err).__name__}: {err}") from None
        if fresh != m["shown"]:
            changed.append(f"{m['file']} {m['key']}: the text says {m['shown']}, the report {fresh}")
        return match.group(0).replace(f"-->{m['shown']}<!-- end -->", f"-->{fresh}<!-- end -->")

    return NUMBER.sub(one, text), changed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 when a number is stale")
    parser.add_argument("--root", type=Path, default=ROOT)
    args = parser.parse_args()
    stale = []
    for path in [args.root / "README.md", *sorted((args.root / "docs").glob("*.md"))]:
        text = path.read_text()
        rendered, changed = render(text, args.root / "reports")
        stale += [f"{path.relative_to(args.root)}: {line}" for line in changed]
        if changed and not args.check:
            path.write_text(rendered)
    for line in stale:
        print(line, file=sys.stderr if args.check else sys.stdout)
    return 1 if stale and args.check else 0


if __name__ == "__main__":
    sys.exit(main())
