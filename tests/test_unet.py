import copy
import dataclasses

import pytest
import torch

from ddpm_lab.unet import UNet, count_parameters
from tests import lab


@pytest.mark.parametrize(
    "config",
    [
        lab.unet(),
        lab.unet(patch_size=2, channel_mults=(1, 2)),
        lab.unet(base_channels=16, channel_mults=(1, 2, 2), attention=False),
        lab.unet(patch_size=2, channel_mults=(1, 2), full_res_channels=16),
    ],
)
def test_shapes_and_time_conditioning(config):
    torch.manual_seed(0)
    model = UNet(config)
    # the zero-initialised output layers make a fresh net predict 0; perturb them so conditioning shows
    for p in model.parameters():
        p.data += 0.01 * torch.randn_like(p)
    x = torch.randn(3, 1, 32, 32)
    out1 = model(x, torch.tensor([1, 1, 1]))
    out2 = model(x, torch.tensor([400, 400, 400]))
    assert out1.shape == x.shape
    assert not torch.allclose(out1, out2)  # ε̂ depends on t
    assert count_parameters(model) < 5_000_000


def test_config_refuses_sizes_it_cannot_halve():
    with pytest.raises(ValueError, match="must be a multiple of 4; got 30"):
        lab.unet(image_size=30, channel_mults=(1, 2, 2))
    with pytest.raises(ValueError, match=r"multiple of 8 \(GroupNorm groups\); got \[12, 24, 24\]"):
        lab.unet(base_channels=12)


def test_full_resolution_blocks_are_trained_and_checked():
    """With ``full_res_channels`` the image passes a block at 32×32 before the 2×2 folding and another after the
    unfolding: both take part (their weights get gradients) and the output keeps the image's shape."""
    config = lab.unet(patch_size=2, channel_mults=(1, 2), full_res_channels=8)
    torch.manual_seed(0)
    model = UNet(config)
    for p in model.parameters():
        p.data += 0.01 * torch.randn_like(p)
    x = torch.randn(2, 1, 32, 32)
    out = model(x, torch.tensor([5, 250]))
    assert out.shape == x.shape
    out.square().mean().backward()
    for part in (model.stem_conv, model.stem_block, model.head_block, model.unfold_conv):
        assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in part.parameters())
    assert model.conv_in.in_channels == 8 * 4 and model.conv_out.in_channels == 8 and model.conv_out.out_channels == 1
    plain = UNet(dataclasses.replace(config, full_res_channels=0))
    assert not hasattr(plain, "stem_block") and plain.conv_out.out_channels == 4
    with pytest.raises(ValueError, match=r"full_res_channels: a full-resolution block needs patches to fold"):
        lab.unet(channel_mults=(1, 2), full_res_channels=16)
    with pytest.raises(ValueError, match=r"full_res_channels: must be a multiple of full_res_groups \(8, .*got 12"):
        lab.unet(patch_size=2, channel_mults=(1, 2), full_res_channels=12)


def test_full_resolution_options_change_only_what_they_name():
    """``full_res_groups`` sets the GroupNorm groups of the full-resolution blocks alone; with
    ``full_res_stem_block=False`` the stem is the convolution only and the block after the unfolding stays."""
    config = lab.unet(patch_size=2, channel_mults=(1, 2), full_res_channels=8, full_res_groups=2)
    model = UNet(config)
    assert {m.num_groups for m in (model.head_block.norm1, model.head_block.norm2, model.norm_out)} == {2}
    assert model.down[0].blocks[0].norm1.num_groups == 8 and model.stem_block.norm1.num_groups == 2
    lean = UNet(dataclasses.replace(config, full_res_stem_block=False))
    assert lean.stem_block is None and isinstance(lean.head_block, torch.nn.Module)
    assert count_parameters(lean) == count_parameters(model) - count_parameters(model.stem_block)
    x = torch.randn(2, 1, 32, 32)
    for p in lean.parameters():
        p.data += 0.01 * torch.randn_like(p)
    out = lean(x, torch.tensor([5, 250]))
    out.square().mean().backward()
    assert out.shape == x.shape and lean.stem_conv.weight.grad.abs().sum() > 0
    with pytest.raises(ValueError, match=r"full_res_channels: must be a multiple of full_res_groups \(4, .*got 10"):
        lab.unet(patch_size=2, channel_mults=(1, 2), full_res_channels=10, full_res_groups=4)


