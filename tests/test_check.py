"""`python -m ddpm_lab.check`: the solution passes every check; every mistake of the corpus (tests/mistakes/) fails a
check of its own task and of no other; the graded checks of Tasks 1–4 are the grader's, rule and threshold."""

import functools
import importlib
import inspect
from pathlib import Path

import pytest

from ddpm_lab import check
from ddpm_lab.check import FAILED, NOT_RUN, NOT_WRITTEN, PASSED, function_checks, run
from ddpm_lab.check.reports import GRADED_HERE, report_checks

MISTAKES = Path(__file__).with_name("mistakes")


def corpus() -> list[tuple[str, str, int, object]]:
    """(function, mistake, task, wrong version) for every mistake of every module of tests/mistakes/."""
    found = []
    for path in sorted(MISTAKES.glob("*.py")):
        if path.name == "__init__.py":
            continue
        module = importlib.import_module(f"tests.mistakes.{path.stem}")
        for name, fn in inspect.getmembers(module, inspect.isfunction):
            if fn.__module__ == module.__name__ and not name.startswith("_"):
                found.append((module.TARGET, name, module.TASK, fn))
    return found


MISTAKE_LIST = corpus()


@functools.cache
def graders_references(mnist_dir: Path) -> tuple[dict, object]:
    """The rubric's checks of Tasks 1–4 alone (the others left out: faster) and the grader's references, made once."""
    from grader.references import References
    from grader.runner import load_rubric

    rubric = load_rubric()
    part = {**rubric, "tasks": {task: rubric["tasks"][task] for task in GRADED_HERE}}
    return part, References(part, mnist_dir=mnist_dir, fid=False)


def graders_verdicts(folder: Path, mnist_dir: Path) -> dict:
    """The grader's results of the checks of Tasks 1–4 on ``folder``."""
    from grader.runner import grade

    part, refs = graders_references(mnist_dir)
    return {r.check: r for r in grade(folder, part, refs)}


def lines_of(task: int) -> list:
    return [run(c) for c in function_checks() if c.task == task]


def test_the_solution_passes_every_function_check_and_each_task_is_checked():
    lines = [run(c) for c in function_checks()]
    assert [str(line) for line in lines if line.status != PASSED] == []
    assert {line.check.task for line in lines} == {2, 3, 4, 5, 6}
    assert all(str(line).startswith(f"PASS  Task {line.check.task}") for line in lines)


def test_the_corpus_holds_three_or_more_mistakes_of_every_stubbed_function(root):
    from grader.markers import stubs

    stubbed = {f"ddpm_lab.{Path(s['file']).stem}.{s['function']}" for s in stubs(root)}
    counts = {target: sum(1 for t, *_ in MISTAKE_LIST if t == target) for target in stubbed}
    assert stubbed == {t for t, *_ in MISTAKE_LIST} and min(counts.values()) >= 3, counts
    assert all(inspect.getdoc(fn) for *_, fn in MISTAKE_LIST)  # each says what is wrong and where it comes from


@pytest.mark.parametrize(
    "target, mistake, task, wrong", MISTAKE_LIST, ids=[f"{t.split('.')[-1]}-{m}" for t, m, *_ in MISTAKE_LIST]
)
def test_each_mistake_fails_a_check_of_its_own_task(target, mistake, task, wrong, monkeypatch):
    module, name = target.rsplit(".", 1)
    monkeypatch.setattr(importlib.import_module(module), name, wrong)
    lines = lines_of(task)
    failed = [line for line in lines if line.status == FAILED]
    assert failed, [str(line) for line in lines]
    for line in failed:  # one line each, naming the task, never a traceback
        text = str(line)
        assert text.startswith(f"FAIL  Task {task}") and "\n" not in text and "Traceback" not in text, text


def test_a_mistake_fails_no_other_tasks_check(monkeypatch):
    """A wrong q_sample (Task 4) leaves Tasks 2, 3 and 5 passing: their checks do not lean on it."""
    from tests.mistakes import q_sample

    monkeypatch.setattr(importlib.import_module("ddpm_lab.schedule"), "q_sample", q_sample.alpha_where_alpha_bar_belongs)
    others = [run(c) for c in function_checks() if c.task in (2, 3, 5)]
    assert all(line.status == PASSED for line in others), [str(line) for line in others if line.status != PASSED]


