import pytest
import torch

from ddpm_lab.errors import ConfigError
from ddpm_lab.sampler import Trajectory, backward_step, full_precision, respaced, sample, step, step_noise, variant_step
from ddpm_lab.schedule import NoiseSchedule
from tests import lab


def oracle(schedule: NoiseSchedule, target: torch.Tensor):
    """The exact ε̂ for a dataset of one image: ε = (x_t − √ᾱ_t x*) / √(1 − ᾱ_t)."""

    def eps(x, t):
        ab = schedule.alpha_bars[t].to(x.dtype).reshape(-1, 1, 1, 1)
        return (x - ab.sqrt() * target) / (1 - ab).sqrt()

    return eps


def test_sampler_recovers_the_single_training_image_with_the_exact_noise_predictor():
    s = NoiseSchedule.linear(0.9999, 0.98, 500)
    target = torch.linspace(-1, 1, 16).reshape(1, 1, 4, 4)
    out = sample(oracle(s, target), s, 8, (1, 4, 4), lab.sampler(batch_size=8), seed=0)
    assert out.shape == (8, 1, 4, 4)
    assert torch.allclose(out, target.expand_as(out), atol=1e-3)


@pytest.mark.parametrize("eta", [0.0, 0.5, 1.5])
def test_the_sampler_at_other_noise_scales_also_recovers_the_training_image(eta):
    s = NoiseSchedule.linear(0.9999, 0.98, 500)
    target = torch.linspace(-1, 1, 16).reshape(1, 1, 4, 4)
    out = sample(oracle(s, target), s, 8, (1, 4, 4), lab.sampler(steps=50, eta=eta, batch_size=8), seed=0)
    assert torch.allclose(out, target.expand_as(out), atol=1e-3)


def test_step_noise_makes_the_labs_step_ddims_step_computed_from_alpha_bar_alone():
    s, _ = respaced(NoiseSchedule.linear(0.9999, 0.98, 500), 50)
    g = torch.Generator().manual_seed(0)
    x_t, eps, z = (torch.randn(3, 1, 4, 4, generator=g) for _ in range(3))
    for eta in (0.0, 0.4, 1.0, 1.3, 50.0):
        for t in (2, 25, 50):
            ab, ab_prev = s.alpha_bars[t].double(), s.alpha_bars[t - 1].double()
            var = (1 - ab_prev) / (1 - ab) * (1 - ab / ab_prev)  # sigma_q^2 of eq. (28)
            sigma2 = min(eta**2 * var, 1 - ab_prev)  # capped where no predicted noise is left
            x0 = (x_t - (1 - ab).sqrt() * eps) / ab.sqrt()
            ddim = ab_prev.sqrt() * x0 + (1 - ab_prev - sigma2).sqrt() * eps + sigma2.sqrt() * z
            got = backward_step(s, x_t, eps, t, step_noise(s, eps, t, eta, z))
            assert torch.allclose(got.double(), ddim.double(), atol=1e-4), (eta, t)
            if eta == 50.0:  # at the cap: x_0's estimate re-noised with fresh noise alone
                assert torch.allclose(got.double(), (ab_prev.sqrt() * x0 + (1 - ab_prev).sqrt() * z).double(), atol=1e-4)
    assert torch.allclose(step_noise(s, eps, 25, 1.0, z), z)  # eta 1: the lab's fresh noise


def test_eta_zero_adds_no_fresh_noise_after_x_T():
    s = NoiseSchedule.linear(0.9999, 0.98, 100)
    model = lambda x, t: 0.1 * x  # noqa: E731
    starts = []
    out = sample(
        model,
        s,
        4,
        (1, 3, 3),
        lab.sampler(eta=0.0, batch_size=4),
        seed=3,
        observe=lambda t, x: starts.append(x) if t == 100 else None,
    )
    x = starts[0]  # the same x_T, then the deterministic steps by hand
    for t in range(100, 0, -1):
        ab, ab_prev = s.alpha_bars[t], s.alpha_bars[t - 1]
        eps = model(x, t)
        x = ab_prev.sqrt() * (x - (1 - ab).sqrt() * eps) / ab.sqrt() + (1 - ab_prev).sqrt() * eps
    assert torch.allclose(out, x, atol=1e-4)
    literal = sample(model, s, 4, (1, 3, 3), lab.sampler(batch_size=4), seed=3)
    assert not torch.allclose(out, literal, atol=1e-2)


def test_eta_is_checked_with_the_variance_it_needs():
    with pytest.raises(ConfigError, match="eta"):
        lab.sampler(eta=-0.5)
    with pytest.raises(ConfigError, match="posterior"):
        lab.sampler(eta=0.5, variance="beta")
    assert lab.sampler(eta=1.0, variance="beta").eta == 1.0


