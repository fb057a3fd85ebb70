"""Task 7, once: Inception statistics of the MNIST test images that every FID here is measured against.

Written into the grader's own folder, committed (`cache: false`), so a fresh clone never recomputes them and
grading needs neither DVC nor this stage's cache: μ in float64 and the upper triangle of Σ in
``fid.reference_dtype``. What the smaller file costs is measured here, on the full-precision statistics
still in memory: the Fréchet distance between the two, and the FID of the first 2000 test images against each.
"""

import numpy as np
from _common import stage
from tqdm import tqdm

from ddpm_lab import fid, io

SHIPPED = "grader/references/mnist_test_inception.npz"


@stage("fid_reference")
def main(params, out):
    p = params["fid"]
    extractor = fid.FeatureExtractor(batch_size=p["batch_size"])
    images = np.load("data/mnist/reference.npz")["images"][: p["n_reference"]]
    features = extractor.features(images, lambda it: tqdm(it, desc=f"Inception features of {len(images)} test images", unit="batch"))
    stats = fid.statistics(features)
    io.write_npz(SHIPPED, **fid.compact(stats, p["reference_dtype"]))
    stored = fid.load_statistics(SHIPPED)
    part = fid.statistics(features[: min(2000, len(features) - 1)])
    return {
        "n_reference": int(stats["n"]),
        "file": SHIPPED,
        "sha256": io.file_digest(SHIPPED, "sha256"),
        "sigma_dtype": p["reference_dtype"],
        "sigma_max_abs_rounding": float(np.abs(stored["sigma"] - stats["sigma"]).max()),
        "fid_full_vs_stored": fid.frechet_distance(stats, stored),
        "fid_of_first_2000_vs_full": fid.frechet_distance(part, stats),
        "fid_of_first_2000_vs_stored": fid.frechet_distance(part, stored),
        "inception": extractor.provenance,
    }


if __name__ == "__main__":
    main()
