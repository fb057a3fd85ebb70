"""Each graded check's settings as the rubric writes them, typed and checked when the rubric loads.

A check's entry in ``grader/rubric.yaml`` holds the fields every check has (:class:`CheckSettings`) and the
thresholds of its own rule. Each check declares its settings as a frozen dataclass built by :func:`check_settings`,
so a misspelt key (``max_ratoi``), a missing threshold or a threshold of the wrong kind is named, with every other
problem, before any submission is graded, never met as a ``KeyError`` halfway through a class. The settings of
Tasks 1–4 live here because the student's own check runs those rules too (:mod:`.graded`); the grader's other
checks declare theirs beside their code (``grader/checks/``).
"""

from __future__ import annotations

from typing import Any

from ddpm_lab.rules import settings

VISIBILITIES = ("visible", "hidden", "after_due_date", "after_published")  # Gradescope's


CheckSettings = settings(
    "CheckSettings",
    points=("number", {"low": 0}),
    visibility=("choice", {"choices": VISIBILITIES}),
    required=("flag", {}),
    hint=("string", {}),  # what usually causes a failure, shown with every failed check
    expects=("string", {}),  # the rubric table's words for the check (README), formatted with its settings
    defaults={"visibility": "visible", "required": True, "hint": "", "expects": ""},
)
CheckSettings.__doc__ = "The fields of every check: its points, who sees it, whether a PASS needs it, its words."


def check_settings(name: str, **rules: tuple[str, dict[str, Any]]) -> type:
    """The settings dataclass of one check: :class:`CheckSettings`'s fields and one field per rule."""
    return settings(name, base=CheckSettings, **rules)


SAMPLES = ("integer", {"low": 2})
DISTANCE = ("number", {"low": 0})

SamplesMoments = check_settings("SamplesMoments", min_samples=SAMPLES)
DataDistribution = check_settings("DataDistribution", min_samples=SAMPLES, true_mean=("numbers", {"length": 2}))
LearnedMean = check_settings("LearnedMean", tolerance=("number", {"low": 0, "low_open": True}))
BalancedSubset = check_settings("BalancedSubset", n_images=("integer", {"low": 10}), max_rms_distance=DISTANCE)
ValueRange = check_settings("ValueRange", range=("numbers", {"length": 2}), max_rms_distance=DISTANCE)
PureNoiseAtT = check_settings("PureNoiseAtT")
ForwardMarginals = check_settings("ForwardMarginals", timesteps=("integers", {"low": 1}))

# (task, check) → its settings, for the rules of :mod:`.graded`
TASKS_1_TO_4: dict[tuple[str, str], type] = {
    ("task1", "samples_moments"): SamplesMoments,
    ("task2", "data_distribution"): DataDistribution,
    ("task2", "learned_mean"): LearnedMean,
    ("task3", "balanced_subset"): BalancedSubset,
    ("task3", "value_range"): ValueRange,
    ("task4", "pure_noise_at_T"): PureNoiseAtT,
    ("task4", "forward_marginals"): ForwardMarginals,
}