def test_clipping_x0_changes_nothing_when_the_prediction_is_in_range():
    s = NoiseSchedule.linear(0.9999, 0.98, 100)
    target = torch.full((1, 1, 2, 2), 0.5)
    plain = sample(oracle(s, target), s, 4, (1, 2, 2), lab.sampler(batch_size=4), seed=5)
    clipped = sample(oracle(s, target), s, 4, (1, 2, 2), lab.sampler(batch_size=4, clip_x0=True), seed=5)
    assert torch.allclose(plain, clipped, atol=1e-5)


def test_same_seed_same_samples_other_seed_other_samples_and_batching_does_not_matter():
    s = NoiseSchedule.linear(0.9999, 0.98, 50)
    model = lambda x, t: 0.1 * x  # noqa: E731
    a = sample(model, s, 6, (1, 3, 3), lab.sampler(batch_size=6), seed=1)
    b = sample(model, s, 6, (1, 3, 3), lab.sampler(batch_size=6), seed=1)
    c = sample(model, s, 6, (1, 3, 3), lab.sampler(batch_size=6), seed=2)
    assert torch.equal(a, b)
    assert not torch.allclose(a, c)


def test_respacing_with_all_steps_is_the_schedule_itself_and_keeps_alpha_bar():
    s = NoiseSchedule.linear(0.9999, 0.98, 500)
    same, taus = respaced(s, 500)
    assert same is s and taus[-1] == 500
    sub, taus = respaced(s, 50)
    assert sub.steps == 50 and taus[0] == 0 and taus[-1] == 500
    assert torch.allclose(sub.alpha_bars, s.alpha_bars[taus])


def test_spacing_power_crowds_the_steps_near_zero_and_one_is_the_even_spacing():
    s = NoiseSchedule.linear(0.9999, 0.98, 500)
    sub, taus = respaced(s, 100, 2.0)  # DDIM's "quadratic": 500 (i/100)^2, at least one apart
    gaps = taus.diff()
    assert sub.steps == 100 and taus[0] == 0 and taus[-1] == 500 and (gaps >= 1).all()
    assert taus[:21].tolist() == list(range(21)) and gaps[-1] == 10
    assert torch.allclose(sub.alpha_bars, s.alpha_bars[taus])
    assert respaced(s, 100, 1.5)[1][:6].tolist() == [0, 1, 2, 3, 4, 6]
    assert respaced(s, 100)[1].tolist() == list(range(0, 501, 5))
    for power in (1.0, 1.5, 3.0):
        for steps in (1, 2, 7, 250, 499):  # T reached, never passed, whatever the count
            _, taus = respaced(s, steps, power)
            assert len(taus) == steps + 1 and taus[-1] == 500 and (taus.diff() >= 1).all()
    assert respaced(s, 500, 2.0)[0] is s
    seen = []  # the sampler visits exactly these timesteps, from T down
    config = lab.sampler(steps=7, spacing_power=2)
    sample(lambda x, t: 0 * x, s, 1, (1, 2, 2), config, observe=lambda t, x: seen.append(t))
    assert seen == respaced(s, 7, 2)[1].flip(0).tolist() == [500, 367, 255, 163, 92, 41, 10, 0]
    with pytest.raises(ValueError, match="power"):
        respaced(s, 100, 0.5)
    with pytest.raises(ConfigError, match="spacing_power"):
        lab.sampler(spacing_power=0.5)


@pytest.mark.parametrize("power", [1.0, 1.5])
def test_respaced_sampler_also_recovers_the_training_image(power):
    s = NoiseSchedule.linear(0.9999, 0.98, 500)
    target = torch.linspace(-1, 1, 4).reshape(1, 1, 2, 2)
    config = lab.sampler(steps=25, spacing_power=power, batch_size=4)
    out = sample(oracle(s, target), s, 4, (1, 2, 2), config, seed=0)
    assert torch.allclose(out, target.expand_as(out), atol=1e-3)


def test_forward_marginal_start_needs_and_uses_the_mean_image():
    s = NoiseSchedule.linear(0.9999, 0.98, 10)
    config = lab.sampler(start="forward_marginal", batch_size=2)
    try:
        sample(lambda x, t: 0 * x, s, 2, (1, 2, 2), config, seed=0)
    except ValueError as err:
        assert "mean training image" in str(err)
    else:
        raise AssertionError("forward_marginal without a mean image must be refused")


def test_backward_step_is_eq_33_with_the_mean_of_eq_35_and_the_variance_of_eq_28():
    s = NoiseSchedule.linear(0.9999, 0.98, 50)
    g = torch.Generator().manual_seed(0)
    x_t, eps, z = (torch.randn((3, 1, 2, 2), generator=g, dtype=torch.float64) for _ in range(3))
    t = 20
    a, ab, ab_prev = s.alphas[t], s.alpha_bars[t], s.alpha_bars[t - 1]
    mean = (x_t - (1 - a) / (1 - ab).sqrt() * eps) / a.sqrt()  # eq. (35)
    sigma_q = ((1 - ab_prev) / (1 - ab) * (1 - a)).sqrt()  # eq. (28)
    torch.testing.assert_close(backward_step(s, x_t, eps, t, z), mean + sigma_q * z)
    torch.testing.assert_close(
        backward_step(s, x_t, eps, 1, None), (x_t - (1 - s.alphas[1]) / (1 - s.alpha_bars[1]).sqrt() * eps) / s.alphas[1].sqrt()
    )
    # the pipeline's own options live outside the lab's step; at the lab's settings `step` is the lab's step
    torch.testing.assert_close(step(s, x_t, eps, t, lab.sampler(), z), backward_step(s, x_t, eps, t, z))
    beta = lab.sampler(variance="beta")
    torch.testing.assert_close(step(s, x_t, eps, t, beta, z), mean + (1 - a).sqrt() * z)
    assert not torch.allclose(variant_step(s, x_t, eps, t, lab.sampler(clip_x0=True), z), mean + sigma_q * z)  # clipped


