import math

import torch

from ddpm_lab.schedule import (
    NoiseSchedule,
    forward_step,
    posterior_mean_from_noise,
    posterior_mean_from_x0,
    predict_x0,
    q_sample,
)


def lab_schedule():
    return NoiseSchedule.linear(0.9999, 0.98, 500)


def test_linear_schedule_matches_task_4():
    s = lab_schedule()
    assert s.steps == 500
    assert s.alphas[0] == 1 and s.alpha_bars[0] == 1
    assert math.isclose(s.alphas[1].item(), 0.9999) and math.isclose(s.alphas[500].item(), 0.98)
    assert torch.all(s.alphas[2:] < s.alphas[1:-1])  # strictly decreasing
    assert torch.allclose(s.alpha_bars, torch.cumprod(s.alphas, 0))
    assert abs(s.alpha_bars[500].sqrt().item() - 0.0797) < 5e-4  # the lab's sqrt(alpha_bar_T) ≈ 0.080


def test_recursion_eq25_matches_closed_form_eq27_in_distribution():
    s = NoiseSchedule.linear(0.9999, 0.98, 60)
    g = torch.Generator().manual_seed(0)
    x0 = torch.tensor([0.7, -0.3, 0.0], dtype=torch.float64).expand(200_000, 3)
    x = x0.clone()
    for t in range(1, s.steps + 1):
        x = forward_step(s, x, t, torch.randn(x.shape, generator=g, dtype=torch.float64))
    jumped = q_sample(s, x0, torch.full((len(x0),), s.steps), torch.randn(x0.shape, generator=g, dtype=torch.float64))
    ab = s.alpha_bars[-1]
    for sample in (x, jumped):
        assert torch.allclose(sample.mean(0), ab.sqrt() * x0[0], atol=0.01)
        assert torch.allclose(sample.var(0), (1 - ab).expand(3), rtol=0.02)
    # and the two agree with each other beyond the first two moments
    assert abs((x - x0).pow(4).mean() - (jumped - x0).pow(4).mean()) < 0.05


def test_eq29_equals_eq30_when_x0_comes_from_the_noise():
    s = lab_schedule()
    g = torch.Generator().manual_seed(1)
    x0 = torch.rand((16, 1, 8, 8), generator=g, dtype=torch.float64) * 2 - 1
    eps = torch.randn(x0.shape, generator=g, dtype=torch.float64)
    t = torch.randint(2, 501, (16,), generator=g)
    x_t = q_sample(s, x0, t, eps)
    assert torch.allclose(posterior_mean_from_x0(s, x_t, x0, t), posterior_mean_from_noise(s, x_t, eps, t), atol=1e-9)
    assert torch.allclose(predict_x0(s, x_t, eps, t), x0, atol=1e-9)


def test_posterior_variance_formula():
    s = lab_schedule()
    var = s.posterior_variance
    t = 250
    expected = (1 - s.alpha_bars[t - 1]) / (1 - s.alpha_bars[t]) * (1 - s.alphas[t])
    assert torch.isclose(var[t], expected)
    assert var[1] == 0  # alpha_bar_0 = 1: no noise added at the last step
    assert torch.all(var[2:] > 0) and torch.all(var[2:] <= 1 - s.alphas[2:])
