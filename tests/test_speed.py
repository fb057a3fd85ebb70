"""ddpm_lab/speed.py: each speed lever's path runs, gives the fp32 eager result to its own precision, and bf16 falls
back to fp32 where the CPU lacks native bf16 (AVX2-only machines keep today's path)."""

import pytest
import torch

from ddpm_lab.errors import ConfigError
from ddpm_lab.schedule import NoiseSchedule
from ddpm_lab.speed import Levers, cpu_flags, native_bf16, prepare
from ddpm_lab.unet import UNet
from tests import lab

AVX2_ONLY = frozenset({"fma", "avx", "avx2"})
WITH_AMX = AVX2_ONLY | {"amx_bf16", "amx_tile"}
CPU = torch.device("cpu")


def tiny_unet() -> UNet:
    torch.manual_seed(0)
    model = UNet(lab.unet(image_size=8, base_channels=8, channel_mults=(1, 2)), NoiseSchedule.linear(0.9999, 0.98, 50))
    with torch.no_grad():  # the last layer starts at zero: make the output depend on every layer
        model.conv_out.weight.normal_(0, 0.1)
    return model.eval()


def inputs():
    g = torch.Generator().manual_seed(1)
    return torch.randn(4, 1, 8, 8, generator=g), torch.tensor([1, 10, 25, 50])


@pytest.mark.parametrize(
    "flags, native", [(AVX2_ONLY, False), (WITH_AMX, True), (AVX2_ONLY | {"avx512_bf16"}, True), (frozenset(), False)]
)
def test_native_bf16_is_read_from_the_cpu_flags(flags, native):
    assert native_bf16(flags) is native


def test_cpu_flags_reads_the_first_flags_line_and_nothing_where_there_is_no_file(tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nflags\t\t: fpu avx2 amx_bf16\nprocessor\t: 1\nflags\t\t: fpu\n")
    assert cpu_flags(str(cpuinfo)) == {"fpu", "avx2", "amx_bf16"}
    assert cpu_flags(str(tmp_path / "none")) == frozenset()


def test_bf16_asked_on_a_cpu_without_native_bf16_keeps_fp32_exactly_and_says_so():
    x, t = inputs()
    plain = prepare(tiny_unet(), Levers(channels_last=False), CPU, flags=AVX2_ONLY)
    asked = prepare(tiny_unet(), Levers(channels_last=False, bf16=True), CPU, flags=AVX2_ONLY)
    assert not asked.bf16 and "no native bf16" in asked.notes[0]
    with torch.no_grad():
        assert torch.equal(asked(x, t), plain(x, t))


def test_bf16_where_native_runs_the_forward_pass_in_bf16_to_its_precision():
    x, t = inputs()
    plain = prepare(tiny_unet(), Levers(channels_last=False), CPU, flags=AVX2_ONLY)
    fast = prepare(tiny_unet(), Levers(channels_last=False, bf16=True), CPU, flags=WITH_AMX)
    assert fast.bf16 and not fast.notes
    with torch.no_grad():
        want, got = plain(x, t), fast(x, t)
    assert got.dtype == torch.float32 and not torch.equal(got, want)  # it did run in bf16 (emulated here if need be)
    assert (got - want).abs().max() <= 0.05 * want.abs().max()  # bf16's 8-bit mantissa, through a dozen layers


def test_channels_last_and_threads_give_the_fp32_result_to_rounding():
    x, t = inputs()
    threads = torch.get_num_threads()
    try:
        plain = prepare(tiny_unet(), Levers(channels_last=False), CPU)
        nhwc = prepare(tiny_unet(), Levers(channels_last=True, threads=1), CPU)
        assert torch.get_num_threads() == 1
        with torch.no_grad():
            torch.testing.assert_close(nhwc(x, t), plain(x, t), rtol=1e-5, atol=1e-6)
    finally:
        torch.set_num_threads(threads)


def test_levers_are_checked_like_every_setting():
    with pytest.raises(ConfigError, match="threads"):
        Levers(threads=-1)


@pytest.mark.slow
def test_compiled_unet_trains_and_samples_as_eager_does():
    """torch.compile (inductor) of the U-Net: forward and backward match eager to rounding (compiles: a minute)."""
    x, t = inputs()
    eager_model, compiled_model = tiny_unet().train(), tiny_unet().train()
    eager = prepare(eager_model, Levers(channels_last=False), CPU)
    compiled = prepare(compiled_model, Levers(channels_last=False, compile=True), CPU)
    loss_eager, loss_compiled = eager(x, t).square().mean(), compiled(x, t).square().mean()
    loss_eager.backward()
    loss_compiled.backward()
    torch.testing.assert_close(loss_compiled, loss_eager, rtol=1e-4, atol=1e-6)
    grad = dict(compiled_model.named_parameters())["conv_in.weight"].grad
    torch.testing.assert_close(grad, dict(eager_model.named_parameters())["conv_in.weight"].grad, rtol=1e-3, atol=1e-5)
    with torch.no_grad():
        torch.testing.assert_close(compiled(x, t), eager(x, t), rtol=1e-4, atol=1e-5)
