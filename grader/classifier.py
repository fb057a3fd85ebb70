"""A small digit classifier for MNIST at 32×32: the grader's "are these digits?" yardstick (Task 7).

It sees images exactly as the pipeline stores samples (uint8, 32×32, digits bright on black) and scales
them as the pipeline scales training images (x / 127.5 − 1, README "Normalization"). Trained on the 60,000
MNIST training images prepared like Task 3's subset (bilinear, antialiased resize to 32×32), with random
shifts of up to two pixels, and measured on the 10,000 test images prepared the same way.

A classifier trained on digits alone calls almost anything a digit, and with confidence: random pixels
included. So it has an eleventh class, "not a digit", trained on images made afresh for every batch that
share MNIST's pixel statistics but none of its strokes (:func:`non_digits`): MNIST images with their pixels
shuffled (the exact pixel histogram of a digit), random 0/255 pixels at random densities, smoothed noise
blobs, uniform noise and flat images.

Over a set of samples it gives what a grader can use: the share of samples recognised as a digit with
confidence (top softmax probability, on a digit class, at least a threshold), the share called "not a digit",
and how many samples fall on each digit.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from ddpm_lab.rules import Rules
from ddpm_lab.streams import seed_of

N_DIGITS = 10
NOT_A_DIGIT = N_DIGITS  # the eleventh class
N_CLASSES = N_DIGITS + 1


@dataclass(frozen=True, kw_only=True)
class ClassifierConfig:
    """The digit classifier's training: params.yaml's ``digit_classifier`` section, no defaults here."""

    epochs: int
    batch_size: int
    learning_rate: float
    max_shift: int  # pixels of random translation per training image
    seed: int

    def __post_init__(self) -> None:
        rules = Rules(self)
        for name in ("epochs", "batch_size"):
            rules.integer(name, low=1)
        rules.number("learning_rate", low=0, low_open=True)
        rules.integer("max_shift", low=0)
        rules.integer("seed", low=0)
        rules.raise_problems()


class DigitClassifier(nn.Module):
    """Four 3×3 convolutions with batch norm, three 2×2 poolings, one linear layer: 32×32 → 10 logits."""

    def __init__(self) -> None:
        super().__init__()

        def block(c_in: int, c_out: int) -> list[nn.Module]:
            return [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU()]

        self.features = nn.Sequential(
            *block(1, 32),
            nn.MaxPool2d(2),  # 16×16
            *block(32, 64),
            *block(64, 64),
            nn.MaxPool2d(2),  # 8×8
            *block(64, 128),
            nn.MaxPool2d(2),  # 4×4
        )
        self.head = nn.Sequential(nn.Flatten(), nn.Dropout(0.3), nn.Linear(128 * 4 * 4, N_CLASSES))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def to_input(images: np.ndarray) -> torch.Tensor:
    """uint8 (N, 32, 32) → float32 (N, 1, 32, 32) in [−1, 1], the pipeline's scaling."""
    if not isinstance(images, np.ndarray) or images.dtype != np.uint8 or images.ndim != 3:
        raise TypeError(
            f"expected uint8 images shaped (N, H, W), got {getattr(images, 'dtype', type(images))} {getattr(images, 'shape', '')}"
        )
    return torch.from_numpy(images).float().div_(127.5).sub_(1).unsqueeze(1)


def _shifted(x: torch.Tensor, max_shift: int, generator: torch.Generator) -> torch.Tensor:
    """Each image translated by up to ``max_shift`` pixels in each direction (zero = black padding)."""
    if max_shift == 0:
        return x
    padded = F.pad(x, (max_shift,) * 4, value=-1.0)
    offsets = torch.randint(0, 2 * max_shift + 1, (len(x), 2), generator=generator)
    size = x.shape[-1]
    return torch.stack([padded[i, :, r : r + size, c : c + size] for i, (r, c) in enumerate(offsets.tolist())])


