"""scripts/grader_thresholds.py, the source of reports/grader_thresholds/ (docs/grading.md renders its table from
rows.json), at a tiny n on the committed reports: the sets that need no trained model."""

import json
import subprocess
import sys


def test_the_thresholds_script_measures_each_set_and_writes_what_the_docs_render(root, mnist_dir, tmp_path):
    script = root / "scripts" / "grader_thresholds.py"
    proc = subprocess.run([sys.executable, str(script), "--n", "6", "--out", str(tmp_path)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    record = json.loads((tmp_path / "rows.json").read_text())
    rows = record["rows"]
    assert list(rows) == ["real", "committed", "forgery", "noise"]
    assert all(row["n"] == 6 for row in rows.values()) and not any("fid" in row for row in rows.values())  # no --fid
    assert rows["forgery"]["copies_within_5"] == 1.0 and rows["forgery"]["median_nn_distance"] == 0
    assert rows["noise"]["not_digit_share"] == 1.0 and rows["noise"]["confident_share"] == 0
    for row in rows.values():  # shares within growing distances
        shares = [row[f"copies_within_{d}"] for d in (5, 10, 15, 20)]
        assert 0 <= shares[0] <= shares[1] <= shares[2] <= shares[3] <= 1
    assert record["command"] == f"python scripts/grader_thresholds.py --n 6 --out {tmp_path}"
    assert f"Made by `{record['command']}`" in (tmp_path / "table.md").read_text()
    assert (tmp_path / "table.csv").read_text().splitlines()[0].startswith("id,images,n,confident_share")
