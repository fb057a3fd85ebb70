"""Tasks 1 and 2: the multivariate normal density and the generative normal distribution model (GNDM)."""

from __future__ import annotations

import math

import torch


def normal_density(x: torch.Tensor, mean: torch.Tensor, cov: torch.Tensor) -> torch.Tensor:
    """p(x) = exp(−½ (x − μ)ᵀ C⁻¹ (x − μ)) / √((2π)ⁿ det C), eq. (5); x is (..., n)."""
    n = mean.numel()
    diff = x - mean
    mahalanobis = (diff @ torch.linalg.inv(cov) * diff).sum(-1)
    return torch.exp(-0.5 * mahalanobis) / math.sqrt((2 * math.pi) ** n * torch.linalg.det(cov).item())


def sample_normal(n: int, mean: torch.Tensor, seed: int) -> torch.Tensor:
    """n samples of N(mean, I)."""
    generator = torch.Generator().manual_seed(seed)
    return mean + torch.randn((n, mean.numel()), generator=generator, dtype=torch.float64)


def gndm_loss(x: torch.Tensor, mu: torch.Tensor) -> torch.Tensor:
    """The empirical negative log-likelihood of the white normal of eq. (22), constants dropped:
    1/(2N) Σ ‖x_n − μ‖². Eq. (23) prints it with a minus sign; minimizing this is the ERM of eq. (21)."""
    # BEGIN SOLUTION
    return 0.5 * (x - mu).square().sum(dim=1).mean()
    # END SOLUTION
    # STUB: raise NotImplementedError("Task 2: the NLL of the white normal, eq. (22)")


def fit_gndm(x: torch.Tensor, learning_rate: float, steps: int) -> tuple[torch.Tensor, list[float]]:
    """Solve eq. (23) (sign corrected) by gradient descent from μ = 0; return μ* and the loss per step."""
    # BEGIN SOLUTION
    mu = torch.zeros(x.shape[1], dtype=x.dtype, requires_grad=True)
    optimizer = torch.optim.SGD([mu], lr=learning_rate)
    history = []
    for _ in range(steps):
        optimizer.zero_grad()
        loss = gndm_loss(x, mu)
        loss.backward()
        optimizer.step()
        history.append(loss.item())
    return mu.detach(), history
    # END SOLUTION
    # STUB: raise NotImplementedError("Task 2: gradient descent on the NLL, eq. (23)")
