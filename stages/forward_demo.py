"""Task 4: the forward process of eq. (27) on one training image, t = 0, 100, ..., 500."""

import numpy as np
import torch
from _common import stage

from ddpm_lab import forward_demo, io, plots
from ddpm_lab.schedule import NoiseSchedule


@stage("forward_demo")
def main(params, out):
    s = params["schedule"]
    schedule = NoiseSchedule.linear(s["alpha_start"], s["alpha_end"], s["steps"])
    x0 = torch.from_numpy(np.load("data/mnist/train.npz")["images"][:1])
    timesteps = params["forward_demo"]["timesteps"]
    noisy = forward_demo.noisy_versions(schedule, x0, timesteps, params["seed"])
    images = {f"t{t}": noisy[t][0, 0].numpy().astype(np.float32) for t in timesteps}
    io.write_npz(out / "noisy.npz", x0=x0[0, 0].numpy(), **images)
    roots = [schedule.alpha_bars[t].sqrt().item() for t in timesteps]
    io.save_figure(plots.forward_process(list(images.values()), timesteps, roots), out / "forward.png")
    for t in timesteps:
        if t > 0:
            io.save_figure(plots.single_image(images[f"t{t}"], f"$x_{{{t}}}$"), out / f"t{t}.png")
    final = max(timesteps)
    return {
        "steps": schedule.steps,
        "alpha_bar_T": schedule.alpha_bars[-1].item(),
        "sqrt_alpha_bar_T": schedule.alpha_bars[-1].sqrt().item(),
        "t": final,
        "measured": forward_demo.noise_statistics(noisy[final], x0),
        "theoretical": forward_demo.theoretical_statistics(schedule, final, x0),
    }


if __name__ == "__main__":
    main()
