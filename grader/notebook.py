"""What the code cells of ``report.ipynb`` run: the grader's figures drawn again from the graded folder's arrays,
and the student's own PNGs read (never executed) from it. Run the notebook in this project's environment, from
the folder it was written to; the outputs it stores are what these cells print.

    from grader.notebook import Report
    report = Report("../", rubric=None)   # the graded folder, relative to the notebook; None: the default rubric
    report.figure("task6_grid.png")       # drawn by the grader from sample_grid/samples.npz
    report.student("train/loss.png")      # the student's own file, shown, not graded
"""

from __future__ import annotations

from pathlib import Path

from grader import figures
from grader.checks import Context
from grader.runner import load_rubric
from grader.safe import Submission


class Shown:
    """A PNG as a cell's result: Jupyter shows ``_repr_png_``, plain text shows the label."""

    def __init__(self, data: bytes, label: str) -> None:
        self.data, self.label = data, label

    def _repr_png_(self) -> bytes:
        return self.data

    def __repr__(self) -> str:
        return self.label


class Report:
    """The graded folder with the grader's references, loaded once for every cell (the figures share what they
    measure, as in grading)."""

    def __init__(self, folder: str | Path, rubric: str | None = None, mnist_dir: str | None = None) -> None:
        from grader.references import References

        loaded = load_rubric(rubric)
        self.sub = Submission(Path(folder), loaded["limits"])
        refs = References(loaded, mnist_dir=Path(mnist_dir) if mnist_dir else None, fid=False, progress=False)
        self.ctx = Context(sub=self.sub, z=float(loaded["statistics"]["z"]), refs=refs)

    def figure(self, name: str) -> Shown:
        return Shown(figures.png(self.ctx, name), figure_label(name))

    def student(self, relative: str) -> Shown:
        self.sub.image(relative)  # a PNG within the limits, or Rejected
        return Shown(self.sub.read_bytes(relative), student_label(relative))


def figure_label(name: str) -> str:
    return f"{name}, drawn by the grader from the submitted arrays"


def student_label(relative: str) -> str:
    return f"the student's {relative} (shown, not graded)"
