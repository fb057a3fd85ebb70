"""The CPU's speed levers for the U-Net, each one switchable, and what this CPU has of them.

- ``channels_last``: NHWC weights and activations, oneDNN's preferred layout (the U-Net's default).
- ``compile``: ``torch.compile`` (inductor) of the U-Net's forward pass; its compiled kernels are cached by torch
  (``TORCHINDUCTOR_CACHE_DIR``), so a rerun pays less of the compile time.
- ``bf16``: the forward pass under bf16 autocast, taken only where the CPU computes bf16 natively (AVX-512 BF16 or
  AMX, read from ``/proc/cpuinfo``). Elsewhere bf16 is emulated and slower than fp32, so the request falls back to
  fp32 and says so (:attr:`Prepared.notes`). A lever for training only: the pipeline's sampler stays in fp32,
  since the grader draws samples again in fp32 (:func:`ddpm_lab.sampler.full_precision`).
- ``threads``: torch's intra-op threads (0: torch's default, one per core).

:func:`prepare` returns the model as a function ``(x, t) -> ε̂`` with the levers applied, and what was applied.
``scripts/benchmark.py --levers`` times each lever alone and together against plain fp32 eager (docs/benchmark.md).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import torch
from torch import nn

from ddpm_lab.rules import Checked

NATIVE_BF16_FLAGS = ("avx512_bf16", "amx_bf16")  # /proc/cpuinfo's names of the instructions that compute in bf16


@cache
def cpu_flags(cpuinfo: str = "/proc/cpuinfo") -> frozenset[str]:
    """The first CPU's feature flags (empty where the file does not exist, as on macOS)."""
    path = Path(cpuinfo)
    if not path.exists():
        return frozenset()
    for line in path.read_text().splitlines():
        if line.startswith("flags"):
            return frozenset(line.split(":", 1)[1].split())
    return frozenset()


def native_bf16(flags: frozenset[str] | None = None) -> bool:
    flags = cpu_flags() if flags is None else flags
    return any(flag in flags for flag in NATIVE_BF16_FLAGS)


@dataclass(frozen=True)
class Levers(Checked):
    channels_last: bool = True
    compile: bool = False
    bf16: bool = False
    threads: int = 0
    RULES = {
        "channels_last": ("flag", {}),
        "compile": ("flag", {}),
        "bf16": ("flag", {}),
        "threads": ("integer", {"low": 0}),
    }


@dataclass
class Prepared:
    model_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    bf16: bool  # whether the forward pass runs under bf16 autocast
    notes: list[str] = field(default_factory=list)  # each lever asked for and not taken, with why

    def __call__(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return self.model_fn(x, t)


def prepare(model: nn.Module, levers: Levers, device: torch.device, flags: frozenset[str] | None = None) -> Prepared:
    """``model`` (moved to ``device``, in place) with ``levers`` applied. bf16 is taken on a GPU, and on a CPU only
    where it is native (``flags``: this CPU's by default); ``threads`` sets torch's threads for the process."""
    notes = []
    if levers.threads:
        torch.set_num_threads(levers.threads)
    memory_format = torch.channels_last if levers.channels_last else torch.contiguous_format
    model.to(device=device, memory_format=memory_format)
    bf16 = levers.bf16 and (device.type == "cuda" or native_bf16(flags))
    if levers.bf16 and not bf16:
        notes.append("bf16: this CPU has no native bf16 (AVX-512 BF16 or AMX), fp32 kept")
    forward = torch.compile(model) if levers.compile else model

    def model_fn(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        x = x.contiguous(memory_format=memory_format)
        with autocast(device, bf16):
            return forward(x, t).float()

    return Prepared(model_fn, bf16, notes)


def autocast(device: torch.device, bf16: bool):
    """bf16 autocast on ``device`` when ``bf16``; otherwise nothing."""
    return torch.autocast(device.type, dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()
