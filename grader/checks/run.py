"""The run's checks: whose seed it is (``run.seed``), and that everything the seed decides was drawn with it
(``run.seeded_draws``).

A seed in a metrics file is a claim. What the seed decides is redrawn here with the grader's own copies of the
draws and compared with the submitted arrays: Task 1's samples and Task 2's data (exactly), the subset's indices
(the images themselves, against the grader's preparation of MNIST), the forward demo's x_0 and its noise. Each
draw takes its seed from the run's seed and its named stream (:mod:`ddpm_lab.streams`), as the stages do. The
sampler's noise is tied to the seed by regenerating samples from the handed-in weights
(:mod:`grader.checks.regenerate`).
"""

from __future__ import annotations

import numpy as np

from ddpm_lab import artifacts
from ddpm_lab.streams import seed_of
from grader.checks.base import (
    FAILED,
    FORWARD,
    NOT_RUN,
    SUBSET,
    Context,
    Outcome,
    check,
    check_settings,
    forward_arrays,
    gaussian_samples,
    gndm_data,
    subset_images,
)
from grader.checks.task3 import nearest_subset_images
from grader.safe import Rejected, declared

Seed = check_settings("Seed", stages=("texts", {}))
SeededDraws = check_settings(
    "SeededDraws",
    atol=("number", {"low": 0}),
    max_rms_distance=("number", {"low": 0}),
    min_noise_correlation=("number", {"low": -1, "high": 1}),
)


def claimed_seed(ctx: Context, stages: list[str]) -> tuple[int | None, str]:
    """The one seed every stage's metrics name, or None and the disagreement in words."""
    seeds = {}
    for stage in stages:
        metrics = artifacts.metrics(stage)
        value = ctx.sub.json(metrics.path).get(metrics.key("seed"))
        if not (isinstance(value, int) and not isinstance(value, bool) and value >= 0):
            raise Rejected(f"{metrics.path}: seed {value!r} is not a non-negative integer")
        seeds[stage] = value
    if len(set(seeds.values())) > 1:
        return None, "seeds " + ", ".join(f"{s} ({k})" for k, s in seeds.items())
    return next(iter(seeds.values())), ""


def run_seed(ctx: Context) -> int:
    """The run's seed for the checks that redraw with it: the stages must agree on one."""
    stages = ctx.settings[("run", "seed")].stages
    seed, disagreement = ctx.once("seed", lambda: claimed_seed(ctx, stages))
    if seed is None:
        raise Rejected(f"the stages' metrics disagree on the run's seed: {disagreement}")
    return seed


@check("run", "seed", Seed)
def seed(ctx: Context, cfg: Seed) -> Outcome:
    """The run's seed is the one the student's edition was given: derived from the id the grader was told."""
    claimed, disagreement = ctx.once("seed", lambda: claimed_seed(ctx, cfg.stages))
    identity = ctx.identity
    expected = f"one seed across {len(cfg.stages)} stages, the student's own (derived from the id)"
    if claimed is None:
        return Outcome.of(False, disagreement, expected)
    if identity.seed is None:
        why = identity.problem or "no student id given (--student-id, a roster, or Gradescope's metadata)"
        return Outcome(NOT_RUN, f"seed {claimed}; whose it should be is unknown: {why}", expected)
    if claimed != identity.seed:
        owners = identity.whose(claimed)
        owner = f"; {claimed} is the seed of {', '.join(owners)} on the roster" if owners else ""
        return Outcome.of(False, f"seed {claimed}, not {identity.describe()}{owner}", expected)
    return Outcome.of(True, f"seed {claimed}, {identity.owner()}", expected, f"The run's seed {claimed} is the student's own.")


def _redraw_normal(n: int, mean, seed: int) -> np.ndarray:
    import torch

    from ddpm_lab.gaussian import sample_normal

    return sample_normal(n, torch.tensor(mean, dtype=torch.float64), seed).numpy()


