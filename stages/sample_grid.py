"""Task 6 (end): 64 samples of the backward process of eq. (33) in an 8x8 grid."""

import numpy as np
import torch
from _common import stage
from tqdm import tqdm

from ddpm_lab import config, data, io, plots
from ddpm_lab.sampler import sample


@stage("sample_grid")
def main(params, out):
    rows = params["sample_grid"]["n_rows"]
    device = config.device(params)
    model = config.load_trained(params).to(device)
    train_images = torch.from_numpy(np.load("data/mnist/train.npz")["images"])
    size = params["data"]["image_size"]
    samples = sample(
        model, config.schedule(params), rows * rows, (1, size, size), config.sampler_config(params),
        seed=params["seed"] + 2, device=device, mean_image=train_images.mean(0),
        progress=lambda it: tqdm(it, desc=f"sampling {rows * rows} images", unit="step"),
    )
    images = data.to_uint8(samples)
    io.write_npz(out / "samples.npz", images=images)
    io.save_figure(plots.digit_grid(images, f"{rows * rows} samples of the learned backward process, eq. (33)", n_rows=rows), out / "grid.png")
    return {"n_samples": int(len(images)), "n_rows": rows, "image_size": [size, size], "mean_pixel": float(images.mean())}


if __name__ == "__main__":
    main()