def test_progress_reports_every_step_of_every_batch_once():
    s = NoiseSchedule.linear(0.9999, 0.98, 50)
    calls = []
    sample(lambda x, t: 0 * x, s, 5, (1, 2, 2), lab.sampler(steps=10, batch_size=2), progress=lambda d, n: calls.append((d, n)))
    assert calls == [(d, 30) for d in range(1, 31)]  # 3 batches × 10 steps


def test_the_trajectory_holds_x_T_then_each_visited_step_down_to_the_returned_samples():
    s = NoiseSchedule.linear(0.9999, 0.98, 500)
    target = torch.linspace(-1, 1, 16).reshape(1, 1, 4, 4)
    config = lab.sampler(steps=7, batch_size=3)  # 7 steps of about 71.4: 400 and 100 are not visited
    seen = []
    out = sample(oracle(s, target), s, 5, (1, 4, 4), config, seed=0, observe=lambda t, x: seen.append((t, x.clone())))
    _, taus = respaced(s, 7)
    first_batch = [t for t, _ in seen[:8]]
    assert first_batch == taus.flip(0).tolist() and len(seen) == 2 * 8  # x_T, then after each step, per batch
    assert torch.equal(seen[7][1], out[:3]) and torch.equal(seen[-1][1], out[3:])
    trajectory = Trajectory(s, config, [500, 400, 100, 0], n=2)
    for t, x in seen:
        trajectory(t, x)
    nearest = [int(taus[(taus - t).abs().argmin()]) for t in (500, 400, 100, 0)]
    assert trajectory.times == nearest and 400 not in nearest and 100 not in nearest
    assert torch.equal(torch.from_numpy(trajectory.kept[0]), out[:2, 0])  # the first batch's first two samples
    assert trajectory.kept[500].std() > 0.5 and abs(trajectory.kept[0] - target[0, 0].numpy()).max() < 1e-3


def test_each_sample_has_its_own_noise_stream_so_any_can_be_drawn_again_alone():
    s = NoiseSchedule.linear(0.9999, 0.98, 50)
    model = lambda x, t: 0.1 * x  # noqa: E731 - elementwise: no rounding differs between batch shapes
    config = lab.sampler(steps=20, batch_size=4, start="forward_marginal")
    mean = torch.full((1, 3, 3), -0.5)
    every = sample(model, s, 10, (1, 3, 3), config, seed=7, mean_image=mean)
    alone = sample(
        model,
        s,
        3,
        (1, 3, 3),
        lab.sampler(steps=20, batch_size=1, start="forward_marginal"),
        seed=7,
        mean_image=mean,
        indices=[9, 0, 4],
    )
    assert torch.equal(alone, every[[9, 0, 4]])
    other_stream = sample(model, s, 1, (1, 3, 3), config, seed=8, mean_image=mean, indices=[0])
    assert not torch.allclose(other_stream[0], every[0])
    with pytest.raises(ValueError, match="2 indices for 3 samples"):
        sample(model, s, 3, (1, 3, 3), config, seed=7, mean_image=mean, indices=[0, 1])


def test_sampling_runs_in_full_precision_on_a_gpu_and_leaves_the_settings_as_they_were():
    before = torch.backends.cudnn.allow_tf32, torch.backends.cudnn.benchmark
    with full_precision(torch.device("cuda")):  # the flags alone: no GPU needed to set them
        assert not torch.backends.cudnn.allow_tf32 and not torch.is_autocast_enabled("cuda")
        assert torch.backends.cudnn.benchmark == before[1]
    assert (torch.backends.cudnn.allow_tf32, torch.backends.cudnn.benchmark) == before
    with full_precision(torch.device("cpu")):
        assert torch.backends.cudnn.allow_tf32 == before[0]


def test_the_sampler_calls_the_unet_without_gradients_and_outside_autocast():
    s = NoiseSchedule.linear(0.9999, 0.98, 20)
    calls = []

    def model(x, t):
        calls.append((torch.is_grad_enabled(), torch.is_autocast_enabled("cpu")))
        return torch.zeros_like(x)

    sample(model, s, 2, (1, 2, 2), lab.sampler(steps=5, batch_size=2), seed=0)
    assert calls == [(False, False)] * 5
