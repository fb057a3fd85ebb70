"""Task 6 (end): 64 samples of the backward process of eq. (33) in an 8x8 grid."""

from _common import stage
from tqdm import tqdm

from ddpm_lab import config, io, plots


@stage("sample_grid")
def main(params, out):
    rows = params["sample_grid"]["n_rows"]
    images = config.generate(params, rows * rows, seed=params["seed"] + 2,
                             progress=lambda it: tqdm(it, desc=f"sampling {rows * rows} images", unit="step"))
    size = params["data"]["image_size"]
    io.write_npz(out / "samples.npz", images=images)
    s = params["sampler"]
    settings = (f"{'EMA' if s['use_ema'] else 'raw'} weights, x_T from {s['start'].replace('_', ' ')}, "
                f"{min(s['steps'], params['schedule']['steps'])} of {params['schedule']['steps']} steps, "
                f"{s['variance']} variance{', x_0 clipped' if s['clip_x0'] else ''}")
    title = f"{rows * rows} samples of the backward process, eq. (33)\n{settings}"
    io.save_figure(plots.digit_grid(images, title, n_rows=rows), out / "grid.png")
    return {"n_samples": int(len(images)), "n_rows": rows, "image_size": [size, size], "mean_pixel": float(images.mean())}


if __name__ == "__main__":
    main()
