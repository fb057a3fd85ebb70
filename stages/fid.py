"""Task 7: FID (clean-fid, mode "clean") of n_generated samples against the MNIST test-set statistics."""

import numpy as np
import torch
from _common import stage
from tqdm import tqdm

from ddpm_lab import config, data, fid, io


@stage("fid")
def main(params, out):
    p = params["fid"]
    device = config.device(params)
    images = config.generate(params, p["n_generated"], seed=params["seed"] + 3, progress=lambda it: tqdm(
        it, desc=f"sampling {p['n_generated']} images", unit="step", miniters=50))
    io.write_npz(out / "samples.npz", images=images)
    extractor = fid.FeatureExtractor(device=device, batch_size=p["batch_size"])
    stats = fid.statistics_of(images, extractor, "generated samples")
    reference = fid.load_statistics("grader/references/mnist_test_inception.npz")
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
        "mean_pixel_training": float(data.to_uint8(torch.from_numpy(np.load("data/mnist/train.npz")["images"])).mean()),
        "inception": extractor.provenance,
    }


if __name__ == "__main__":
    main()
