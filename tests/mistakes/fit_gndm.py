"""Task 2, ddpm_lab.gaussian.fit_gndm: gradient descent on the NLL, eq. (23)."""

import torch

from ddpm_lab.gaussian import gndm_loss

TARGET, TASK = "ddpm_lab.gaussian.fit_gndm", 2


def minimizes_minus_the_loss(x, learning_rate, steps):
    """Eq. (23) as printed, argmin of −1/(2N) Σ‖x − μ‖²: gradient ascent on the NLL, μ runs off to infinity."""
    mu = torch.zeros(x.shape[1], dtype=x.dtype, requires_grad=True)
    optimizer = torch.optim.SGD([mu], lr=learning_rate)
    history = []
    for _ in range(steps):
        optimizer.zero_grad()
        loss = -gndm_loss(x, mu)
        loss.backward()
        optimizer.step()
        history.append(loss.item())
    return mu.detach(), history


def gradients_never_zeroed(x, learning_rate, steps):
    """optimizer.zero_grad() forgotten: each step follows the sum of every gradient so far."""
    mu = torch.zeros(x.shape[1], dtype=x.dtype, requires_grad=True)
    optimizer = torch.optim.SGD([mu], lr=learning_rate)
    history = []
    for _ in range(steps):
        loss = gndm_loss(x, mu)
        loss.backward()
        optimizer.step()
        history.append(loss.item())
    return mu.detach(), history


def adam_instead(x, learning_rate, steps):
    """Adam where the task asks for gradient descent: at step 0.5 it circles the minimum for many steps."""
    mu = torch.zeros(x.shape[1], dtype=x.dtype, requires_grad=True)
    optimizer = torch.optim.Adam([mu], lr=learning_rate)
    history = []
    for _ in range(steps):
        optimizer.zero_grad()
        loss = gndm_loss(x, mu)
        loss.backward()
        optimizer.step()
        history.append(loss.item())
    return mu.detach(), history


def update_by_hand_with_the_wrong_sign(x, learning_rate, steps):
    """The update written out by hand, μ ← μ + η ∇L: a sign slip."""
    mu = torch.zeros(x.shape[1], dtype=x.dtype, requires_grad=True)
    history = []
    for _ in range(steps):
        loss = gndm_loss(x, mu)
        (gradient,) = torch.autograd.grad(loss, mu)
        with torch.no_grad():
            mu += learning_rate * gradient
        history.append(loss.item())
    return mu.detach(), history


def returned_with_its_graph(x, learning_rate, steps):
    """Right steps, but μ* handed back still requiring grad: the stage's plots call .numpy() on it."""
    mu = torch.zeros(x.shape[1], dtype=x.dtype, requires_grad=True)
    optimizer = torch.optim.SGD([mu], lr=learning_rate)
    history = []
    for _ in range(steps):
        optimizer.zero_grad()
        loss = gndm_loss(x, mu)
        loss.backward()
        optimizer.step()
        history.append(loss.item())
    return mu, history
