"""Task 7: FID (clean-fid, mode "clean") of n_generated samples against the MNIST test-set statistics."""

from dataclasses import asdict

import numpy as np
import torch

from ddpm_lab import artifacts, data, fid, inception
from ddpm_lab.config import Device, Fid
from ddpm_lab.progress import Bar
from ddpm_lab.sampler import SamplerConfig, generate
from ddpm_lab.schedule import NoiseSchedule
from ddpm_lab.streams import seed_of
from ddpm_lab.unet import UNetConfig, load_trained
from stages._common import stage


@stage(
    "fid",
    configs={"schedule": NoiseSchedule.linear, "model": UNetConfig, "sampler": SamplerConfig, "fid": Fid, "device": Device},
    inputs=["model", "train_images", "reference_stats", "floor_stats"],
)
def main(cfg, paths):
    n, device = cfg.fid.n_generated, cfg.device.torch
    model = load_trained(paths.model, cfg.model, cfg.schedule, ema=cfg.sampler.use_ema)
    training = torch.from_numpy(np.load(paths.train_images)["images"])
    noise_seed = seed_of(cfg.fid.seed, "fid_noise")
    images = generate(
        model,
        cfg.schedule,
        n,
        cfg.sampler,
        seed=noise_seed,
        device=device,
        mean_image=training.mean(0),
        progress=Bar(f"sampling {n} images"),
    )
    artifacts.write(paths.reports, artifacts.FID_SAMPLES, {"images": images}, size=cfg.model.image_size)
    extractor = inception.FeatureExtractor(device=device, batch_size=cfg.fid.batch_size, runtime=cfg.fid.runtime)
    stats = fid.statistics(extractor.features(images, Bar(f"Inception features of {n} generated samples", unit="batch")))
    reference = fid.load_statistics(paths.reference_stats)
    floor = dict(np.load(paths.floor_stats))
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
        "mean_pixel_training": float(data.to_uint8(training).mean()),
        "inception": extractor.provenance,
        "inception_runtime": extractor.runtime,
        "sampler": asdict(cfg.sampler),
        "noise_seed": noise_seed,
    }


if __name__ == "__main__":
    main()
