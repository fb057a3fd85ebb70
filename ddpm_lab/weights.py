"""The hand-in's weights: the U-Net that drew a run's samples, as safetensors (tensors and a JSON header, no pickle).

The file holds the state dict of the weights the sampler used (the EMA unless ``sampler.use_ema`` is off) and, in
the header's metadata, the :class:`~ddpm_lab.unet.UNetConfig` that builds the network around them. Whoever reads
it (the grader) needs nothing else of the run to draw its samples again (:func:`ddpm_lab.sampler.sample`).
"""

from __future__ import annotations

import json
import struct
from dataclasses import MISSING, asdict

import torch
from safetensors.torch import load as load_tensors
from safetensors.torch import save as save_tensors

from ddpm_lab.unet import UNet, UNetConfig

FORMAT = "ddpm_lab.unet"


def to_bytes(model: UNet, which: str) -> bytes:
    """The safetensors bytes of ``model``'s weights; ``which`` says which they are ("ema" or "raw")."""
    tensors = {name: tensor.detach().float().cpu().contiguous() for name, tensor in model.state_dict().items()}
    # one metadata entry, its JSON key-sorted: safetensors writes several entries in no fixed order, and the same
    # weights must give the same bytes (a rerun of the stage changes nothing)
    described = json.dumps({"weights": which, "unet_config": asdict(model.config)}, sort_keys=True)
    return save_tensors(tensors, metadata={FORMAT: described})


def header(data: bytes, limit: int = 10_000_000) -> dict:
    """The JSON header of safetensors bytes (tensor names, dtypes, shapes and ``__metadata__``), read without
    touching the tensors: 8 bytes of little-endian length, then the JSON."""
    if len(data) < 8:
        raise ValueError("too short to be a safetensors file")
    (size,) = struct.unpack("<Q", data[:8])
    if size > min(limit, len(data) - 8):
        raise ValueError(f"a header of {size} bytes in a file of {len(data)}")
    found = json.loads(data[8 : 8 + size])
    if not isinstance(found, dict):
        raise ValueError("its header is not a JSON object")
    return found


def config_of(found: dict) -> UNetConfig:
    """The U-Net configuration in a safetensors :func:`header`, validated by :class:`UNetConfig` itself."""
    metadata = found.get("__metadata__") or {}
    if not isinstance(metadata, dict) or FORMAT not in metadata:
        raise ValueError(f"no {FORMAT!r} entry in its metadata")
    described = json.loads(metadata[FORMAT])
    fields = described.get("unet_config") if isinstance(described, dict) else None
    if not isinstance(fields, dict):
        raise ValueError("no unet_config in its metadata")
    known = UNetConfig.__dataclass_fields__
    if set(fields) - set(known):
        raise ValueError(f"unknown U-Net settings {sorted(set(fields) - set(known))}")
    missing = [name for name, f in known.items() if name not in fields and f.default is MISSING]
    if missing:
        raise ValueError(f"U-Net settings missing from its metadata: {missing}")
    lists = {k: tuple(v) for k, v in fields.items() if isinstance(v, list)}
    return UNetConfig(**(fields | lists))


def from_bytes(data: bytes, schedule) -> UNet:
    """The U-Net of safetensors bytes, in eval mode and frozen. The network is laid out on the meta device first,
    so a configuration whose tensors do not match the file's is refused before any memory is spent on it."""
    found = header(data)
    config = config_of(found)
    declared = {name: spec.get("shape") for name, spec in found.items() if name != "__metadata__"}
    with torch.device("meta"):
        expected = {name: list(t.shape) for name, t in UNet(config, schedule).state_dict().items()}
    if declared != expected:
        missing, extra = sorted(set(expected) - set(declared)), sorted(set(declared) - set(expected))
        wrong = sorted(n for n in set(expected) & set(declared) if expected[n] != declared[n])
        raise ValueError(
            f"its tensors do not fit the U-Net it declares: {len(missing)} missing, {len(extra)} unknown, "
            f"{len(wrong)} of another shape" + (f" (first: {(missing + extra + wrong)[0]})" if missing + extra + wrong else "")
        )
    model = UNet(config, schedule)
    model.load_state_dict(load_tensors(data))
    return model.eval().requires_grad_(False)
