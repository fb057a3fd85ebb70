"""dvc.yaml says what each stage reads and writes, and it agrees with the stage scripts: every library module a
script runs is a dep (a change to it must make `dvc status` call the stage changed, or a stale result would pass
for a fresh one), every path handed to a script is a dep or an out, and the params a stage lists are exactly the
params.yaml keys behind the configs it builds."""

import ast
import importlib
import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
PIPELINE = yaml.safe_load((ROOT / "dvc.yaml").read_text())
STAGES = PIPELINE["stages"]
PATHS = next(v["paths"] for v in PIPELINE["vars"] if "paths" in v)


def resolve(text: str) -> str:
    return re.sub(r"\$\{paths\.(\w+)\}", lambda m: PATHS[m.group(1)], text)


def entries(stage: dict, kind: str) -> set[str]:
    """The paths of a stage's deps or outs (outs include metrics and plots), ${paths.*} resolved."""
    kinds = ("outs", "metrics", "plots") if kind == "outs" else ("deps",)
    found = set()
    for k in kinds:
        for entry in stage.get(k, []):
            found.add(resolve(next(iter(entry)) if isinstance(entry, dict) else entry))
    return found


def imported_modules(path: Path) -> set[str]:
    """Every module of the project (library, grader, stage helpers) imported anywhere in ``path``, function bodies
    included."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            if node.module == "ddpm_lab":
                found |= {f"ddpm_lab/{alias.name}.py" for alias in node.names}
            elif node.module.startswith("ddpm_lab."):
                found.add(node.module.replace(".", "/") + ".py")
            elif node.module == "grader":
                found |= {f"grader/{alias.name}.py" for alias in node.names}
            elif node.module.startswith(("stages.", "grader.")):
                found.add(node.module.replace(".", "/") + ".py")
        elif isinstance(node, ast.Import):
            found |= {a.name.replace(".", "/") + ".py" for a in node.names if a.name.startswith("ddpm_lab.")}
    return {m for m in found if (ROOT / m).exists()}


def closure(script: str) -> set[str]:
    seen, todo = set(), [script]
    while todo:
        module = todo.pop()
        if module not in seen:
            seen.add(module)
            todo.extend(imported_modules(ROOT / module))
    return seen


def script_of(name: str) -> str:
    """The stage's script: dvc.yaml runs it as ``python -m stages.<name>``."""
    python, flag, module = STAGES[name]["cmd"].split()[:3]
    assert (python, flag) == ("python", "-m"), STAGES[name]["cmd"]
    return module.replace(".", "/") + ".py"


def stage_main(name: str):
    return importlib.import_module(f"stages.{name}").main


def test_the_import_scan_sees_helpers_and_nested_imports():
    assert {"stages/_common.py", "ddpm_lab/config.py", "ddpm_lab/rules.py"} <= closure("stages/gaussian_demo.py")
    assert "grader/classifier.py" in closure("stages/digit_classifier.py")
    assert "ddpm_lab/unet.py" in closure("stages/fid.py")  # through ddpm_lab.sampler
    assert "ddpm_lab/training.py" not in closure("stages/fid.py")  # sampling does not run the training code


@pytest.mark.parametrize("name", sorted(STAGES))
def test_stage_depends_on_every_module_it_runs(name):
    missing = closure(script_of(name)) - entries(STAGES[name], "deps")
    assert not missing, f"dvc.yaml stage {name} runs {sorted(missing)} but does not list them in deps"


@pytest.mark.parametrize("name", sorted(STAGES))
def test_every_path_handed_to_a_stage_is_a_dep_or_an_out(name):
    main = stage_main(name)
    given = dict(re.findall(r"--([\w-]+) (\S+)", resolve(STAGES[name]["cmd"])))
    assert set(given) == {arg.replace("_", "-") for arg in main.inputs + main.outputs}
    for arg in main.inputs:
        assert given[arg.replace("_", "-")] in entries(STAGES[name], "deps"), arg
    for arg in main.outputs:
        if arg != "resume":  # the training checkpoint: a rerun resumes from it, so it is no output of DVC's
            assert given[arg.replace("_", "-")] in entries(STAGES[name], "outs"), arg
    assert not any("data/" in p or "grader/" in p for p in re.findall(r"\S+", STAGES[name]["cmd"]))  # named in vars only


@pytest.mark.parametrize("name", sorted(STAGES))
def test_stage_params_are_the_keys_behind_its_configs(name):
    from ddpm_lab.config import FIELDS, leaf_keys

    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    listed = set()
    for key in STAGES[name].get("params", []):
        node = params
        for part in key.split("."):
            node = node[part]
        listed |= set(leaf_keys(node, key))
    read = {key for config in stage_main(name).configs for key in FIELDS[config]}
    assert listed == read


def test_the_grader_ships_the_files_the_pipeline_writes_for_it():
    rubric = yaml.safe_load((ROOT / "grader/rubric.yaml").read_text())
    shipped = {name: (ROOT / "grader" / spec["file"]).resolve() for name, spec in rubric["references"].items() if "file" in spec}
    assert shipped["fid_statistics"] == (ROOT / PATHS["reference_stats"]).resolve()
    assert shipped["digit_classifier"] == (ROOT / PATHS["classifier"]).resolve()
