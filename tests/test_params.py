"""params.yaml → typed configs (ddpm_lab/config.py): every problem named at once, one line each, before any work."""

import copy
import shutil
import subprocess
import sys

import pytest
import yaml

from ddpm_lab.data import SubsetConfig
from ddpm_lab.errors import ConfigError
from ddpm_lab.sampler import SamplerConfig
from ddpm_lab.schedule import NoiseSchedule
from ddpm_lab.training import TrainConfig
from ddpm_lab.unet import UNetConfig
from grader.classifier import ClassifierConfig
from tests import lab


@pytest.fixture(scope="module")
def settings():
    from ddpm_lab import config

    return config


@pytest.fixture(scope="module")
def every_config(settings):
    return {
        **settings.STAGE_SETTINGS,
        "schedule": NoiseSchedule.linear,
        "model": UNetConfig,
        "train": TrainConfig,
        "sampler": SamplerConfig,
        "subset": SubsetConfig,
        "digit_classifier": ClassifierConfig,
    }


@pytest.fixture(scope="module")
def good(root):
    return yaml.safe_load((root / "params.yaml").read_text())


def load_with(settings, every_config, params, tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(params, sort_keys=False))
    return settings.load(path, every_config)


def test_every_config_is_built_from_the_shipped_params(settings, every_config, good, tmp_path):
    cfg = load_with(settings, every_config, good, tmp_path)
    assert cfg.model == lab.unet(
        image_size=32,
        base_channels=48,
        channel_mults=(1, 2),
        attention=True,
        patch_size=2,
        full_res_channels=16,
        full_res_stem_block=True,
    )
    assert (cfg.train.lr_schedule, cfg.train.ema_warmup, cfg.train.loss_weighting) == ("cosine", True, "none")
    assert cfg.sample_grid.trajectory == (500, 400, 300, 200, 100, 0)
    assert cfg.train.epochs == good["train"]["epochs"] and cfg.train.seed == good["seed"]
    assert cfg.sampler.steps == good["sampler"]["steps"] and cfg.sampler.use_ema is True
    assert cfg.subset.n_floor == good["fid"]["n_floor"] and cfg.schedule.steps == good["schedule"]["steps"]
    assert set(settings.KNOWN_KEYS) == set(settings.leaf_keys(good))  # none unread, none unknown


# key = the bad value (YAML) → the start of what the stage says about it, after "params.yaml: key: "
BAD_VALUES = """
schedule.steps = 0                    → must be >= 1, got 0
schedule.alpha_start = 1.0            → must be < 1, got 1.0
schedule.alpha_end = 0.0              → must be > 0, got 0.0
schedule.alpha_end = 0.99995          → α_t must decrease, so alpha_end < alpha_start
train.epochs = 0                      → must be >= 1, got 0
train.epochs = many                   → expected an integer, got 'many'
train.device = tpu                    → must be one of ['auto', 'cpu', 'cuda'], got 'tpu'
data.n_train = 3005                   → a class-balanced subset needs a multiple of 10, got 3005
data.mnist_dir = ''                   → expected a non-empty text, got ''
fid.n_generated = 1                   → must be >= 2, got 1
fid.n_floor = 58000                   → at most 57000 training images lie outside the subset, got 58000
data.image_size = 30                  → the U-Net cuts it into 2-pixel patches
model.base_channels = 12              → every level's width
model.attention = 1                   → must be one of [True, False], got 1
sampler.start = uniform               → must be one of
sampler.steps = 501                   → must be <= 500 (schedule.steps), got 501
forward_demo.timesteps = [0, 600]     → must lie in [0, 500] (schedule.steps), got [600]
gndm_fit.true_mean = [1.0]            → expected 2 numbers, got [1.0]
"""


@pytest.mark.parametrize("row", BAD_VALUES.strip().splitlines())
def test_a_bad_value_is_one_line_naming_the_key_and_the_value(settings, every_config, good, tmp_path, row):
    setting, message = (part.strip() for part in row.split("→"))
    key, value = (part.strip() for part in setting.split("="))
    value = yaml.safe_load(value)
    message = f"{key}: {message}"
    params = copy.deepcopy(good)
    section, name = key.split(".")
    params[section][name] = value
    with pytest.raises(settings.ParamError) as err:
        load_with(settings, every_config, params, tmp_path)
    assert len(err.value.lines) == 1, err.value.lines
    assert err.value.lines[0].startswith(f"{tmp_path / 'params.yaml'}: {message}")


def test_every_bad_key_is_reported_at_once_in_file_order(settings, every_config, good, tmp_path):
    params = copy.deepcopy(good)
    params["seed"] = -1
    params["train"].update(epochs=0, learning_rate="fast")
    params["train"]["epoch"] = 300  # a typo, as `dvc exp run -S train.epoch=300` would write it
    params["sampler"]["variance"] = "huge"
    del params["fid"]["batch_size"]
    with pytest.raises(settings.ParamError) as err:
        load_with(settings, every_config, params, tmp_path)
    keys = [line.split(": ")[1] for line in err.value.lines]
    assert sorted(keys) == sorted(
        ["seed", "train.epochs", "train.learning_rate", "train.epoch", "sampler.variance", "fid.batch_size"]
    )
    assert keys.index("seed") < keys.index("train.epochs") < keys.index("sampler.variance")  # the order of the file
    lines = dict(zip(keys, err.value.lines))
    assert lines["train.epoch"].endswith("not a setting of this pipeline (did you mean train.epochs?)")
    assert lines["fid.batch_size"].endswith("fid.batch_size: missing")


