"""scripts/render_numbers.py: the numbers the README and docs quote are the committed reports' own."""

import json
import shutil
import subprocess
import sys


def render(root, *args):
    script = root / "scripts" / "render_numbers.py"
    return subprocess.run([sys.executable, str(script), *args], capture_output=True, text=True)


def test_the_committed_text_quotes_the_committed_reports(root):
    proc = render(root, "--check", "--root", str(root))
    assert proc.returncode == 0, proc.stderr
    assert (root / "README.md").read_text().count("<!-- end -->") >= 20  # the stage times, the FID, the loss


def test_a_report_that_moves_makes_the_check_fail_until_the_text_is_rendered_again(root, tmp_path):
    shutil.copy(root / "README.md", tmp_path / "README.md")
    (tmp_path / "docs").mkdir()
    shutil.copytree(root / "reports", tmp_path / "reports", ignore=shutil.ignore_patterns("*.npz", "*.png", "*.safetensors"))
    metrics = tmp_path / "reports/fid/metrics.json"
    numbers = json.loads(metrics.read_text())
    metrics.write_text(json.dumps({**numbers, "fid": 12.3456}))
    stale = render(root, "--check", "--root", str(tmp_path))
    assert stale.returncode == 1
    assert stale.stderr.strip().splitlines() == [
        f"README.md: fid/metrics.json fid: the text says {numbers['fid']:.2f}, the report 12.35"
    ]
    assert render(root, "--root", str(tmp_path)).returncode == 0
    assert "**<!-- fid/metrics.json fid .2f -->12.35<!-- end -->**" in (tmp_path / "README.md").read_text()
    assert render(root, "--check", "--root", str(tmp_path)).returncode == 0


def test_the_settings_files_comments_carry_no_measurements(root):
    """params.yaml and the rubric say what each value is and where it was measured, never what was measured: a
    decimal number or a percentage in a comment would go stale with the next run (the docs render those)."""
    import re

    for name in ("params.yaml", "grader/rubric.yaml"):
        for number, line in enumerate((root / name).read_text().splitlines(), 1):
            comment = line.split("#", 1)[1] if "#" in line else ""
            comment = re.sub(r"\b(?:eq|eqs)\. \([\d.\-, ]+\)|\(\d+\)|\d+\.\d+\.\d+", "", comment)  # equations, versions
            assert not re.search(r"\d\.\d|\d ?%|\d(?:\.\d+)?x faster", comment), f"{name}:{number}: {line.strip()}"
