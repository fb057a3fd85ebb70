"""The grader's checks, one module per task (as otter keeps a test file per question), each check a function
registered with the dataclass of its rubric settings (:mod:`grader.checks.base`).

The rules of Tasks 1–4 live in :mod:`ddpm_lab.check.graded`, which the student edition's own check runs too:
here they get the submission's arrays, read defensively.

Nothing a submission claims earns a point. Each check measures what it grades from the submitted arrays
(samples, noisy images, CSVs) against the grader's own references (:mod:`grader.references`): the FID is
recomputed, the digits are classified, the samples are compared with MNIST's training images, the subset is
matched to MNIST itself, the seed's draws are redrawn, samples are drawn again from the handed-in weights. A
claimed number is only compared with the measured one.

A check returns an :class:`Outcome`; it raises :class:`grader.safe.Rejected` for an unusable file, which the
runner turns into a failed check with that one line.

==============================  =============================================================
module                          checks
==============================  =============================================================
:mod:`.task1` … :mod:`.task7`   the lab's tasks, in the rubric's order
:mod:`.run`                     ``run.seed``, ``run.seeded_draws``: whose run, drawn with its seed
:mod:`.regenerate`              what ties samples and loss to the handed-in weights (Tasks 6, 7)
==============================  =============================================================
"""

from grader.checks import run, task1, task2, task3, task4, task5, task6, task7  # noqa: E402, F401  (registers them)
from grader.checks.base import (  # noqa: F401  (the names the runner and the reports use)
    CHECKS,
    FAILED,
    FID_SAMPLES,
    GRID_SAMPLES,
    NOT_RUN,
    PASSED,
    Context,
    Outcome,
    settings_problems,
)