@check("run", "seeded_draws", SeededDraws)
def seeded_draws(ctx: Context, cfg: SeededDraws) -> Outcome:
    """Every draw the seed decides, redrawn by the grader: a run's arrays under another run's seed fail here."""
    from ddpm_lab.data import balanced_indices

    seed = run_seed(ctx)
    wrong = []
    drawn = gaussian_samples(ctx)
    if not np.array_equal(drawn, _redraw_normal(len(drawn), [0.0, 0.0], seed_of(seed, "gaussian_demo"))):
        wrong.append(f"Task 1's samples ({artifacts.GAUSSIAN_SAMPLES.path})")
    data = gndm_data(ctx)
    true_mean = ctx.settings[("task2", "data_distribution")].true_mean
    if not np.allclose(data, _redraw_normal(len(data), true_mean, seed_of(seed, "gndm_data")), rtol=0, atol=cfg.atol):
        wrong.append(f"Task 2's data ({artifacts.GNDM_DATA.path})")

    size = ctx.refs.image_size
    images = subset_images(ctx)
    distance, index = nearest_subset_images(ctx)
    labels = ctx.refs.train_images[1]
    balanced = len(images) % 10 == 0
    expected = np.sort(balanced_indices(labels, len(images), seed_of(seed, "subset"))) if balanced else np.zeros(0)
    found = set(index[distance <= cfg.max_rms_distance].tolist())
    shared = len(found & set(expected.tolist()))
    if len(expected) == 0 or shared != len(images):
        wrong.append(f"the subset ({SUBSET.path}: {shared} of {len(images)} images are the seed's)")

    arrays = forward_arrays(ctx)
    x0 = declared(arrays, FORWARD, "x0", size=size).astype(np.float64)
    unit = ((x0 + 1) / 2 * 255).round().clip(0, 255).astype(np.uint8)
    first = int(expected[0]) if len(expected) else -1
    d, i = ctx.refs.nearest_training_image(unit[None])
    if int(i[0]) != first or d[0] > cfg.max_rms_distance:
        wrong.append(f"the forward demo's x_0 ({FORWARD.path}: not the subset's first image)")
    noise_corr = forward_noise_correlations(ctx, arrays, x0, seed_of(seed, "forward_noise"))
    low = {t: c for t, c in noise_corr.items() if not c >= cfg.min_noise_correlation}
    if low:
        wrong.append("the forward demo's noise (" + ", ".join(f"t={t}: correlation {c:.2f}" for t, c in low.items()) + ")")
    what = "Task 1's samples, Task 2's data, the subset, the forward demo's x_0 and noise"
    expected_text = f"each redrawn with seed {seed} as the stages draw it"
    if wrong:
        return Outcome(FAILED, "not drawn with the run's seed: " + "; ".join(wrong), expected_text)
    return Outcome.of(True, f"{what}: each as seed {seed} draws it", expected_text, f"Every draw of seed {seed} checks out.")


def forward_noise_correlations(ctx: Context, arrays: dict, x0: np.ndarray, seed: int) -> dict[int, float]:
    """For each x_t of the forward demo (t > 0), the correlation of the noise it implies under eq. (27),
    (x_t − √ᾱ_t x_0) / √(1 − ᾱ_t), with the noise the seed draws for it (the stage draws one per t, in order)."""
    import torch

    times = sorted(int(k[1:]) for k in arrays if k.startswith("t") and k[1:].isdigit())
    if any(t > ctx.refs.schedule.steps for t in times):
        raise Rejected(f"{FORWARD.path}: timesteps {times} beyond T = {ctx.refs.schedule.steps}")
    generator = torch.Generator().manual_seed(seed)
    out = {}
    for t in times:
        noise = torch.randn((1, 1, *x0.shape), generator=generator, dtype=torch.float64)[0, 0].numpy()
        if t == 0:
            continue
        x_t = declared(arrays, FORWARD, f"t{t}", size=len(x0)).astype(np.float64)
        s = ctx.refs.sqrt_alpha_bar(t)
        implied = (x_t - s * x0) / np.sqrt(1 - s * s)
        out[t] = float(np.corrcoef(implied.ravel(), noise.ravel())[0, 1])
    return out
