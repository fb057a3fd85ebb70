"""Task 7: FID (clean-fid, mode "clean") of n_generated samples against the MNIST test-set statistics."""

import numpy as np
import torch
from _common import stage
from tqdm import tqdm

from ddpm_lab import config, data, fid, io
from ddpm_lab.sampler import sample


@stage("fid")
def main(params, out):
    p = params["fid"]
    device = config.device(params)
    model = config.load_trained(params).to(device)
    train_images = torch.from_numpy(np.load("data/mnist/train.npz")["images"])
    size = params["data"]["image_size"]
    samples = sample(
        model, config.schedule(params), p["n_generated"], (1, size, size), config.sampler_config(params),
        seed=params["seed"] + 3, device=device, mean_image=train_images.mean(0),
        progress=lambda it: tqdm(it, desc=f"sampling {p['n_generated']} images", unit="step", miniters=50),
    )
    images = data.to_uint8(samples)
    io.write_npz(out / "samples.npz", images=images)
    extractor = fid.FeatureExtractor(device=device, batch_size=p["batch_size"])
    stats = fid.statistics_of(images, extractor, "generated samples")
    reference = dict(np.load("data/fid/reference_stats.npz"))
    floor = dict(np.load("data/fid/floor_stats.npz"))
    score = fid.frechet_distance(stats, reference)
    floor_fid = fid.frechet_distance(floor, reference)
    return {
        "fid": score,
        "floor": floor_fid,
        "fid_over_floor": score / floor_fid,
        "n_generated": int(len(images)),
        "n_reference": int(reference["n"]),
        "n_floor": int(floor["n"]),
        "mean_pixel": float(images.mean()),
        "mean_pixel_training": float(data.to_uint8(train_images).mean()),
        "inception": extractor.provenance,
    }


if __name__ == "__main__":
    main()
