"""Task 6 (end): 64 samples of the backward process of eq. (33) in an 8x8 grid, the grid's first row on its way
back (x_t at the timesteps of ``sample_grid.trajectory``), and the weights that drew them, as safetensors: the
grader draws some of the grid's and the FID's samples again from them."""

from dataclasses import asdict

import numpy as np
import torch

from ddpm_lab import artifacts, plots, weights
from ddpm_lab.config import Device, SampleGrid
from ddpm_lab.progress import Bar
from ddpm_lab.sampler import SamplerConfig, Trajectory, generate
from ddpm_lab.schedule import NoiseSchedule
from ddpm_lab.streams import seed_of
from ddpm_lab.unet import UNetConfig, load_trained
from stages._common import stage


@stage(
    "sample_grid",
    configs={
        "schedule": NoiseSchedule.linear,
        "model": UNetConfig,
        "sampler": SamplerConfig,
        "sample_grid": SampleGrid,
        "device": Device,
    },
    inputs=["model", "train_images"],
)
def main(cfg, paths):
    rows = cfg.sample_grid.n_rows
    model = load_trained(paths.model, cfg.model, cfg.schedule, ema=cfg.sampler.use_ema)
    mean_image = torch.from_numpy(np.load(paths.train_images)["images"]).mean(0)
    artifacts.write(paths.reports, artifacts.WEIGHTS, weights.to_bytes(model, "ema" if cfg.sampler.use_ema else "raw"))
    trajectory = Trajectory(cfg.schedule, cfg.sampler, list(cfg.sample_grid.trajectory), n=rows)
    noise_seed = seed_of(cfg.sample_grid.seed, "grid_noise")
    images = generate(
        model,
        cfg.schedule,
        rows * rows,
        cfg.sampler,
        seed=noise_seed,
        device=cfg.device.torch,
        mean_image=mean_image,
        progress=Bar(f"sampling {rows * rows} images"),
        observe=trajectory,
    )
    size = cfg.model.image_size
    artifacts.write(paths.reports, artifacts.GRID_SAMPLES, {"images": images}, size=size)
    title = f"{rows * rows} samples of the backward process, eq. (33)\n{cfg.sampler.describe(cfg.schedule.steps)}"
    artifacts.write(paths.reports, artifacts.GRID_FIGURE, plots.digit_grid(images, title, n_rows=rows))
    frames = trajectory.kept
    artifacts.write(paths.reports, artifacts.TRAJECTORY, {f"t{t}": x for t, x in frames.items()}, rows=rows, size=size)
    title = f"The backward process, eq. (33): the grid's first row on its way back\n{cfg.sampler.describe(cfg.schedule.steps)}"
    artifacts.write(paths.reports, artifacts.TRAJECTORY_FIGURE, plots.trajectory(frames, title))
    return {
        "n_samples": int(len(images)),
        "n_rows": rows,
        "image_size": [size, size],
        "mean_pixel": float(images.mean()),
        "trajectory_times": sorted(frames, reverse=True),
        "sampler": asdict(cfg.sampler),
        "noise_seed": noise_seed,
    }


if __name__ == "__main__":
    main()
