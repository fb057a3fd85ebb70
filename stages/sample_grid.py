"""Task 6 (end): 64 samples of the backward process of eq. (33) in an 8x8 grid."""

import numpy as np
import torch
from _common import stage
from _params import Device, SampleGrid

from ddpm_lab import io, plots
from ddpm_lab.progress import Bar
from ddpm_lab.sampler import SamplerConfig, generate
from ddpm_lab.schedule import NoiseSchedule
from ddpm_lab.unet import UNetConfig, load_trained


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
    images = generate(
        model,
        cfg.schedule,
        rows * rows,
        cfg.sampler,
        seed=cfg.sample_grid.seed + 2,
        device=cfg.device.torch,
        mean_image=mean_image,
        progress=Bar(f"sampling {rows * rows} images"),
    )
    io.write_npz(paths.reports / "samples.npz", images=images)
    title = f"{rows * rows} samples of the backward process, eq. (33)\n{cfg.sampler.describe(cfg.schedule.steps)}"
    io.save_figure(plots.digit_grid(images, title, n_rows=rows), paths.reports / "grid.png")
    size = cfg.model.image_size
    return {"n_samples": int(len(images)), "n_rows": rows, "image_size": [size, size], "mean_pixel": float(images.mean())}


if __name__ == "__main__":
    main()
