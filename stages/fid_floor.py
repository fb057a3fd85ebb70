"""Task 7's yardstick: the FID of real MNIST training images outside the 3000-image subset against the
same reference, the best a generator can score at that sample size."""

import numpy as np
from _common import stage

from ddpm_lab import fid, io


@stage("fid_floor")
def main(params, out):
    p = params["fid"]
    extractor = fid.FeatureExtractor(batch_size=p["batch_size"])
    images = np.load("data/mnist/floor.npz")["images"][: p["n_floor"]]
    stats = fid.statistics_of(images, extractor, "real training images")
    io.write_npz("data/fid/floor_stats.npz", **stats)
    reference = fid.load_statistics("grader/references/mnist_test_inception.npz")
    return {"floor_fid": fid.frechet_distance(stats, reference), "n_floor": int(stats["n"]), "n_reference": int(reference["n"])}


if __name__ == "__main__":
    main()
