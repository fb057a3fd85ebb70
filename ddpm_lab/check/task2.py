"""Task 2: the NLL of the white normal, eq. (22), and its minimization by gradient descent, eq. (23)."""

from __future__ import annotations

import torch

from ddpm_lab.check import Check, Mismatch
from ddpm_lab.check.measure import named, to


def data(n: int, seed: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.tensor([1.0, 2.0], dtype=torch.float64) + torch.randn((n, 2), generator=generator, dtype=torch.float64)


def lab_loss(x: torch.Tensor, mu: torch.Tensor) -> float:
    """Eq. (22)'s NLL without its constants, 1/(2N) Σ_n ‖x_n − μ‖², written as ½ (Σ_j var_j(x) + ‖μ − x̄‖²): the
    spread of the data about its mean plus the distance of μ from that mean."""
    spread = float(x.var(0, unbiased=False).sum())
    return 0.5 * (spread + float(((mu - x.mean(0)) ** 2).sum()))


def check_loss() -> str:
    from ddpm_lab.gaussian import gndm_loss

    x = data(50, 0)
    n = len(x)
    for point in ([0.0, 0.0], [1.0, 2.0], [-0.5, 3.0]):
        mu = torch.tensor(point, dtype=torch.float64, requires_grad=True)
        got = gndm_loss(x, mu)
        expected = lab_loss(x, mu.detach())
        if not isinstance(got, torch.Tensor) or got.numel() != 1:
            raise Mismatch(f"returned {type(got).__name__}, expected a 0-d tensor (a number autograd can differentiate)")
        value = float(got.detach())
        if abs(value - expected) > 1e-9 * max(1.0, abs(expected)):
            ratio = value / expected
            norms = float((x - mu.detach()).norm(dim=1).mean() / 2)
            cause = named(
                ratio,
                {
                    "the minus sign of eq. (23) as printed: minimizing −L sends μ to infinity": -1.0,
                    "the ½ of eq. (22) dropped": 2.0,
                    "a sum over the N samples where eq. (23) averages (1/N)": float(n),
                    "a sum over the N samples without the ½": 2.0 * n,
                    "halved twice": 0.5,
                },
            ) or ("‖x_n − μ‖ not squared" if abs(value - norms) < 1e-9 * max(1.0, norms) else None)
            raise Mismatch(
                f"L(μ) at μ = {point} is {value:.6g}, the lab's 1/(2N) Σ‖x_n − μ‖² is {expected:.6g} ({ratio:.3g}×)"
                + (f": {cause}?" if cause else "")
            )
        if not got.requires_grad:
            raise Mismatch(f"L(μ) at μ = {point} is right but carries no gradient: compute it with torch operations on μ")
        (gradient,) = torch.autograd.grad(got, mu)
        expected_gradient = mu.detach() - x.mean(0)
        if not torch.allclose(gradient, expected_gradient, atol=1e-9):
            raise Mismatch(f"∇L at μ = {point} is {gradient.tolist()}, the lab's μ − mean(x) is {expected_gradient.tolist()}")
    return "1/(2N) Σ‖x_n − μ‖² and its gradient μ − mean(x) to 1e-9 at three values of μ"


def descent(x: torch.Tensor, rate: float, steps: int, accumulate: bool = False, sign: float = 1.0) -> torch.Tensor:
    """μ after ``steps`` steps from 0 on L, whose gradient is μ − x̄: in closed form, the error e = μ − x̄ and the
    sum S of the gradients so far evolving linearly, (e, S) ← M (e, S). Plain descent: e ← (1 − η) e; uphill:
    e ← (1 + η) e; with gradients never zeroed each step follows S: e ← (1 − η) e − η S, S ← S + e."""
    eta = sign * rate
    m = torch.tensor([[1 - eta, -eta], [1.0, 1.0]] if accumulate else [[1 - eta, 0.0], [0.0, 1.0]], dtype=torch.float64)
    mean = x.mean(0)
    state = torch.linalg.matrix_power(m, steps) @ torch.stack([-mean, torch.zeros_like(mean)])
    return mean + state[0]


def check_fit() -> str:
    from ddpm_lab.gaussian import fit_gndm, gndm_loss

    x = data(200, 1)
    mu, history = fit_gndm(x, 0.1, 5)
    if not isinstance(mu, torch.Tensor) or mu.shape != (2,):
        raise Mismatch(f"returned μ* of shape {getattr(mu, 'shape', type(mu).__name__)}, expected a tensor of shape (2,)")
    if mu.requires_grad:
        raise Mismatch("μ* still carries autograd's graph (the stage's plots would fail): return mu.detach()")
    expected, uphill = descent(x, 0.1, 5), descent(x, 0.1, 5, sign=-1)
    if not torch.allclose(mu.double(), expected, atol=1e-9):
        cause = next(
            (
                why
                for why, other in (
                    ("gradient ascent: eq. (23) as printed has a minus sign; minimize 1/(2N) Σ‖x_n − μ‖²", uphill),
                    ("gradients never zeroed between steps (optimizer.zero_grad())", descent(x, 0.1, 5, accumulate=True)),
                )
                if torch.allclose(mu.double(), other, atol=1e-6)
            ),
            "not plain gradient descent from μ = 0 with step size learning_rate: another optimizer, momentum or start",
        )
        try:
            loss_right = (
                abs(float(gndm_loss(x, torch.zeros(2, dtype=x.dtype))) - lab_loss(x, torch.zeros(2, dtype=x.dtype))) < 1e-9
            )
        except Exception:
            loss_right = False
        if not loss_right:
            cause = "gndm_loss is not right yet (its line says how), and fit_gndm descends it"
        raise Mismatch(
            f"after 5 steps of size 0.1 from μ = 0, μ = [{mu[0]:.6f}, {mu[1]:.6f}]; gradient descent on eq. (22)'s NLL "
            f"gives [{expected[0]:.6f}, {expected[1]:.6f}]: {cause}?"
        )
    losses = [lab_loss(x, descent(x, 0.1, k)) for k in range(6)]
    history = [float(v) for v in history]
    if len(history) != 5 or not (
        all(abs(a - b) < 1e-9 for a, b in zip(history, losses[:5])) or all(abs(a - b) < 1e-9 for a, b in zip(history, losses[1:]))
    ):
        raise Mismatch(
            f"returned {len(history)} losses starting {history[:2]}, expected the 5 losses L(μ) of the 5 steps, "
            f"starting {losses[:2]}"
        )
    x = data(1000, 2)
    mu, _ = fit_gndm(x, 0.5, 100)
    gap = float((mu.detach().double() - x.mean(0)).abs().max())
    if gap > 1e-6:
        raise Mismatch(
            f"at the lab's settings (1000 samples, step 0.5, 100 steps) μ* is {gap:.2g} from the sample mean, "
            "the minimizer; the grader allows 1e-6"
        )
    return f"gradient descent from 0, step by step; at the lab's settings μ* is the sample mean {to(gap)}"


def checks() -> list[Check]:
    return [Check(2, "eq. (22)", "gndm_loss", check_loss), Check(2, "eq. (23)", "fit_gndm", check_fit)]
