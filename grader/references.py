"""What the grader measures submissions against: its own files and its own copy of MNIST, never anything
of a submission's. Files are checked before they are used against the SHA-256 that the stage which wrote them
recorded (the rubric names its metrics file), and each is loaded once per grader process (a class is graded
with one set of references).

- the Inception statistics of the 10,000 MNIST test images (``references/mnist_test_inception.npz``)
- the digit classifier (``references/digit_classifier.pt``, loaded with ``weights_only=True``)
- MNIST itself, MD5-checked, prepared at 32×32 as the pipeline prepares it (for near-copies and Task 3)
- numbers that follow from the lab's settings (√ᾱ_t), computed by the library's schedule code
"""

from __future__ import annotations

import hashlib
import json
from functools import cached_property
from pathlib import Path

import numpy as np

from ddpm_lab.check.graded import nearest, pixel_matrix
from ddpm_lab.progress import Bar

HERE = Path(__file__).resolve().parent
DEFAULT_MNIST = HERE.parent / "data" / "raw" / "mnist"


class ReferenceUnavailable(Exception):
    """A reference file of the grader is missing or does not match the rubric: grading cannot run."""


def grader_path(name: str) -> Path:
    """A path the rubric names: relative to ``grader/``, or absolute (pathlib's ``/`` keeps an absolute one)."""
    return HERE / name


def recorded_sha256(spec: dict, what: str) -> str:
    """The SHA-256 of a reference file as the stage that wrote it recorded it (``spec["recorded_in"]``)."""
    record = grader_path(spec["recorded_in"])
    try:
        digest = json.loads(record.read_text())["sha256"]
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise ReferenceUnavailable(
            f"the record of the grader's {what}, {record}, holds no SHA-256 ({type(err).__name__})"
        ) from None
    return str(digest)


def _verified(spec: dict, what: str) -> Path:
    from ddpm_lab.io import file_digest

    path = grader_path(spec["file"])
    if not path.is_file():
        raise ReferenceUnavailable(f"the grader's {what} {path} is missing")
    digest, recorded = file_digest(path, "sha256"), recorded_sha256(spec, what)
    if digest != recorded:
        raise ReferenceUnavailable(
            f"the grader's {what} {path} has SHA-256 {digest}; its stage recorded {recorded} in {spec['recorded_in']}"
        )
    return path


class References:
    built = 0  # how many this process has made (a cluster's worker makes one, for every submission it grades)

    def __init__(
        self, rubric: dict, mnist_dir: Path | None = None, fid: bool = True, progress: bool = True, draw_seed: int | None = None
    ) -> None:
        References.built += 1
        self.fixed_draw_seed = draw_seed  # None: each grading picks its samples and noise afresh (next_draw_seed)
        self.rubric = rubric
        self.progress = progress  # a bar for Inception (off on a cluster's workers: the client shows the class's)
        self.mnist_dir = Path(mnist_dir) if mnist_dir else DEFAULT_MNIST
        self.fid_enabled = fid
        self._fid_memo: dict[str, float] = {}
        self._test_distances: dict[int, np.ndarray] = {}
        settings = rubric["lab_settings"]
        from ddpm_lab.schedule import NoiseSchedule

        s = settings["schedule"]
        self.schedule = NoiseSchedule.linear(s["alpha_start"], s["alpha_end"], s["steps"])
        self.image_size = int(settings["image_size"])

    # numbers that follow from the lab's settings -------------------------------------------------------
    def sqrt_alpha_bar(self, t: int) -> float:
        """√ᾱ_t of the lab's schedule (eq. 27), t = 0 … T."""
        return float(self.schedule.alpha_bars[t].sqrt())

    def next_draw_seed(self) -> int:
        """The seed of one grading's own random picks: fixed when given (a grade reproduced), else fresh."""
        import secrets

        return self.fixed_draw_seed if self.fixed_draw_seed is not None else secrets.randbits(31)

    # the grader's files -----------------------------------------------------------------------------------
    @cached_property
    def fid_statistics(self) -> dict[str, np.ndarray]:
        from ddpm_lab import fid

        return fid.load_statistics(_verified(self.rubric["references"]["fid_statistics"], "FID reference statistics"))

    @cached_property
    def classifier(self):
        from grader import classifier

        return classifier.load(_verified(self.rubric["references"]["digit_classifier"], "digit classifier"))

    @cached_property
    def _extractor(self):
        from ddpm_lab import inception

        return inception.FeatureExtractor()

    def fid(self, images: np.ndarray) -> float:
        """FID (clean-fid, mode "clean") of uint8 samples against the shipped statistics; the same samples
        are measured once per process."""
        from ddpm_lab import fid

        key = hashlib.sha256(np.ascontiguousarray(images).tobytes() + str(images.shape).encode()).hexdigest()
        if key not in self._fid_memo:
            bar = Bar(f"Inception features of {len(images)} samples", unit="batch", leave=False) if self.progress else None
            features = self._extractor.features(images, progress=bar)
            self._fid_memo[key] = fid.frechet_distance(fid.statistics(features), self.fid_statistics)
        return self._fid_memo[key]

    # MNIST, the grader's own copy ---------------------------------------------------------------------------
    @cached_property
    def _mnist_folder(self) -> Path:
        from ddpm_lab.data import fetch_mnist

        return fetch_mnist(self.mnist_dir)

    @cached_property
    def train_images(self) -> tuple[np.ndarray, np.ndarray]:
        from ddpm_lab.data import prepared_split

        return prepared_split(self._mnist_folder, "train", self.image_size)

    @cached_property
    def test_images(self) -> tuple[np.ndarray, np.ndarray]:
        from ddpm_lab.data import prepared_split

        return prepared_split(self._mnist_folder, "test", self.image_size)

    @cached_property
    def _train_matrix(self) -> tuple[np.ndarray, np.ndarray]:
        return pixel_matrix(self.train_images[0])

    @cached_property
    def _test_matrix(self) -> tuple[np.ndarray, np.ndarray]:
        return pixel_matrix(self.test_images[0])

    def nearest_training_image(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """For each uint8 image, the RMS pixel distance (0-255 scale) to its nearest MNIST training image and
        that image's index."""
        return nearest(images, *self._train_matrix)

    def nearest_test_image(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The same against MNIST's 10,000 test images (samples copied from them would also score a low FID)."""
        return nearest(images, *self._test_matrix)

    def test_image_distances(self, n: int) -> np.ndarray:
        """:meth:`nearest_training_image` distances of the first ``n`` test images: what real, unseen digits
        score (the same for every submission of that size, so measured once)."""
        if n not in self._test_distances:
            self._test_distances[n] = self.nearest_training_image(self.test_images[0][:n])[0]
        return self._test_distances[n]

    @cached_property
    def mean_pixel_training(self) -> float:
        return float(self.train_images[0].mean())