@pytest.mark.parametrize(
    "text,where,what",
    [
        ("seed: 0\ntrain: [1, 2\n", ":3:1:", "expected ',' or ']'"),
        ("seed: 0\n  data: 1\n", ":2:7:", "mapping values are not allowed here"),
        ("- 1\n- 2\n", "", "expected a mapping of sections, got list"),
    ],
)
def test_a_broken_file_is_one_line_with_line_and_column(settings, tmp_path, text, where, what):
    path = tmp_path / "params.yaml"
    path.write_text(text)
    with pytest.raises(settings.ParamError) as err:
        settings.load(path, {})
    assert len(err.value.lines) == 1 and err.value.lines[0].startswith(f"{path}{where}") and what in err.value.lines[0]


def test_library_configs_check_every_field_when_built_directly():
    with pytest.raises(ConfigError) as err:
        lab.train(epochs=0, batch_size=-1, ema_decay=1.0)
    assert set(err.value.problems) == {"epochs", "batch_size", "ema_decay"}
    with pytest.raises(ConfigError, match="steps: must be >= 1"):
        NoiseSchedule.linear(0.9999, 0.98, 0)


def copy_stages(root, tmp_path, params):
    for folder in ("stages", "ddpm_lab"):
        shutil.copytree(root / folder, tmp_path / folder, ignore=shutil.ignore_patterns("__pycache__"))
    (tmp_path / "params.yaml").write_text(params)


def test_a_stage_refuses_bad_params_before_any_work(root, tmp_path, good):
    params = copy.deepcopy(good)
    params["train"]["epochs"] = 0
    params["model"]["patch_size"] = 0
    copy_stages(root, tmp_path, yaml.safe_dump(params))
    run = subprocess.run(
        [sys.executable, "-m", "stages.train", "--train-images", "nowhere.npz", "--model", "m.pt", "--resume", "r.pt"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert run.returncode == 1
    assert run.stderr.strip().splitlines() == [
        "params.yaml: model.patch_size: must be >= 1, got 0",
        "params.yaml: train.epochs: must be >= 1, got 0",
    ]
    assert not (tmp_path / "reports").exists() and not (tmp_path / "m.pt").exists()


def test_a_stage_with_a_broken_params_file_says_where_in_one_line(root, tmp_path):
    copy_stages(root, tmp_path, (root / "params.yaml").read_text().replace("channel_mults: [1, 2]", "channel_mults: [1, 2"))
    run = subprocess.run([sys.executable, "-m", "stages.gaussian_demo"], cwd=tmp_path, capture_output=True, text=True)
    lines = run.stderr.strip().splitlines()
    assert run.returncode == 1 and len(lines) == 1
    assert lines[0].startswith("params.yaml:") and "YAML syntax error" in lines[0] and "flow sequence at line" in lines[0]


def test_a_stage_names_each_missing_input_in_one_line(root, tmp_path):
    copy_stages(root, tmp_path, (root / "params.yaml").read_text())
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "stages.fid_floor",
            "--floor-images",
            "a.npz",
            "--reference-stats",
            "b.npz",
            "--floor-stats",
            "c.npz",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    lines = run.stderr.strip().splitlines()
    assert run.returncode == 1 and [line.split(" (")[0] for line in lines] == [
        "fid_floor: missing input a.npz",
        "fid_floor: missing input b.npz",
    ]


def test_params_offer_the_library_inception_runtimes(settings):
    from ddpm_lab import inception

    assert settings.INCEPTION_RUNTIME[1]["choices"] == inception.RUNTIMES


def test_overrides_set_dotted_keys_on_a_copy_as_dvc_exp_run_does(settings):
    params = {"train": {"epochs": 200, "lr_schedule": "constant"}, "seed": 0}
    changed = settings.with_overrides(params, {"train.epochs": 300, "seed": 1, "model.dropout": 0.1})
    assert changed == {"train": {"epochs": 300, "lr_schedule": "constant"}, "seed": 1, "model": {"dropout": 0.1}}
    assert params == {"train": {"epochs": 200, "lr_schedule": "constant"}, "seed": 0}  # the original untouched


def test_the_library_configs_hold_no_values_of_their_own(settings):
    """params.yaml is the one place the lab's values are written: no dataclass the stages build has a default (but
    UNetConfig.channels, MNIST's one channel, which no setting changes), and no two keys of a config fill one field."""
    import dataclasses
    import inspect

    for cls in (UNetConfig, TrainConfig, SamplerConfig, SubsetConfig, ClassifierConfig):
        defaulted = [f.name for f in dataclasses.fields(cls) if f.default is not dataclasses.MISSING]
        assert defaulted == (["channels"] if cls is UNetConfig else []), cls.__name__
    assert all(p.default is inspect.Parameter.empty for p in inspect.signature(NoiseSchedule.linear).parameters.values())
    for name, keys in settings.FIELDS.items():
        leaves = [settings.field_of(key) for key in keys]
        assert len(set(leaves)) == len(leaves), name  # two keys of one config never fill one field
