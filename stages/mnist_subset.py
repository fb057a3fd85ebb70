"""Task 3: a class-balanced MNIST subset at 32x32 in [-1, 1], and the images FID compares against."""

from _common import stage

from ddpm_lab import data, io, plots


@stage("mnist_subset")
def main(params, out):
    p = params["data"]
    folder = data.fetch_mnist(p["mnist_dir"])
    sets = data.prepare(folder, p["n_train"], params["fid"]["n_reference"], params["fid"]["n_floor"], p["image_size"], params["seed"])
    io.write_npz("data/mnist/train.npz", images=sets["train"], labels=sets["labels"], indices=sets["indices"])
    io.write_npz("data/mnist/reference.npz", images=sets["reference"])
    io.write_npz("data/mnist/floor.npz", images=sets["floor"])
    io.write_npz(out / "subset.npz", images=sets["train_uint8"], labels=sets["labels"])
    io.save_figure(plots.digit_grid(sets["train_uint8"][:: max(1, len(sets["train_uint8"]) // 100)][:100], "Training subset (every n-th image)"), out / "preview.png")
    counts = {str(d): int((sets["labels"] == d).sum()) for d in range(10)}
    return {
        "n_images": int(len(sets["train"])),
        "class_counts": counts,
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
