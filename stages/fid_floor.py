"""Task 7's yardstick: the FID of real MNIST training images outside the 3000-image subset against the
same reference, the best a generator can score at that sample size."""

import numpy as np

from ddpm_lab import fid, inception, io
from ddpm_lab.config import Device, FidFloor
from ddpm_lab.progress import Bar
from stages._common import stage


@stage(
    "fid_floor",
    configs={"fid_floor": FidFloor, "device": Device},
    inputs=["floor_images", "reference_stats"],
    outputs=["floor_stats"],
)
def main(cfg, paths):
    extractor = inception.FeatureExtractor(
        device=cfg.device.torch, batch_size=cfg.fid_floor.batch_size, runtime=cfg.fid_floor.runtime
    )
    images = np.load(paths.floor_images)["images"][: cfg.fid_floor.n_floor]
    stats = fid.statistics(
        extractor.features(images, Bar(f"Inception features of {len(images)} real training images", unit="batch"))
    )
    io.write_npz(paths.floor_stats, **stats)
    reference = fid.load_statistics(paths.reference_stats)
    return {
        "floor_fid": fid.frechet_distance(stats, reference),
        "n_floor": int(stats["n"]),
        "n_reference": int(reference["n"]),
        "inception_runtime": extractor.runtime,
    }


if __name__ == "__main__":
    main()
