"""A small time-conditional U-Net ε̂(x_t, t, w) for 32×32 single-channel images (Task 6).

Shaped for a 2-core CPU (about a million parameters at the pipeline's settings): residual blocks with GroupNorm and
a sinusoidal time embedding, self-attention in the middle block at the coarsest resolution (8×8 = 64 tokens, where
it is cheap) and wherever ``attention_levels`` adds it, and skip connections concatenated on the way up. With
``patch_size`` p > 1 the levels run on p×p patches folded into channels (pixel_unshuffle), so most of the work
happens at 16×16 and 8×8; ``full_res_channels`` adds a narrow path at full resolution around the folded U-Net: a
stem (a convolution, and a residual block unless ``full_res_stem_block`` is off) before the folding and a residual
block after the unfolding, joined by a skip connection, where the fine strokes of a digit are drawn.

Whatever its last layer predicts, the U-Net returns ε̂: with ``prediction="v"`` the layer predicts
v = √ᾱ_t ε − √(1 − ᾱ_t) x_0 (Salimans & Ho, 2022) and :meth:`UNet.forward` turns it into
ε̂ = √ᾱ_t v̂ + √(1 − ᾱ_t) x_t (eq. 27 solved with v), so the training loss and the sampler stay those of the lab.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

from ddpm_lab.rules import Rules
from ddpm_lab.schedule import NoiseSchedule


@dataclass(frozen=True, kw_only=True)
class UNetConfig:
    """The U-Net's shape. No field has a default but ``channels`` (MNIST's one): the lab's values are
    params.yaml's ``model`` section (and ``data.image_size``), built by ``ddpm_lab.config``."""

    image_size: int
    channels: int = 1
    base_channels: int
    channel_mults: tuple[int, ...]
    attention: bool  # self-attention in the middle block (the coarsest level)
    attention_levels: tuple[int, ...]  # and after each residual block of these levels (0: the finest)
    blocks_per_level: int  # residual blocks per level, on the way down and on the way up
    dropout: float  # inside each residual block, between its two convolutions
    prediction: str  # what the last layer predicts: "eps" (ε, the lab's) or "v"; forward() returns ε̂
    groups: int
    patch_size: int  # >1: fold p×p pixel patches into channels first (pixel_unshuffle), unfold at the end
    full_res_channels: int  # >0 (with patch_size > 1): a residual block of this width at full resolution
    # before the patches are folded and another after they are unfolded, joined by a skip connection
    full_res_groups: int  # GroupNorm groups at full resolution (groups == channels: each channel alone)
    full_res_stem_block: bool  # False: before the folding only the stem convolution, no residual block

    def __post_init__(self) -> None:
        rules = Rules(self)
        for name in ("image_size", "channels", "base_channels", "groups", "patch_size", "blocks_per_level"):
            rules.integer(name, low=1)
        rules.integer("full_res_channels", low=0)
        rules.integer("full_res_groups", low=1)
        rules.flag("full_res_stem_block")
        rules.integers("channel_mults", low=1)
        rules.flag("attention")
        rules.integers("attention_levels", low=0, empty=True)
        rules.number("dropout", low=0, high=1, high_open=True)
        rules.choice("prediction", ("eps", "v"))
        if rules.ok("attention_levels", "channel_mults"):
            rules.that(
                "attention_levels",
                all(level < len(self.channel_mults) for level in self.attention_levels),
                f"levels are numbered 0 to {len(self.channel_mults) - 1} (one per channel_mults entry); "
                f"got {list(self.attention_levels)}",
            )
        if rules.ok("image_size", "patch_size", "channel_mults"):
            levels = len(self.channel_mults)
            unit = self.patch_size * 2 ** (levels - 1)
            rules.that(
                "image_size",
                self.image_size % unit == 0,
                f"the U-Net cuts it into {self.patch_size}-pixel patches (patch_size) and halves it {levels - 1} "
                f"times (channel_mults), so it must be a multiple of {unit}; got {self.image_size}",
            )
        if rules.ok("base_channels", "channel_mults", "groups"):
            rules.that(
                "base_channels",
                all(width % self.groups == 0 for width in self.widths),
                f"every level's width (base_channels × channel_mults) must be a multiple of {self.groups} "
                f"(GroupNorm groups); got {self.widths}",
            )
        if rules.ok("full_res_channels", "patch_size", "full_res_groups") and self.full_res_channels:
            rules.that(
                "full_res_channels",
                self.patch_size > 1,
                "a full-resolution block needs patches to fold (patch_size > 1); with patch_size 1 set it to 0",
            )
            rules.that(
                "full_res_channels",
                self.full_res_channels % self.full_res_groups == 0,
                f"must be a multiple of full_res_groups ({self.full_res_groups}, its GroupNorm groups); "
                f"got {self.full_res_channels}",
            )
        rules.raise_problems()

    @property
    def widths(self) -> list[int]:
        return [self.base_channels * m for m in self.channel_mults]


