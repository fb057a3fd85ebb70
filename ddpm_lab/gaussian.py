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
    """The empirical negative log-likelihood of the white normal of eq. (22), its constants dropped — Task 2:

        L(μ) = 1/(2N) Σ_n ‖x_n − μ‖²,   x: (N, n) samples, μ: (n,)

    returned as a 0-d tensor that autograd differentiates with respect to μ (torch operations only). Eq. (23)
    prints L with a minus sign in front: minimizing that would send μ to infinity; minimizing L as written here
    is the ERM of eq. (21)."""
    # BEGIN SOLUTION
    return 0.5 * (x - mu).square().sum(dim=1).mean()
    # END SOLUTION
    # STUB: raise NotImplementedError("Task 2: the NLL of the white normal, eq. (22)")


def fit_gndm(x: torch.Tensor, learning_rate: float, steps: int) -> tuple[torch.Tensor, list[float]]:
    """Solve eq. (23), sign corrected (minimize :func:`gndm_loss`), by plain gradient descent — Task 2.

    1. Start at μ = 0 (x's dtype, shape (n,)).
    2. ``steps`` times: μ ← μ − learning_rate · ∇L(μ), the gradient of :func:`gndm_loss` (by autograd; no
       momentum, no other optimizer).
    3. Return μ* (shape (n,), no gradient attached) and the ``steps`` losses, L(μ) at each step before its update.
    """
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
