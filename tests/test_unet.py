import pytest
import torch

from ddpm_lab.unet import UNet, UNetConfig, count_parameters


@pytest.mark.parametrize("config", [UNetConfig(), UNetConfig(patch_size=2, channel_mults=(1, 2)), UNetConfig(base_channels=16, channel_mults=(1, 2, 2), attention=False)])
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
    with pytest.raises(ValueError, match="cannot be cut"):
        UNetConfig(image_size=30, channel_mults=(1, 2, 2))
    with pytest.raises(ValueError, match="multiple of groups"):
        UNetConfig(base_channels=12)
