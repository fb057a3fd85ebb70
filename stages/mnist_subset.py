"""Task 3: a class-balanced MNIST subset at 32x32 in [-1, 1], and the images FID compares against."""

from ddpm_lab import artifacts, data, io, plots
from ddpm_lab.config import Mnist
from stages._common import stage


@stage(
    "mnist_subset",
    configs={"mnist": Mnist, "subset": data.SubsetConfig},
    outputs=["train_images", "reference_images", "floor_images"],
)
def main(cfg, paths):
    folder = data.fetch_mnist(cfg.mnist.mnist_dir)
    sets = data.prepare(folder, cfg.subset)
    io.write_npz(paths.train_images, images=sets["train"], labels=sets["labels"], indices=sets["indices"])
    io.write_npz(paths.reference_images, images=sets["reference"])
    io.write_npz(paths.floor_images, images=sets["floor"])
    subset = {"images": sets["train_uint8"], "labels": sets["labels"]}
    artifacts.write(paths.reports, artifacts.SUBSET, subset, size=cfg.subset.image_size)
    every_nth = sets["train_uint8"][:: max(1, len(sets["train_uint8"]) // 100)][:100]
    artifacts.write(paths.reports, artifacts.SUBSET_PREVIEW, plots.digit_grid(every_nth, "Training subset (every n-th image)"))
    return {
        "n_images": int(len(sets["train"])),
        "class_counts": {str(d): int((sets["labels"] == d).sum()) for d in range(10)},
        "image_size": list(sets["train"].shape[2:]),
        "value_range": [-1.0, 1.0],
        "min": float(sets["train"].min()),
        "max": float(sets["train"].max()),
        "mean_pixel_uint8": float(sets["train_uint8"].mean()),
        "n_reference": int(len(sets["reference"])),
        "n_floor": int(len(sets["floor"])),
    }


if __name__ == "__main__":
    main()
