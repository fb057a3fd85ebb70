"""The student edition (`python -m grader assign`): a git repository with DVC that runs as handed out, no solution
line and nothing of the grader's but its public checks, one line per stub reached, a seed of each student's own,
and its README's commands, walked as a student walks them. (That the edition with its solutions put back
reproduces the pipeline byte for byte is tested on the tiny run, in test_pipeline.py.)"""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from grader import assign, markers

ROOT = Path(__file__).resolve().parent.parent


def env():
    return {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "DVC_NO_ANALYTICS": "1",
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
    }


def sh(cmd, cwd, check=True, timeout=900):
    done = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, env=env(), timeout=timeout, shell=isinstance(cmd, str))
    if check and done.returncode != 0:
        raise AssertionError(f"{cmd} failed ({done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return done


@pytest.fixture(scope="module")
def edition(tmp_path_factory):
    out = tmp_path_factory.mktemp("edition") / "lab"
    assign.write_edition(out)
    return out


def text_files(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file() and ".git" not in p.parts and p.suffix not in (".npz", ".pt")]


def fresh_copy(edition: Path, tmp_path: Path) -> Path:
    work = tmp_path / "lab"
    shutil.copytree(edition, work, symlinks=True)
    return work


def test_the_edition_is_a_git_repository_with_dvc_and_one_commit(edition):
    assert sh(["git", "log", "--oneline"], edition).stdout.count("\n") == 1
    assert sh(["git", "status", "--porcelain"], edition).stdout == ""  # everything it holds is committed
    assert (edition / ".dvc/config").exists() and (edition / ".dvcignore").exists()
    assert "Data and pipelines are up to date" not in sh(["dvc", "status"], edition).stdout  # nothing run yet


def test_the_edition_holds_no_solution_line(edition):
    sources = [p for pattern in ("ddpm_lab/*.py", "stages/*.py", "dvc.yaml", "params.yaml") for p in ROOT.glob(pattern)]
    inside = {line.strip() for p in sources for line in markers.solution_lines(p.read_text())} - {""}
    outside = {line.strip() for p in sources for line in markers.strip_solutions(p.read_text()).split("\n")}
    # a line that also stands outside a region (`return x`), or bare syntax (`else:`), gives nothing away
    secret = {line for line in inside - outside if len(line) >= 8}
    assert len(secret) > 20
    for path in text_files(edition):
        lines = {line.strip() for line in path.read_text().split("\n")}
        assert not lines & secret, f"{path.relative_to(edition)} holds solution lines: {sorted(lines & secret)[:3]}"
        assert "BEGIN SOLUTION" not in path.read_text() and "END SOLUTION" not in path.read_text()
        assert "# STUB:" not in path.read_text(), path
    stubs = markers.stubs(ROOT)
    raised = sum(p.read_text().count("raise NotImplementedError(") for p in (edition / "ddpm_lab").glob("*.py"))
    assert raised == len(stubs) == 8
    assert {s["task"] for s in stubs} == {"Task 2", "Task 3", "Task 4", "Task 5", "Task 6"}
    equations = " ".join(s["what"] for s in stubs)
    assert all(f"eq. ({n})" in equations for n in (22, 23, 27, 33, 35, 38))


def test_a_stub_is_the_whole_function_body_and_asks_no_more_than_the_lab(edition):
    """Nothing after a stub's raise; the pipeline's own options (clipping, the variance, η, the start) outside it."""
    for path in (edition / "ddpm_lab").glob("*.py"):
        text = path.read_text()
        for match in re.finditer(r"\n( +)raise NotImplementedError\(.*\)\n", text):
            after = text[match.end() :].split("\n", 1)[0]
            assert not after.startswith(match.group(1)) or not after.strip(), f"{path.name}: code after the stub's raise"
    step = (edition / "ddpm_lab/sampler.py").read_text()
    signature = re.search(r"def backward_step\((.*?)\) ->", step, re.S).group(1)
    assert "config" not in signature and "clip" not in signature and "variance:" not in signature


def test_the_edition_holds_nothing_of_the_graders_but_its_public_checks(edition):
    assert not (edition / "grader").exists() and not (edition / "tests").exists()
    for path in text_files(edition):
        text = path.read_text()
        for word in ("digit_classifier", "fid_reference", "import grader", "from grader", "diffusers", "test_grader"):
            assert word not in text, f"{path.relative_to(edition)} names {word}"
    params = yaml.safe_load((edition / "params.yaml").read_text())
    assert "digit_classifier" not in params and "reference_dtype" not in params["fid"]
    assert ".[test,bench]" not in (edition / "scripts/setup.sh").read_text()
    # `grader` cannot be imported from the edition (the editable install of this project's own grader set aside)
    probe = (
        "import sys; sys.meta_path[:] = [f for f in sys.meta_path if 'editable' not in repr(f)]; "
        "import ddpm_lab.check, importlib.util; print(importlib.util.find_spec('grader'))"
    )
    assert sh([sys.executable, "-c", probe], edition).stdout.strip() == "None"
    # every path its dvc.yaml names is shipped, or made by one of its stages
    pipeline = yaml.safe_load((edition / "dvc.yaml").read_text())
    paths = {k: v for entry in pipeline["vars"] for k, v in entry.get("paths", {}).items()}
    expand = lambda text: re.sub(r"\$\{paths\.(\w+)\}", lambda m: paths[m.group(1)], text)  # noqa: E731
    made = {
        expand(next(iter(o)) if isinstance(o, dict) else o)
        for s in pipeline["stages"].values()
        for kind in ("outs", "metrics", "plots")
        for o in s.get(kind, [])
    }
    for name, stage in pipeline["stages"].items():
        for dep in stage["deps"]:
            path = expand(dep)
            assert (edition / path).exists() or path in made, f"{name}: {path} is neither shipped nor made"
        for arg in re.findall(r"--[\w-]+ (\S+)", expand(stage["cmd"])):
            assert (edition / arg).exists() or arg in made or arg == paths["resume"], f"{name}: {arg}"
    assert set(pipeline["stages"]) == set(assign.STAGE_TASKS)


def test_the_readme_and_rubric_say_what_is_checked_before_hand_in_and_what_only_at_grading(edition):
    readme = (edition / "README.md").read_text()
    for s in markers.stubs(ROOT):
        n = s["task"].split()[1]
        assert f"| {n} | `{s['function']}` | `{s['file']}` |" in readme and f"`python -m ddpm_lab.check {n}` |" in readme
    assert "{" not in re.sub(r"`[^`]*`", "", readme.split("## What to write")[1].split("## Check")[0])  # all filled in
    assert all(f"| `{stage}` |" in readme for stage in assign.STAGE_TASKS)
    mnist_dir = yaml.safe_load((edition / "params.yaml").read_text())["data"]["mnist_dir"]
    assert f"`{mnist_dir}/`" in readme and "What to hand in" in readme
    rubric = yaml.safe_load((ROOT / "grader/rubric.yaml").read_text())
    table = (edition / "RUBRIC.md").read_text()
    for key, task in rubric["tasks"].items():
        for name, check in task["checks"].items():
            row = next(line for line in table.splitlines() if line.startswith(f"| {task['title']} | {name} |"))
            before = "| yes: `python -m ddpm_lab.check" in row
            assert before == (key in ("task1", "task2", "task3", "task4")), row
            if key != "run":
                assert f"| {check['points']:g} |" in row
    shipped = yaml.safe_load((edition / "ddpm_lab/check/rubric.yaml").read_text())  # what the student's check runs
    assert shipped["tasks"] == {k: rubric["tasks"][k] for k in ("task1", "task2", "task3", "task4")}
    assert shipped["statistics"] == rubric["statistics"] and shipped["lab_settings"] == rubric["lab_settings"]
    assert "FID recomputed from fid/samples.npz <= 28 |" in table and "at least 1000 samples" in table


def test_the_check_on_untouched_stubs_says_not_written_yet_with_file_and_line(edition):
    done = sh([sys.executable, "-m", "ddpm_lab.check"], edition, check=False, timeout=300)
    lines = done.stdout.splitlines()
    assert done.returncode == 1 and "Traceback" not in done.stdout + done.stderr
    todo = [line for line in lines if line.startswith("TODO")]
    assert {re.match(r"TODO  Task (\d)", line).group(1) for line in todo} == {"2", "3", "4", "5", "6"}
    for line in todo:
        assert re.search(r": not written yet \(ddpm_lab/\w+\.py:\d+ in \w+\)$", line), line
    skipped = [line for line in lines if line.startswith("SKIP")]
    assert len(skipped) == 7 and all("is not written yet: `dvc repro " in line for line in skipped)
    shown = readme_example(edition)  # the README's example lines are the check's own
    assert shown["TODO"] in lines and shown["SKIP"] in lines


def test_a_function_written_wrong_fails_its_check_with_the_likely_cause(edition, tmp_path):
    work = fresh_copy(edition, tmp_path)
    schedule = work / "ddpm_lab/schedule.py"
    stub = '    raise NotImplementedError("Task 4: x_t of the forward process, eq. (27)")'
    wrong = "    a = schedule.at(schedule.alphas, t, x0)\n    return a.sqrt() * x0 + (1 - a).sqrt() * noise"
    assert stub in schedule.read_text()
    schedule.write_text(schedule.read_text().replace(stub, wrong))
    done = sh([sys.executable, "-m", "ddpm_lab.check", "4"], work, check=False, timeout=300)
    first = done.stdout.splitlines()[0]
    assert first == readme_example(edition)["FAIL"]
    assert (
        done.returncode == 1
        and first.startswith("FAIL  Task 4, eq. (27), q_sample: x_t at t = ")
        and "α_t where ᾱ_t belongs?" in first
    )


def test_dvc_repro_of_the_edition_stops_at_the_first_stub_with_one_line(edition, tmp_path):
    work = fresh_copy(edition, tmp_path)
    proc = sh(["dvc", "repro"], work, check=False, timeout=600)
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0 and "Traceback" not in output
    said = [line for line in output.splitlines() if "not written yet" in line]
    assert len(said) == 1 and re.fullmatch(
        r"gndm_fit: not written yet: Task 2: gradient descent on the NLL, eq\. \(23\) \(ddpm_lab/gaussian\.py:\d+ in fit_gndm\); "
        r"`python -m ddpm_lab\.check 2` checks it in seconds",
        said[0],
    ), said
    assert said[0] in (work / "README.md").read_text().splitlines()  # the README shows this very line
    assert (work / "reports/gaussian_demo/samples.csv").exists()  # Task 1 asks nothing to be written: it ran


def readme_example(edition: Path) -> dict[str, str]:
    """The README's example output of the check, one line per label."""
    block = (edition / "README.md").read_text().split("## Check your functions", 1)[1].split("```\n", 2)[1]
    return {line[:4]: line for line in block.splitlines() if line[:4] in ("PASS", "FAIL", "TODO", "SKIP")}


def readme_block(readme: str, heading: str) -> list[str]:
    """The commands of the first bash block under ``heading``, as written (comments dropped)."""
    section = readme.split(heading, 1)[1]
    block = section.split("```bash\n", 1)[1].split("```", 1)[0]
    return [line.split("  #")[0].strip() for line in block.splitlines() if line.strip()]


@pytest.mark.slow
def test_the_readmes_smoke_run_runs_as_written_with_the_solutions_written_back(edition, tmp_path, mnist_dir):
    """A student's walk, setup aside: the functions written (the solution's, written back into the stubs), MNIST put
    where the README says for offline use, then the README's smoke run, its commands exactly as written."""
    work = fresh_copy(edition, tmp_path)
    for s in markers.stubs(ROOT):
        shutil.copy(ROOT / s["file"], work / s["file"])
    offline = work / yaml.safe_load((work / "params.yaml").read_text())["data"]["mnist_dir"]
    offline.mkdir(parents=True)
    for name in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        shutil.copy(mnist_dir / name, offline / name)
    sh("git add -A && git -c user.name=s -c user.email=s@invalid commit -qm 'my functions'", work)
    commands = readme_block((work / "README.md").read_text(), "## A smoke run")
    assert commands[0].startswith("dvc exp run -S train.epochs=1") and commands[1:] == [
        "python -m ddpm_lab.check",
        "git checkout params.yaml",
    ]
    run = sh(commands[0], work, timeout=1200)
    assert "fid: done" in run.stdout + run.stderr
    checked = sh(commands[1], work, check=False, timeout=600)
    assert checked.returncode == 0, checked.stdout[-3000:]
    assert all(line.startswith("PASS  Task ") for line in checked.stdout.splitlines()[:-1])
    assert checked.stdout.count("graded check") == 7
    sh(commands[2], work)
    assert (
        yaml.safe_load((work / "params.yaml").read_text())["train"]["epochs"]
        == yaml.safe_load((ROOT / "params.yaml").read_text())["train"]["epochs"]
    )
    assert "dvc repro" in readme_block((work / "README.md").read_text(), "## The lab's run")[0]


def test_two_students_get_two_seeds_and_two_sample_sets(tmp_path):
    samples = {}
    for student in ("s1234567", "s7654321"):
        out = tmp_path / student
        assign.write_edition(out, assign.seed_for(student))
        assert yaml.safe_load((out / "params.yaml").read_text())["seed"] == assign.seed_for(student)
        assert f"Your seed is **{assign.seed_for(student)}**" in (out / "README.md").read_text()
        subprocess.run([sys.executable, "-m", "stages.gaussian_demo"], cwd=out, check=True, env=env(), capture_output=True)
        metrics = yaml.safe_load((out / "reports/gaussian_demo/metrics.json").read_text())
        assert metrics["seed"] == assign.seed_for(student)
        samples[student] = (out / "reports/gaussian_demo/samples.csv").read_text()
    assert assign.seed_for("s1234567") != assign.seed_for("s7654321") and len(set(samples.values())) == 2
    assert assign.seed_for("s1234567") == assign.seed_for(" s1234567 ")  # the same id, the same seed


def test_a_broken_marker_is_refused():
    with pytest.raises(markers.EditionError, match="never closed"):
        markers.strip_solutions("x = 1\n    # BEGIN SOLUTION\ny = 2\n", "f.py")
    with pytest.raises(markers.EditionError, match="without"):
        markers.strip_solutions("# END SOLUTION\n", "f.py")
    text = "a\n# BEGIN SOLUTION\nb\n# END SOLUTION\n# STUB: c\n# STUB:\n# STUB: d\ne\n"
    assert markers.strip_solutions(text) == "a\nc\n\nd\ne\n"  # a stub may run over several lines


def test_a_roster_gives_each_student_a_folder_and_the_instructor_the_seeds(tmp_path):
    roster = tmp_path / "class.txt"
    roster.write_text("# id\nalice\nbob\n\n")
    assert assign.main([str(tmp_path / "out"), "--roster", str(roster)]) == 0
    assert (tmp_path / "out/alice/params.yaml").exists() and (tmp_path / "out/bob/.git").is_dir()
    assert (
        tmp_path / "out/seeds.csv"
    ).read_text() == f"student_id,seed\nalice,{assign.seed_for('alice')}\nbob,{assign.seed_for('bob')}\n"
    assert assign.main([str(tmp_path / "out"), "--roster", str(roster)]) == 2  # never over an edition already there
    roster.write_text("alice\nalice\n")
    assert assign.main([str(tmp_path / "again"), "--roster", str(roster)]) == 2
