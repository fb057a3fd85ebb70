"""Samples and loss tied to the weights handed in with them (the checks: ``task6.grid_regenerates``,
``task7.samples_regenerate``, ``task6.loss_matches_weights``).

``sample_grid/weights.safetensors`` holds the weights that drew the samples (read with safetensors alone: no
pickle, nothing executed). Sample i of a run is drawn from its own noise stream (seed, i)
(:func:`ddpm_lab.sampler.sample_generator`), so any sample can be drawn again alone:

- k samples of the grid and k of the FID's, picked at random at each grading, are drawn again from the weights
  with the run's seed and the sampler settings the stages recorded, and must match the submitted ones to the
  rubric's tolerance (measured across CPUs: docs/grading.md). Swapped samples, real images, weights changed
  after sampling, or another seed's samples do not.
- eq. (38)'s loss of the weights on the student's subset, with t and noise drawn by the grader, must lie within
  the rubric's tolerance of the last epochs' logged loss: a loss curve of another run, or weights of another
  run, do not fit.

The draws of a grading come from one seed (``References.draw_seed``, random unless set), printed with the result,
so that a grade can be reproduced. Regenerations are remembered per process by what they depend on (the weights'
bytes, the settings, the picks): grading the same submission twice with the same picks costs nothing.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import fields

import numpy as np

from ddpm_lab import artifacts
from ddpm_lab.artifacts import WEIGHTS, Archive
from ddpm_lab.streams import STREAMS, seed_of
from grader.checks.base import FAILED, Context, Outcome, samples, subset_images
from grader.checks.run import run_seed
from grader.safe import Rejected

_REGENERATED: dict[str, np.ndarray] = {}
_LOSSES: dict[str, float] = {}


def weights_bytes(ctx: Context) -> bytes:
    return ctx.once("weights:bytes", lambda: ctx.sub.read_bytes(WEIGHTS.path))


def model(ctx: Context):
    def load():
        from ddpm_lab import weights

        try:
            net = weights.from_bytes(weights_bytes(ctx), ctx.refs.schedule)
        except (ValueError, KeyError, RuntimeError, TypeError) as err:
            raise Rejected(f"{WEIGHTS.path}: {str(err).splitlines()[0][:200]}") from None
        size = ctx.refs.image_size
        if (net.config.image_size, net.config.channels) != (size, 1):
            shape = f"{net.config.channels} x {net.config.image_size}"
            raise Rejected(f"{WEIGHTS.path}: a U-Net of {shape} images, the lab's are 1 x {size}")
        return net

    return ctx.once("weights:model", load)


def sampler_settings(ctx: Context, archive: Archive):
    """The sampler settings recorded by the stage that wrote ``archive``, validated by :class:`SamplerConfig`; they
    decide nothing by themselves: samples drawn otherwise do not regenerate."""
    from ddpm_lab.sampler import SamplerConfig

    stage = archive.path.split("/")[0]
    metrics = artifacts.metrics(stage)
    recorded = ctx.sub.json(metrics.path).get(metrics.key("sampler"))
    if not isinstance(recorded, dict):
        raise Rejected(f"{metrics.path}: no sampler settings (rerun `dvc repro {stage}`)")
    known = {f.name for f in fields(SamplerConfig)}
    try:
        return SamplerConfig(**{k: v for k, v in recorded.items() if k in known})
    except (ValueError, TypeError) as err:
        raise Rejected(f"{metrics.path} sampler: {str(err).splitlines()[0][:200]}") from None


def mean_image(ctx: Context):
    """The mean training image of the student's subset, in model range (the forward-marginal start needs it)."""
    import torch

    return torch.from_numpy(subset_images(ctx).astype(np.float32) / 255 * 2 - 1).mean(0)[None]


def pick(ctx: Context, n: int, k: int, stream: str) -> list[int]:
    rng = np.random.default_rng([ctx.draw_seed, STREAMS[stream]])
    return sorted(rng.choice(n, size=min(k, n), replace=False).tolist())


def regenerate(ctx: Context, archive: Archive, stream: str, k: int, max_pixel_difference: int) -> Outcome:
    """k of the samples in ``archive``, picked at random, drawn again from the weights with the noise of ``stream``."""
    from ddpm_lab.sampler import generate

    submitted = samples(ctx, archive)
    if len(submitted) == 0:
        raise Rejected(f"{archive.path}: no samples")
    config = sampler_settings(ctx, archive)
    noise_seed = seed_of(run_seed(ctx), stream)
    picked = pick(ctx, len(submitted), k, stream)
    mean = mean_image(ctx) if config.start == "forward_marginal" else None
    key = hashlib.sha256(
        weights_bytes(ctx)
        + json.dumps([repr(config), noise_seed, picked]).encode()
        + (b"" if mean is None else mean.numpy().tobytes())
    ).hexdigest()
    if key not in _REGENERATED:
        _REGENERATED[key] = generate(
            model(ctx), ctx.refs.schedule, len(picked), config, seed=noise_seed, mean_image=mean, indices=picked
        )
    again = _REGENERATED[key]
    diff = np.abs(again.astype(np.int16) - submitted[picked].astype(np.int16))
    worst = diff.reshape(len(picked), -1).max(1)
    off = [i for i, w in zip(picked, worst) if w > max_pixel_difference]
    expected = (
        f"each of {len(picked)} samples picked at random (draw seed {ctx.draw_seed}) drawn again from {WEIGHTS.path} with "
        f"noise seed {noise_seed}, within {max_pixel_difference} of 255 at every pixel"
    )
    measured = f"largest pixel difference {int(worst.max()) if len(worst) else 0} of 255 over samples {picked}"
    if off:
        shown = ", ".join(f"#{i}" for i in off[:10]) + (" …" if len(off) > 10 else "")
        return Outcome(
            FAILED, f"{len(off)} of {len(picked)} samples of {archive.path} did not regenerate ({shown}); {measured}", expected
        )
    return Outcome.of(
        True,
        measured,
        expected,
        f"{len(picked)} samples of {archive.path}, picked at random, regenerate from the handed-in weights.",
    )


def weights_loss(ctx: Context, batch: int = 250) -> float:
    """Eq. (38)'s loss of the handed-in weights on the student's subset: for each image one t uniform on 1..T and
    one ε ~ N(0, I) drawn by the grader, x_t of eq. (27), and the mean over images of the squared error of ε̂
    averaged over pixels (as the training stage logs it)."""
    import torch

    from ddpm_lab.schedule import q_sample

    images = subset_images(ctx)
    key = hashlib.sha256(weights_bytes(ctx) + images.tobytes() + str(ctx.draw_seed).encode()).hexdigest()
    if key not in _LOSSES:
        net, schedule = model(ctx), ctx.refs.schedule
        x0 = torch.from_numpy(images.astype(np.float32) / 255 * 2 - 1)[:, None]
        generator = torch.Generator().manual_seed(ctx.draw_seed)
        t = torch.randint(1, schedule.steps + 1, (len(x0),), generator=generator)
        noise = torch.randn(x0.shape, generator=generator)
        x_t = q_sample(schedule, x0, t, noise).float()  # eq. (27), the instructor's library
        errors = []
        with torch.no_grad():
            for start in range(0, len(x0), batch):
                part = slice(start, start + batch)
                errors.append((net(x_t[part], t[part]).float() - noise[part]).square().mean(dim=(1, 2, 3)))
        _LOSSES[key] = float(torch.cat(errors).mean())
    return _LOSSES[key]
