"""Task 7, once: Inception statistics of the MNIST test images that every FID here is measured against.

Its own cached output, so retraining never recomputes it.
"""

import numpy as np
from _common import stage

from ddpm_lab import fid, io


@stage("fid_reference")
def main(params, out):
    p = params["fid"]
    extractor = fid.FeatureExtractor(batch_size=p["batch_size"])
    images = np.load("data/mnist/reference.npz")["images"][: p["n_reference"]]
    stats = fid.statistics_of(images, extractor, "test images")
    io.write_npz("data/fid/reference_stats.npz", **stats)
    return {"n_reference": int(stats["n"]), "inception": extractor.provenance}


if __name__ == "__main__":
    main()