def non_digits(digits: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """As many images that are not digits as ``digits`` (model range, (N, 1, S, S)), in five kinds, drawn afresh:
    the digits with their pixels shuffled, random 0/255 pixels at a random density, smoothed noise blobs,
    uniform noise, flat images."""
    n, _, h, w = digits.shape
    kind = torch.randint(0, 5, (n,), generator=generator)
    flat = digits.reshape(n, -1)
    shuffled = torch.gather(flat, 1, torch.argsort(torch.rand(flat.shape, generator=generator), dim=1)).reshape(digits.shape)
    density = torch.rand((n, 1, 1, 1), generator=generator) * 0.5 + 0.02
    sparse = (torch.rand(digits.shape, generator=generator) < density).float() * 2 - 1
    blobs = F.avg_pool2d(torch.rand((n, 1, h + 4, w + 4), generator=generator), 5, stride=1)
    blobs = ((blobs - blobs.mean(dim=(2, 3), keepdim=True)) * 12).clamp(-1, 1)
    uniform = torch.rand(digits.shape, generator=generator) * 2 - 1
    level = torch.rand((n, 1, 1, 1), generator=generator) * 2 - 1
    kinds = torch.stack([shuffled, sparse, blobs, uniform, level.expand_as(digits)])
    return kinds[kind, torch.arange(n)]


def train(
    images: np.ndarray, labels: np.ndarray, config: ClassifierConfig, progress: Callable[[int, int], None] | None = None
) -> tuple[DigitClassifier, list[float]]:
    """Adam on cross-entropy over the digits and, one for every ten digits, freshly drawn non-digits (class 10);
    the learning rate falls linearly to zero; ``progress(done, total)`` after each epoch. Returns the model and
    the loss per epoch."""
    seed = seed_of(config.seed, "classifier")
    torch.manual_seed(seed)  # the model's initial weights
    generator = torch.Generator().manual_seed(seed)  # the batches and the non-digits
    model = DigitClassifier()
    x, y = to_input(images), torch.from_numpy(np.asarray(labels, dtype=np.int64))
    optimizer = torch.optim.Adam(model.parameters(), lr=config.learning_rate)
    steps_per_epoch = -(-len(x) // config.batch_size)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: 1 - s / (config.epochs * steps_per_epoch))
    history = []
    for epoch in range(config.epochs):
        model.train()
        order = torch.randperm(len(x), generator=generator)
        total = 0.0
        for i in range(steps_per_epoch):
            idx = order[i * config.batch_size : (i + 1) * config.batch_size]
            digits = _shifted(x[idx], config.max_shift, generator)
            others = non_digits(digits[: max(1, len(idx) // N_DIGITS)], generator)
            inputs = torch.cat([digits, others])
            targets = torch.cat([y[idx], torch.full((len(others),), NOT_A_DIGIT)])
            loss = F.cross_entropy(model(inputs), targets)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            total += loss.item() * len(idx)
        history.append(total / len(x))
        if progress:
            progress(epoch + 1, config.epochs)
    return model.eval(), history


@torch.inference_mode()
def probabilities(model: DigitClassifier, images: np.ndarray, batch_size: int = 500) -> np.ndarray:
    """Softmax probabilities (N, 10) of uint8 images (N, 32, 32)."""
    model.eval()
    x = to_input(images)
    return torch.cat([F.softmax(model(x[i : i + batch_size]), dim=1) for i in range(0, len(x), batch_size)]).numpy()


def accuracy(model: DigitClassifier, images: np.ndarray, labels: np.ndarray) -> float:
    """Share of digit images given their own label (a "not a digit" verdict counts as wrong)."""
    return float((probabilities(model, images).argmax(1) == np.asarray(labels)).mean())


@dataclass(frozen=True)
class DigitMeasures:
    """What the classifier says of a set of samples."""

    n: int
    confident_share: float  # share called a digit with top probability >= the confidence threshold
    not_digit_share: float  # share whose top class is "not a digit"
    counts: tuple[int, ...]  # samples per predicted digit 0-9 (all samples called a digit, confident or not)

    @property
    def shares(self) -> np.ndarray:
        """Samples per digit as a share of all samples."""
        return np.array(self.counts) / max(1, self.n)


def measure(model: DigitClassifier, images: np.ndarray, confidence: float) -> DigitMeasures:
    p = probabilities(model, images)
    top = p.argmax(1)
    is_digit = top != NOT_A_DIGIT
    return DigitMeasures(
        n=len(images),
        confident_share=float((is_digit & (p.max(1) >= confidence)).mean()),
        not_digit_share=float((~is_digit).mean()),
        counts=tuple(int(c) for c in np.bincount(top[is_digit], minlength=N_DIGITS)),
    )


def load(path, expected_sha256: str | None = None) -> DigitClassifier:
    """Weights saved by ``io.torch_save(path, model.state_dict())``, loaded with ``weights_only=True``;
    refused when their SHA-256 is not ``expected_sha256``."""
    from ddpm_lab.io import file_digest

    if expected_sha256 is not None:
        digest = file_digest(path, "sha256")
        if digest != expected_sha256:
            raise ValueError(f"{path} has SHA-256 {digest}, expected {expected_sha256}: refusing it")
    model = DigitClassifier()
    model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    return model.eval()
