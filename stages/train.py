"""Task 6: train the time-conditional U-Net with the noise-prediction loss of eq. (38).

Resumable: a checkpoint of the whole training state is written every `train.checkpoint_every` epochs
(--resume), and a rerun with the same settings continues from it.
"""

import time

import numpy as np
import torch

from ddpm_lab import artifacts, io, plots
from ddpm_lab.config import Device
from ddpm_lab.progress import Bar
from ddpm_lab.schedule import NoiseSchedule
from ddpm_lab.streams import seed_of
from ddpm_lab.training import TrainConfig, train
from ddpm_lab.unet import UNet, UNetConfig, count_parameters
from stages._common import stage


@stage(
    "train",
    configs={"schedule": NoiseSchedule.linear, "model": UNetConfig, "train": TrainConfig, "device": Device},
    inputs=["train_images"],
    outputs=["model", "resume"],
)
def main(cfg, paths):
    torch.manual_seed(seed_of(cfg.train.seed, "training"))
    device = cfg.device.torch
    model = UNet(cfg.model, cfg.schedule)
    images = torch.from_numpy(np.load(paths.train_images)["images"])
    bar = Bar(f"training on {device}", unit="epoch")
    start = time.perf_counter()
    state = train(
        model,
        cfg.schedule,
        images,
        cfg.train,
        device,
        checkpoint=paths.resume,
        on_epoch=lambda epoch, loss: bar(epoch, cfg.train.epochs, loss=f"{loss:.4f}"),
    )
    seconds = time.perf_counter() - start
    io.torch_save(paths.model, {"model": state.model.cpu().state_dict(), "ema": state.ema.cpu().state_dict()})
    epochs = range(1, len(state.history) + 1)
    artifacts.write(paths.reports, artifacts.LOSS, {"epoch": epochs, "loss": state.history})
    artifacts.write(paths.reports, artifacts.LOSS_FIGURE, plots.loss_curve(state.history))
    tenth = max(1, len(state.history) // 10)
    return {
        "epochs": len(state.history),
        "final_loss": state.history[-1],
        "first_tenth_loss": float(np.mean(state.history[:tenth])),
        "last_tenth_loss": float(np.mean(state.history[-tenth:])),
        "parameters": count_parameters(model),
        "device": str(device),
        "train_seconds": round(seconds, 2),
        "resumed_from_epoch": state.resumed_from,
        "images_per_second": round((len(state.history) - state.resumed_from) * len(images) / seconds, 1),
    }


if __name__ == "__main__":
    main()
