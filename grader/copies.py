"""Copies across the submissions of a class, listed as pairs with their evidence (nothing is deducted).

Each worker reduces a submission to its :class:`Evidence` while grading it: a hash of each sample, the samples'
8×8 block means, the loss curve and the claimed seed (a few hundred kB, whatever the class size). The client then
compares every pair:

- **identical samples**: byte-identical images, as a share of the smaller set. Two models trained apart never draw
  the same 32×32 image; blank images (every pixel alike), which a broken sampler draws in any run, are left out.
- **near-identical samples**: for each sample, the RMS distance (0–255) of its 8×8 block means to the nearest
  sample of the other set. Noise added to a copy moves block means by a fraction of the noise; two honest
  models' digits seldom come that close (thresholds and their measurement in ``rubric.yaml``, ``copies:``).
- **identical loss curves**: the same number of epochs, every epoch's loss equal to a relative tolerance.
  Runs with different seeds differ by about 1 % per epoch; a copied ``loss.csv``, rounded or not, does not.
- **identical or near-identical weights**: the handed-in weights (``sample_grid/weights.safetensors``) of one
  architecture, byte-identical, or closer than ``weights_distance`` relative to their size. Each submission is
  reduced to a fixed random projection of its flattened weights (64 numbers, which keep distances to within
  about a third); networks trained from different initialisations lie about √2 apart, a copy with noise added or a few
  epochs of fine-tuning far closer.

A shared seed is added to a listed pair's evidence: with each student's own seed (``python -m grader assign``)
two honest runs never share one.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from itertools import combinations

import numpy as np

from ddpm_lab import artifacts
from ddpm_lab.artifacts import FID_SAMPLES, LOSS, WEIGHTS
from grader.safe import Rejected, Submission, declared

SAMPLES, SEED_FROM = FID_SAMPLES, artifacts.metrics("gaussian_demo")
BLOCK = 4  # 32×32 images → 8×8 block means
PROJECTION = 64  # dimensions of the weights' random projection


@dataclass
class Evidence:
    submission: str
    n_samples: int = 0
    hashes: np.ndarray | None = None  # uint64 per non-blank sample
    blocks: np.ndarray | None = None  # float32 (n, 64): 8×8 block means, 0-255
    loss: np.ndarray | None = None  # per epoch
    seed: int | None = None
    weights_layout: str = ""  # the tensors' names and shapes, hashed: only weights of one layout are compared
    weights_digest: str = ""  # SHA-256 of the tensors' bytes
    weights_projection: np.ndarray | None = None  # float64 (PROJECTION,)


def evidence_of(sub: Submission, name: str, image_size: int) -> Evidence:
    """What the copy detection needs of one submission; a file it cannot read contributes nothing."""
    found = Evidence(name)
    try:
        images = declared(sub.npz(SAMPLES.path), SAMPLES, "images", size=image_size)
        flat = images.reshape(len(images), -1)
        kept = flat[flat.min(1) != flat.max(1)]
        found.n_samples = len(images)
        found.hashes = np.array([int.from_bytes(hashlib.sha1(row.tobytes()).digest()[:8], "little") for row in kept], np.uint64)
        found.blocks = block_means(images)
    except Rejected:
        pass
    try:
        found.loss = sub.table(LOSS, "loss")["loss"]
    except Rejected:
        pass
    try:
        found.weights_layout, found.weights_digest, found.weights_projection = weights_fingerprint(sub.read_bytes(WEIGHTS.path))
    except (Rejected, ValueError):
        pass
    try:
        seed = sub.json(SEED_FROM.path).get(SEED_FROM.key("seed"))
        found.seed = seed if isinstance(seed, int) and not isinstance(seed, bool) else None
    except Rejected:
        pass
    return found


def weights_fingerprint(data: bytes) -> tuple[str, str, np.ndarray]:
    """(layout, digest, projection) of safetensors bytes: the weights flattened in name order and projected onto
    PROJECTION fixed random ±1 directions (scaled so that distances are kept on average)."""
    from safetensors.numpy import load

    try:
        tensors = load(data)
    except Exception as err:  # safetensors raises its own error types for a damaged file
        raise ValueError(f"{WEIGHTS.path}: {err}") from None
    names = sorted(tensors)
    layout = hashlib.sha256(repr([(n, tensors[n].shape) for n in names]).encode()).hexdigest()
    flat = np.concatenate([tensors[n].astype(np.float64).ravel() for n in names]) if names else np.zeros(0)
    digest = hashlib.sha256(flat.tobytes()).hexdigest()
    projection = np.zeros(PROJECTION)
    rng = np.random.default_rng(0)
    for start in range(0, len(flat), 65536):
        part = flat[start : start + 65536]
        projection += (rng.integers(0, 2, size=(PROJECTION, len(part)), dtype=np.int8) * 2 - 1) @ part
    return layout, digest, projection / np.sqrt(PROJECTION)


def block_means(images: np.ndarray) -> np.ndarray:
    n, h, w = images.shape
    return images.reshape(n, h // BLOCK, BLOCK, w // BLOCK, BLOCK).astype(np.float32).mean((2, 4)).reshape(n, -1)


@dataclass
class Pair:
    a: str
    b: str
    kinds: list[str]
    evidence: list[str]


def find_copies(evidence: list[Evidence], settings: dict) -> list[Pair]:
    """Every pair of submissions with copied samples, loss curves or weights, in the order of ``evidence``."""
    pairs = []
    for a, b in combinations(evidence, 2):
        kinds, lines = [], []
        if a.hashes is not None and b.hashes is not None and len(a.hashes) and len(b.hashes):
            shared = len(np.intersect1d(a.hashes, b.hashes))
            smaller = min(a.n_samples, b.n_samples)
            if shared / smaller >= settings["identical_share"]:
                kinds.append("identical samples")
                lines.append(f"{shared} of {smaller} samples byte-identical")
        if a.blocks is not None and b.blocks is not None and "identical samples" not in kinds:
            limit = settings["near_distance"]
            share, closest = max(  # the direction with more near matches (a → b on a tie)
                (((d <= limit).mean(), d) for d in (nearest_rms(a.blocks, b.blocks), nearest_rms(b.blocks, a.blocks))),
                key=lambda found: found[0],
            )
            if share >= settings["near_share"]:
                kinds.append("near-identical samples")
                lines.append(
                    f"{share:.0%} of the samples have one within RMS {limit:g} (8x8 block means, 0-255) in the other set "
                    f"(median distance {np.median(closest):.1f})"
                )
        if a.loss is not None and b.loss is not None and len(a.loss) == len(b.loss) and len(a.loss):
            gap = np.abs(a.loss - b.loss) / np.maximum(np.abs(a.loss), 1e-12)
            if gap.max() <= settings["loss_relative_tolerance"]:
                kinds.append("identical loss curves")
                same = "equal" if gap.max() == 0 else f"equal to {gap.max():.1e} relative"
                lines.append(f"loss curves of {len(a.loss)} epochs, every epoch {same}")
        if a.weights_projection is not None and b.weights_projection is not None and a.weights_layout == b.weights_layout:
            if a.weights_digest == b.weights_digest:
                kinds.append("identical weights")
                lines.append("the handed-in weights are byte-identical")
            else:
                scale = max(np.linalg.norm(a.weights_projection), np.linalg.norm(b.weights_projection), 1e-12)
                distance = float(np.linalg.norm(a.weights_projection - b.weights_projection) / scale)
                if distance <= settings["weights_distance"]:
                    kinds.append("near-identical weights")
                    lines.append(f"the handed-in weights lie {distance:.3f} apart, relative to their size")
        if kinds:
            if a.seed is not None and a.seed == b.seed:
                lines.append(f"both claim seed {a.seed}")
            pairs.append(Pair(a.submission, b.submission, kinds, lines))
    return pairs


def nearest_rms(a: np.ndarray, b: np.ndarray, chunk: int = 1000) -> np.ndarray:
    """For each row of ``a``, the RMS distance to its nearest row of ``b``."""
    b_sq = (b * b).sum(1)
    out = []
    for start in range(0, len(a), chunk):
        x = a[start : start + chunk]
        squared = (x * x).sum(1)[:, None] + b_sq[None, :] - 2 * x @ b.T
        out.append(np.sqrt(np.maximum(squared.min(1), 0) / a.shape[1]))
    return np.concatenate(out) if out else np.zeros(0)