def timestep_embedding(t: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    """Sinusoidal embedding of integer timesteps, as in "Attention Is All You Need"."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, device=t.device, dtype=torch.float32) / half)
    angles = t.float()[:, None] * freqs[None]
    return torch.cat([angles.sin(), angles.cos()], dim=1)


class ResidualBlock(nn.Module):
    def __init__(self, in_ch: int, out_ch: int, emb_dim: int, groups: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.norm1 = nn.GroupNorm(groups, in_ch)
        self.conv1 = nn.Conv2d(in_ch, out_ch, 3, padding=1)
        self.emb = nn.Linear(emb_dim, out_ch)
        self.norm2 = nn.GroupNorm(groups, out_ch)
        self.dropout = nn.Dropout(dropout) if dropout else nn.Identity()
        self.conv2 = nn.Conv2d(out_ch, out_ch, 3, padding=1)
        nn.init.zeros_(self.conv2.weight)
        nn.init.zeros_(self.conv2.bias)
        self.skip = nn.Conv2d(in_ch, out_ch, 1) if in_ch != out_ch else nn.Identity()

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        h = h + self.emb(emb)[:, :, None, None]
        h = self.conv2(self.dropout(F.silu(self.norm2(h))))
        return self.skip(x) + h


class SelfAttention(nn.Module):
    def __init__(self, ch: int, groups: int, heads: int = 4) -> None:
        super().__init__()
        self.heads = heads
        self.norm = nn.GroupNorm(groups, ch)
        self.qkv = nn.Conv2d(ch, 3 * ch, 1)
        self.out = nn.Conv2d(ch, ch, 1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        q, k, v = self.qkv(self.norm(x)).reshape(b, 3, self.heads, c // self.heads, h * w).transpose(-1, -2).unbind(1)
        y = F.scaled_dot_product_attention(q, k, v)  # (b, heads, hw, c/heads)
        return x + self.out(y.transpose(-1, -2).reshape(b, c, h, w))


class Level(nn.Module):
    """The residual blocks of one level of the U-Net, each followed by self-attention where asked."""

    def __init__(self, in_ch: int, out_ch: int, config: UNetConfig, emb_dim: int, attention: bool) -> None:
        super().__init__()
        n, g = config.blocks_per_level, config.groups
        self.blocks = nn.ModuleList(
            ResidualBlock(in_ch if i == 0 else out_ch, out_ch, emb_dim, g, config.dropout) for i in range(n)
        )
        self.attention = nn.ModuleList(SelfAttention(out_ch, g) if attention else nn.Identity() for _ in range(n))

    def forward(self, h: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        for block, attention in zip(self.blocks, self.attention):
            h = attention(block(h, emb))
        return h


class UNet(nn.Module):
    """ε̂(x_t, t): input (B, C, H, W) and integer timesteps (B,), output the predicted noise, same shape.

    A v-predicting U-Net needs the noise ``schedule`` to turn v̂ into ε̂ (kept as buffers outside its state dict).
    """

    def __init__(self, config: UNetConfig, schedule: NoiseSchedule | None = None) -> None:
        super().__init__()
        self.config = config
        if config.prediction == "v":
            if schedule is None:
                raise ValueError("a U-Net that predicts v needs the noise schedule to return ε̂")
            self.register_buffer("sqrt_alpha_bars", schedule.alpha_bars.sqrt().float(), persistent=False)
            self.register_buffer("sqrt_one_minus_alpha_bars", (1 - schedule.alpha_bars).sqrt().float(), persistent=False)
        widths = config.widths
        emb_dim = 4 * config.base_channels
        g = config.groups
        self.time_mlp = nn.Sequential(nn.Linear(config.base_channels, emb_dim), nn.SiLU(), nn.Linear(emb_dim, emb_dim))
        p, full = config.patch_size, config.full_res_channels
        if full:  # full resolution: a stem before the folding and a head after the unfolding (see forward)
            fg = config.full_res_groups
            self.stem_conv = nn.Conv2d(config.channels, full, 3, padding=1)
            self.stem_block = ResidualBlock(full, full, emb_dim, fg, config.dropout) if config.full_res_stem_block else None
            self.head_block = ResidualBlock(2 * full, full, emb_dim, fg, config.dropout)
        folded = (full or config.channels) * p**2
        self.conv_in = nn.Conv2d(folded, widths[0], 3, padding=1)

        self.down = nn.ModuleList()
        self.downsample = nn.ModuleList()
        ch = widths[0]
        attends = set(config.attention_levels)
        for level, width in enumerate(widths):
            self.down.append(Level(ch, width, config, emb_dim, level in attends))
            ch = width
            last = level == len(widths) - 1
            self.downsample.append(nn.Identity() if last else nn.Conv2d(ch, ch, 3, stride=2, padding=1))

        self.mid1 = ResidualBlock(ch, ch, emb_dim, g, config.dropout)
        self.mid_attn = SelfAttention(ch, g) if config.attention else nn.Identity()
        self.mid2 = ResidualBlock(ch, ch, emb_dim, g, config.dropout)

        self.up = nn.ModuleList()
        self.upsample = nn.ModuleList()
        for level in reversed(range(len(widths))):
            width = widths[level]
            self.up.append(Level(ch + width, width, config, emb_dim, level in attends))
            ch = width
            self.upsample.append(
                nn.Identity()
                if level == 0
                else nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(ch, widths[level - 1], 3, padding=1))
            )
            if level > 0:
                ch = widths[level - 1]
        if full:
            self.unfold_conv = nn.Conv2d(ch, folded, 3, padding=1)  # back to full resolution by pixel_shuffle
            ch, g = full, config.full_res_groups
        self.norm_out = nn.GroupNorm(g, ch)
        self.conv_out = nn.Conv2d(ch, config.channels * (1 if full else p**2), 3, padding=1)
        nn.init.zeros_(self.conv_out.weight)
        nn.init.zeros_(self.conv_out.bias)
        # NHWC weights: every conv then runs in oneDNN's / cuDNN's preferred layout. Same numbers up to
        # rounding (tests/test_unet.py); on the 2-core CPU +10 % training and +15–30 % sampling throughput.
        self.to(memory_format=torch.channels_last)

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        emb = self.time_mlp(timestep_embedding(t, self.config.base_channels))
        p, full = self.config.patch_size, self.config.full_res_channels
        stem = self.stem_conv(x) if full else x
        stem = self.stem_block(stem, emb) if full and self.stem_block is not None else stem
        h = self.conv_in(F.pixel_unshuffle(stem, p) if p > 1 else stem)
        skips = []
        for block, down in zip(self.down, self.downsample):
            h = block(h, emb)
            skips.append(h)
            h = down(h)
        h = self.mid2(self.mid_attn(self.mid1(h, emb)), emb)
        for block, up in zip(self.up, self.upsample):
            h = block(torch.cat([h, skips.pop()], dim=1), emb)
            h = up(h)
        if full:  # unfold to full resolution, join the stem's features, one more block there
            h = self.head_block(torch.cat([F.pixel_shuffle(self.unfold_conv(h), p), stem], dim=1), emb)
        out = self.conv_out(F.silu(self.norm_out(h)))
        out = F.pixel_shuffle(out, p) if p > 1 and not full else out
        if self.config.prediction == "v":  # ε̂ = √ᾱ_t v̂ + √(1 − ᾱ_t) x_t
            shape = (-1, 1, 1, 1)
            return self.sqrt_alpha_bars[t].view(shape) * out.float() + self.sqrt_one_minus_alpha_bars[t].view(shape) * x
        return out


def mixed_precision(device: torch.device) -> torch.autocast:
    """The U-Net's forward pass in bf16 on a GPU (tensor cores; the weights, their gradients and the loss stay
    fp32), plain fp32 on a CPU: a no-op there, so CPU results do not change."""
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda")


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def load_trained(path: str | Path, config: UNetConfig, schedule: NoiseSchedule, ema: bool = True) -> UNet:
    """The U-Net saved by the training stage (``{"model": ..., "ema": ...}`` state dicts), loaded with
    ``weights_only=True``, in eval mode and frozen: the EMA weights, or the raw ones with ``ema=False``."""
    saved = torch.load(path, map_location="cpu", weights_only=True)
    model = UNet(config, schedule)
    model.load_state_dict(saved["ema" if ema else "model"])
    return model.eval().requires_grad_(False)
