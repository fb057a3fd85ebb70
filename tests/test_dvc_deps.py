"""dvc.yaml lists, for every stage, each library module its script runs: a change to any of them must
make `dvc status` call the stage changed, or a stale result would pass for a fresh one."""

import ast
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
STAGES = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]


def imported_modules(path: Path) -> set[str]:
    """Every ddpm_lab module (and stage helper) imported anywhere in ``path``, function bodies included."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            if node.module == "ddpm_lab":
                found |= {f"ddpm_lab/{alias.name}.py" for alias in node.names}
            elif node.module.startswith("ddpm_lab."):
                found.add(node.module.replace(".", "/") + ".py")
            elif node.module == "_common":
                found.add("stages/_common.py")
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


def test_the_import_scan_sees_nested_imports():
    # config.generate imports ddpm_lab.data inside the function body
    assert "ddpm_lab/data.py" in closure("stages/sample_grid.py")
    assert "ddpm_lab/unet.py" in closure("stages/fid.py")


@pytest.mark.parametrize("name", sorted(STAGES))
def test_stage_depends_on_every_module_it_runs(name):
    stage = STAGES[name]
    script = stage["cmd"].split()[-1]
    missing = closure(script) - set(stage["deps"])
    assert not missing, f"dvc.yaml stage {name} runs {sorted(missing)} but does not list them in deps"
