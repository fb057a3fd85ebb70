"""Task 6: train the time-conditional U-Net with the noise-prediction loss of eq. (38).

Resumable: a checkpoint of the whole training state is written every `train.checkpoint_every` epochs to
data/resume/, and a rerun with the same settings continues from it.
"""

import time
from pathlib import Path

import numpy as np
import torch
from _common import stage
from tqdm import tqdm

from ddpm_lab import config, io, plots
from ddpm_lab.training import train
from ddpm_lab.unet import UNet, count_parameters


@stage("train")
def main(params, out):
    torch.manual_seed(params["seed"])
    cfg = config.train_config(params)
    device = config.device(params)
    model = UNet(config.unet_config(params))
    images = torch.from_numpy(np.load("data/mnist/train.npz")["images"])
    bar = tqdm(total=cfg.epochs, desc=f"training on {device}", unit="epoch")

    def on_epoch(epoch, loss):
        bar.n = epoch
        bar.set_postfix(loss=f"{loss:.4f}")
        bar.refresh()

    start = time.perf_counter()
    state = train(model, config.schedule(params), images, cfg, device, checkpoint=Path("data/resume/train_state.pt"), on_epoch=on_epoch)
    seconds = time.perf_counter() - start
    bar.close()
    io.torch_save("data/model/model.pt", {"model": state.model.cpu().state_dict(), "ema": state.ema.cpu().state_dict()})
    io.write_text(out / "loss.csv", "epoch,loss\n" + "".join(f"{i},{loss!r}\n" for i, loss in enumerate(state.history, 1)))
    io.save_figure(plots.loss_curve(state.history), out / "loss.png")
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
