"""Task 7, once: Inception statistics of the MNIST test images that every FID here is measured against.

Written into the grader's own folder, committed (`cache: false`), so a fresh clone never recomputes them and
grading needs neither DVC nor this stage's cache: μ in float64 and the upper triangle of Σ in
``fid.reference_dtype``. What the smaller file costs is measured here, on the full-precision statistics
still in memory: the Fréchet distance between the two, and the FID of the first 2000 test images against each.
"""

import numpy as np

from ddpm_lab import fid, inception, io
from ddpm_lab.config import Device, FidReference
from ddpm_lab.progress import Bar
from stages._common import stage


@stage(
    "fid_reference",
    configs={"fid_reference": FidReference, "device": Device},
    inputs=["reference_images"],
    outputs=["reference_stats"],
)
def main(cfg, paths):
    extractor = inception.FeatureExtractor(
        device=cfg.device.torch, batch_size=cfg.fid_reference.batch_size, runtime=cfg.fid_reference.runtime
    )
    images = np.load(paths.reference_images)["images"][: cfg.fid_reference.n_reference]
    features = extractor.features(images, Bar(f"Inception features of {len(images)} test images", unit="batch"))
    stats = fid.statistics(features)
    io.write_npz(paths.reference_stats, **fid.compact(stats, cfg.fid_reference.reference_dtype))
    stored = fid.load_statistics(paths.reference_stats)
    part = fid.statistics(features[: min(2000, len(features) - 1)])
    return {
        "n_reference": int(stats["n"]),
        "file": str(paths.reference_stats),
        "sha256": io.file_digest(paths.reference_stats, "sha256"),
        "sigma_dtype": cfg.fid_reference.reference_dtype,
        "sigma_max_abs_rounding": float(np.abs(stored["sigma"] - stats["sigma"]).max()),
        "fid_full_vs_stored": fid.frechet_distance(stats, stored),
        "fid_of_first_2000_vs_full": fid.frechet_distance(part, stats),
        "fid_of_first_2000_vs_stored": fid.frechet_distance(part, stored),
        "inception": extractor.provenance,
        "inception_runtime": extractor.runtime,
    }


if __name__ == "__main__":
    main()
