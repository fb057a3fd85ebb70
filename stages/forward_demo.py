"""Task 4: the forward process of eq. (27) on one training image, t = 0, 100, ..., 500."""

import numpy as np
import torch

from ddpm_lab import artifacts, forward_demo, plots
from ddpm_lab.config import ForwardDemo
from ddpm_lab.schedule import NoiseSchedule
from ddpm_lab.streams import seed_of
from stages._common import stage


@stage("forward_demo", configs={"schedule": NoiseSchedule.linear, "forward_demo": ForwardDemo}, inputs=["train_images"])
def main(cfg, paths):
    schedule, timesteps = cfg.schedule, list(cfg.forward_demo.timesteps)
    x0 = torch.from_numpy(np.load(paths.train_images)["images"][:1])
    noisy = forward_demo.noisy_versions(schedule, x0, timesteps, seed_of(cfg.forward_demo.seed, "forward_noise"))
    images = {f"t{t}": noisy[t][0, 0].numpy().astype(np.float32) for t in timesteps}
    artifacts.write(paths.reports, artifacts.FORWARD, {"x0": x0[0, 0].numpy(), **images})
    roots = [schedule.alpha_bars[t].sqrt().item() for t in timesteps]
    artifacts.write(paths.reports, artifacts.FORWARD_FIGURE, plots.forward_process(list(images.values()), timesteps, roots))
    for t in timesteps:
        if t > 0:
            artifacts.write(paths.reports, artifacts.FORWARD_FRAME.at(t=t), plots.single_image(images[f"t{t}"], f"$x_{{{t}}}$"))
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