def test_channels_last_layout_gives_the_plain_layouts_numbers():
    """The speed-up of keeping weights in NHWC changes no number beyond fp32 rounding: forward pass,
    gradients and a whole (respaced) run of the sampler of eq. (33) against a contiguous copy."""
    from ddpm_lab.sampler import sample
    from ddpm_lab.schedule import NoiseSchedule

    torch.manual_seed(0)
    fast = UNet(lab.unet(patch_size=2, channel_mults=(1, 2)))
    for p in fast.parameters():
        p.data += 0.05 * torch.randn_like(p)
    plain = copy.deepcopy(fast).to(memory_format=torch.contiguous_format)
    conv = fast.conv_in.weight
    assert conv.is_contiguous(memory_format=torch.channels_last) and not conv.is_contiguous()
    assert plain.conv_in.weight.is_contiguous()

    x, t = torch.randn(6, 1, 32, 32), torch.tensor([1, 50, 100, 200, 400, 500])
    out_fast, out_plain = fast(x, t), plain(x, t)
    torch.testing.assert_close(out_fast, out_plain, rtol=1e-4, atol=1e-5)
    out_fast.square().mean().backward()
    out_plain.square().mean().backward()
    for a, b in zip(fast.parameters(), plain.parameters()):
        torch.testing.assert_close(a.grad, b.grad, rtol=1e-3, atol=1e-6)

    schedule = NoiseSchedule.linear(0.9999, 0.98, 500)
    cfg = lab.sampler(steps=25, batch_size=4)
    with torch.no_grad():
        a = sample(fast.eval(), schedule, 8, (1, 32, 32), cfg, seed=3)
        b = sample(plain.eval(), schedule, 8, (1, 32, 32), cfg, seed=3)
    torch.testing.assert_close(a, b, rtol=1e-3, atol=1e-4)


def test_a_v_predicting_unet_returns_the_noise_its_v_implies():
    """ε̂ = √ᾱ_t v̂ + √(1 − ᾱ_t) x_t: the same weights read as a v-predictor give that combination of their output."""
    from ddpm_lab.schedule import NoiseSchedule

    schedule = NoiseSchedule.linear(0.9999, 0.98, 500)
    config = lab.unet(patch_size=2, channel_mults=(1, 2))
    torch.manual_seed(0)
    eps_net = UNet(config)
    for p in eps_net.parameters():
        p.data += 0.01 * torch.randn_like(p)
    v_net = UNet(dataclasses.replace(config, prediction="v"), schedule)
    assert v_net.load_state_dict(eps_net.state_dict()) is not None  # the schedule is no part of the weights
    x, t = torch.randn(4, 1, 32, 32), torch.tensor([1, 100, 300, 500])
    alpha_bar = schedule.alpha_bars[t].float().view(-1, 1, 1, 1)
    torch.testing.assert_close(v_net(x, t), alpha_bar.sqrt() * eps_net(x, t) + (1 - alpha_bar).sqrt() * x)
    with pytest.raises(ValueError, match="needs the noise schedule"):
        UNet(dataclasses.replace(config, prediction="v"))


def test_depth_attention_levels_and_dropout():
    base = lab.unet(patch_size=2, channel_mults=(1, 2))
    deeper = UNet(dataclasses.replace(base, blocks_per_level=2, attention_levels=(0, 1)))
    assert count_parameters(deeper) > count_parameters(UNet(base))
    assert (
        sum(isinstance(m, type(deeper.mid_attn)) for m in deeper.modules()) == 1 + 2 * 2 * 2
    )  # mid + 2 levels × 2 blocks × down/up
    x, t = torch.randn(2, 1, 32, 32), torch.tensor([3, 300])
    assert deeper(x, t).shape == x.shape
    dropped = UNet(dataclasses.replace(base, dropout=0.5))
    for p in dropped.parameters():
        p.data += 0.05 * torch.randn_like(p)
    assert not torch.equal(dropped.train()(x, t), dropped(x, t))  # dropout draws anew in training
    assert torch.equal(dropped.eval()(x, t), dropped(x, t))
    with pytest.raises(ValueError, match=r"levels are numbered 0 to 1 .*got \[2\]"):
        dataclasses.replace(base, attention_levels=(2,))
    with pytest.raises(ValueError, match="prediction"):
        dataclasses.replace(base, prediction="x0")
