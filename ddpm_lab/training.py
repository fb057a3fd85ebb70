"""Training ε̂(x_t, t, w) with the noise-prediction loss (Task 6), resumable and guarded against divergence.

Each step draws a batch x_0, timesteps t uniform on {1, …, T} and noise ε_0 ~ N(0, I), forms x_t by
eq. (27) and minimizes the batch loss of eq. (38), ‖ε̂(x_t, t, w) − ε_0‖², averaged over the batch and
the pixels (a constant factor of eq. 38, absorbed by the learning rate). The lab's sum starts at t = 2
(eq. 36); t = 1 is included here because the sampler evaluates ε̂ at t = 1 for its last step.

The whole training set lives on the compute device (3000 images are 12 MB): no DataLoader. All
randomness comes from one generator whose state is checkpointed, so a resumed run continues exactly
where the interrupted one stopped.
"""

from __future__ import annotations

import copy
import hashlib
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Iterable

import torch
from torch import nn

from ddpm_lab import io
from ddpm_lab.errors import TrainingDiverged
from ddpm_lab.schedule import NoiseSchedule, q_sample


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 200
    batch_size: int = 64
    learning_rate: float = 2e-3
    warmup_steps: int = 100
    ema_decay: float = 0.999
    grad_clip: float = 1.0
    checkpoint_every: int = 10
    seed: int = 0


@dataclass
class TrainState:
    model: nn.Module
    ema: nn.Module
    optimizer: torch.optim.Optimizer
    generator: torch.Generator
    epoch: int = 0
    step: int = 0
    history: list[float] = field(default_factory=list)
    resumed_from: int = 0  # the epoch a resumed run started at

    def to_dict(self, identity: dict) -> dict:
        return {
            "identity": identity,
            "model": self.model.state_dict(),
            "ema": self.ema.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "generator": self.generator.get_state(),
            "epoch": self.epoch,
            "step": self.step,
            "history": list(self.history),
        }


def run_identity(model: nn.Module, schedule: NoiseSchedule, images: torch.Tensor, config: TrainConfig) -> dict:
    """What a checkpoint must share with a run to resume it: every setting but the epoch count, the
    model's architecture, the schedule and the training images themselves."""
    settings = asdict(config)
    settings.pop("epochs")
    shapes = {name: list(p.shape) for name, p in model.state_dict().items()}
    digest = hashlib.sha1(images.detach().cpu().contiguous().numpy().tobytes())
    digest.update(schedule.alpha_bars.numpy().tobytes())
    return {"settings": settings, "parameter_shapes": shapes, "data_and_schedule_sha1": digest.hexdigest()}


def new_state(model: nn.Module, config: TrainConfig) -> TrainState:
    optimizer = torch.optim.Adam(model.parameters(), lr=config.learning_rate)
    ema = copy.deepcopy(model).requires_grad_(False)
    return TrainState(model, ema, optimizer, torch.Generator().manual_seed(config.seed))


def load_state(state: TrainState, path: Path, identity: dict, epochs: int) -> bool:
    """Restore ``state`` from ``path`` if it holds a checkpoint of the same run; return whether it did."""
    if not path.exists():
        return False
    saved = torch.load(path, map_location="cpu", weights_only=True)
    if saved.get("identity") != identity or saved["epoch"] > epochs:
        return False
    state.model.load_state_dict(saved["model"])
    state.ema.load_state_dict(saved["ema"])
    state.optimizer.load_state_dict(saved["optimizer"])
    state.generator.set_state(saved["generator"])
    state.epoch, state.step, state.history = saved["epoch"], saved["step"], list(saved["history"])
    state.resumed_from = state.epoch
    return True


@torch.no_grad()
def update_ema(ema: nn.Module, model: nn.Module, decay: float) -> None:
    for e, p in zip(ema.parameters(), model.parameters()):
        e.lerp_(p, 1 - decay)
    for e, b in zip(ema.buffers(), model.buffers()):
        e.copy_(b)


def train(
    model: nn.Module,
    schedule: NoiseSchedule,
    images: torch.Tensor,
    config: TrainConfig,
    device: str | torch.device = "cpu",
    checkpoint: Path | None = None,
    progress: Callable[[Iterable], Iterable] | None = None,
    on_epoch: Callable[[int, float], None] | None = None,
) -> TrainState:
    """Train ``model`` in place for ``config.epochs`` epochs, resuming from ``checkpoint`` when it matches.

    Writes ``checkpoint`` atomically every ``config.checkpoint_every`` epochs and at the end. A NaN or
    infinite loss raises :class:`TrainingDiverged` at once, before anything of the broken state is saved.
    """
    device = torch.device(device)
    model.to(device)
    state = new_state(model, config)
    identity = run_identity(model, schedule, images, config)
    resumed = checkpoint is not None and load_state(state, checkpoint, identity, config.epochs)
    if resumed:
        print(f"resuming from {checkpoint} at epoch {state.epoch}")
    state.ema.to(device)
    data = images.to(device)
    n = len(data)
    steps_per_epoch = math.ceil(n / config.batch_size)
    epochs = range(state.epoch, config.epochs)
    for epoch in progress(epochs) if progress else epochs:
        model.train()
        order = torch.randperm(n, generator=state.generator)
        total = torch.zeros((), device=device)
        for i in range(steps_per_epoch):
            idx = order[i * config.batch_size : (i + 1) * config.batch_size]
            x0 = data[idx.to(device)]
            t = torch.randint(1, schedule.steps + 1, (len(idx),), generator=state.generator)
            noise = torch.randn(x0.shape, generator=state.generator).to(device)
            x_t = q_sample(schedule, x0, t, noise)  # eq. (27)
            loss = (model(x_t, t.to(device)) - noise).square().mean()  # eq. (38) / (B · pixels)
            if not torch.isfinite(loss):
                raise TrainingDiverged(
                    f"loss became {loss.item()} at epoch {epoch + 1}, step {i + 1}; last good checkpoint kept"
                )
            for group in state.optimizer.param_groups:
                group["lr"] = config.learning_rate * min(1.0, (state.step + 1) / max(1, config.warmup_steps))
            state.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
            state.optimizer.step()
            update_ema(state.ema, model, config.ema_decay)
            state.step += 1
            total += loss.detach() * len(idx)
        epoch_loss = (total / n).item()
        state.history.append(epoch_loss)
        state.epoch = epoch + 1
        if on_epoch:
            on_epoch(state.epoch, epoch_loss)
        if checkpoint is not None and (state.epoch % config.checkpoint_every == 0 or state.epoch == config.epochs):
            io.torch_save(checkpoint, state.to_dict(identity))
    return state

