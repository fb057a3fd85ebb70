import copy

import pytest
import yaml

from ddpm_lab.params import ParamError, validate


@pytest.fixture(scope="module")
def good(root):
    return yaml.safe_load((root / "params.yaml").read_text())


def test_shipped_params_are_valid(good):
    validate(good)


@pytest.mark.parametrize("key,value,message", [
    ("schedule.steps", 0, "schedule.steps: must be >= 1, got 0"),
    ("schedule.alpha_start", 1.0, "schedule.alpha_start: must be < 1, got 1.0"),
    ("schedule.alpha_end", 0.0, "schedule.alpha_end: must be > 0, got 0.0"),
    ("schedule.alpha_end", 0.99995, "alpha_end < alpha_start"),
    ("train.epochs", 0, "train.epochs: must be >= 1, got 0"),
    ("train.epochs", "many", "train.epochs: expected an integer, got 'many'"),
    ("data.n_train", 3005, "data.n_train: a class-balanced subset needs a multiple of 10, got 3005"),
    ("fid.n_generated", 1, "fid.n_generated: must be >= 2, got 1"),
    ("data.image_size", 30, "data.image_size: the U-Net cuts it into"),
    ("sampler.start", "uniform", "sampler.start: must be one of"),
    ("sampler.steps", 501, "sampler.steps: must be <= 500, got 501"),
])
def test_bad_values_name_the_key_and_the_value(good, key, value, message):
    params = copy.deepcopy(good)
    section, name = key.split(".")
    params[section][name] = value
    with pytest.raises(ParamError) as err:
        validate(params)
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_stage_refuses_bad_params_before_any_work(root, tmp_path):
    import shutil
    import subprocess
    import sys

    for folder in ("stages", "ddpm_lab"):
        shutil.copytree(root / folder, tmp_path / folder, ignore=shutil.ignore_patterns("__pycache__"))
    params = yaml.safe_load((root / "params.yaml").read_text())
    params["train"]["epochs"] = 0
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    run = subprocess.run([sys.executable, "stages/train.py"], cwd=tmp_path, capture_output=True, text=True)
    assert run.returncode != 0
    assert run.stderr.strip().splitlines()[-1] == "params.yaml: train.epochs: must be >= 1, got 0"
    assert not (tmp_path / "reports" / "train").exists() and not (tmp_path / "data").exists()
