"""Task 3, ddpm_lab.data.balanced_indices: a class-balanced subset."""

import numpy as np

TARGET, TASK = "ddpm_lab.data.balanced_indices", 3


def first_of_each_digit(labels, total, seed, exclude=None):
    """The first total // 10 images of each digit: balanced, but the seed changes nothing."""
    allowed = np.ones(len(labels), dtype=bool)
    if exclude is not None:
        allowed[exclude] = False
    chosen = [np.flatnonzero((labels == d) & allowed)[: total // 10] for d in range(10)]
    return np.sort(np.concatenate(chosen))


def with_replacement(labels, total, seed, exclude=None):
    """rng.choice without replace=False: the same image drawn twice."""
    rng = np.random.default_rng(seed)
    allowed = np.ones(len(labels), dtype=bool)
    if exclude is not None:
        allowed[exclude] = False
    chosen = [rng.choice(np.flatnonzero((labels == d) & allowed), size=total // 10) for d in range(10)]
    return np.sort(np.concatenate(chosen))


def random_over_all_images(labels, total, seed, exclude=None):
    """A random subset of all images: "roughly equal" by luck only."""
    rng = np.random.default_rng(seed)
    pool = np.setdiff1d(np.arange(len(labels)), exclude if exclude is not None else [])
    return np.sort(rng.choice(pool, size=total, replace=False))


def positions_within_each_digit(labels, total, seed, exclude=None):
    """Positions within each digit's own list (0..count−1) returned as if they were indices into labels."""
    rng = np.random.default_rng(seed)
    chosen = [rng.choice(int((labels == d).sum()), size=total // 10, replace=False) for d in range(10)]
    return np.sort(np.concatenate(chosen))


def exclude_ignored(labels, total, seed, exclude=None):
    """`exclude` forgotten: FID's real-data floor would share images with the training subset."""
    rng = np.random.default_rng(seed)
    chosen = [rng.choice(np.flatnonzero(labels == d), size=total // 10, replace=False) for d in range(10)]
    return np.sort(np.concatenate(chosen))
