import torch

from ddpm_lab import gaussian


def test_density_is_normalized_and_peaks_at_the_mean():
    mean, cov = torch.tensor([1.0, 2.0], dtype=torch.float64), torch.tensor([[1.0, 0.3], [0.3, 0.5]], dtype=torch.float64)
    xs = torch.linspace(-6, 8, 561, dtype=torch.float64)
    grid = torch.stack(torch.meshgrid(xs, xs, indexing="xy"), -1)
    p = gaussian.normal_density(grid, mean, cov)
    cell = (xs[1] - xs[0]) ** 2
    assert abs((p.sum() * cell).item() - 1) < 1e-3
    assert gaussian.normal_density(mean, mean, cov) > gaussian.normal_density(mean + 0.1, mean, cov)


def test_gndm_gradient_descent_reaches_the_sample_mean():
    data = gaussian.sample_normal(1000, torch.tensor([1.0, 2.0], dtype=torch.float64), seed=3)
    mu, history = gaussian.fit_gndm(data, learning_rate=0.5, steps=100)
    assert torch.allclose(mu, data.mean(0), atol=1e-10)
    assert history[0] > history[-1]
    assert (mu - torch.tensor([1.0, 2.0], dtype=torch.float64)).abs().max() < 4 / 1000**0.5