@pytest.mark.parametrize(
    "target, mistake, said",
    [
        ("ddpm_lab.schedule.q_sample", "alpha_where_alpha_bar_belongs", "α_t where ᾱ_t belongs?"),
        ("ddpm_lab.schedule.q_sample", "square_roots_forgotten", "ᾱ_t without its square root?"),
        ("ddpm_lab.schedule.q_sample", "one_t_for_the_batch", "every image took the first image's t"),
        ("ddpm_lab.gaussian.gndm_loss", "minus_sign_as_printed", "the minus sign of eq. (23) as printed"),
        ("ddpm_lab.gaussian.fit_gndm", "gradients_never_zeroed", "gradients never zeroed"),
        ("ddpm_lab.data.to_model_range", "as_if_from_0_to_255", "x / 127.5 − 1 expects [0, 255]"),
        ("ddpm_lab.data.to_model_range", "in_place", "in place"),
        ("ddpm_lab.data.balanced_indices", "first_of_each_digit", "seeds 1 and 2 gave the same subset"),
        ("ddpm_lab.schedule.posterior_mean_from_noise", "plus_sign", "+ where eq. (35) subtracts"),
        ("ddpm_lab.sampler.backward_step", "variance_as_scale", "the variance σ_q²(t) where its square root"),
        ("ddpm_lab.sampler.backward_step", "noise_even_at_t_1", "at t = 1 return μ_p"),
        ("ddpm_lab.training.noise_prediction_errors", "upper_bound_exclusive", "its upper bound is exclusive"),
        ("ddpm_lab.training.noise_prediction_errors", "x0_as_the_target", "against x_0"),
        ("ddpm_lab.training.noise_prediction_errors", "noise_drawn_twice", "noise drawn twice"),
        ("ddpm_lab.training.noise_prediction_errors", "without_the_generator", "draw t and ε_0 with `generator`"),
    ],
)
def test_the_line_names_the_likely_cause(target, mistake, said, monkeypatch):
    wrong = next(fn for t, m, _, fn in MISTAKE_LIST if (t, m) == (target, mistake))
    module, name = target.rsplit(".", 1)
    monkeypatch.setattr(importlib.import_module(module), name, wrong)
    task = next(task for t, m, task, _ in MISTAKE_LIST if (t, m) == (target, mistake))
    failed = [str(line) for line in lines_of(task) if line.status == FAILED]
    assert any(said in line for line in failed), failed


def test_a_stub_is_not_written_yet_with_its_file_and_line(monkeypatch):
    def stub(*args, **kwargs):
        raise NotImplementedError("Task 4: x_t of the forward process, eq. (27)")

    monkeypatch.setattr(importlib.import_module("ddpm_lab.schedule"), "q_sample", stub)
    (line,) = lines_of(4)
    assert line.status == NOT_WRITTEN and str(line).startswith("TODO  Task 4, eq. (27), q_sample: not written yet (")
    assert f"tests/test_check.py:{inspect.getsourcelines(stub)[1] + 1} in stub" in str(line)


def test_the_graded_checks_of_tasks_1_to_4_are_the_graders_on_the_committed_reports(root, rubric, mnist_dir, good):
    """Same rule, same threshold: the student's check and the grader measure the committed reports alike."""
    mine = {line.check.name.split()[2]: line for line in map(run, report_checks(good, mnist_dir))}
    expected = {name for task in GRADED_HERE for name in rubric["tasks"][task]["checks"]}
    assert set(mine) == expected
    graders = graders_verdicts(good, mnist_dir)
    for name, line in mine.items():
        assert line.status == PASSED == graders[name].status, str(line)
        assert line.message.startswith(graders[name].measured), (line.message, graders[name].measured)


def test_a_wrong_report_fails_the_students_check_as_it_fails_the_grader(root, rubric, mnist_dir, good):
    samples = good / "gaussian_demo/samples.csv"
    rows = samples.read_text().splitlines()
    samples.write_text("\n".join([rows[0]] + [",".join(str(2 * float(v)) for v in r.split(",")) for r in rows[1:]]) + "\n")
    (good / "forward_demo/noisy.npz").unlink()
    mine = {line.check.name.split()[2]: line for line in map(run, report_checks(good, mnist_dir))}
    graders = graders_verdicts(good, mnist_dir)
    assert mine["samples_moments"].status == FAILED == graders["samples_moments"].status
    assert "usual cause: gaussian_demo/samples.csv does not hold draws of N(0, I)" in mine["samples_moments"].message
    # a report not written yet is not run (the grader, which grades a hand-in, fails it)
    assert mine["pure_noise_at_T"].status == NOT_RUN and "`dvc repro forward_demo` writes it" in mine["pure_noise_at_T"].message
    assert graders["pure_noise_at_T"].status == FAILED


def test_without_mnist_task_3s_graded_checks_are_not_run(tmp_path, good):
    lines = {line.check.name.split()[2]: line for line in map(run, report_checks(good, tmp_path / "nowhere"))}
    assert (
        lines["balanced_subset"].status == NOT_RUN and "`dvc repro mnist_subset` fetches them" in lines["balanced_subset"].message
    )
    assert lines["samples_moments"].status == PASSED


def test_the_command_exits_0_only_when_every_check_passed(capsys, mnist_dir, good, tmp_path):
    from ddpm_lab.check.__main__ import main

    assert main(["2", "3", "--reports", str(good), "--mnist-dir", str(mnist_dir)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[-1].startswith("8 passed (") and all(line.startswith("PASS  Task ") for line in out[:-1])
    assert main(["1", "--reports", str(tmp_path / "none")]) == 1  # Task 1's report not written: not run, not passed
    assert "1 not run" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["8"])


def test_every_line_is_one_line_and_the_lines_say_what_they_checked():
    assert check.LABEL == {PASSED: "PASS", FAILED: "FAIL", NOT_WRITTEN: "TODO", NOT_RUN: "SKIP"}
    for line in map(run, function_checks()):
        assert "\n" not in str(line) and len(line.message) > 20
