"""Task 2: fit the mean of a white normal (GNDM, eq. 22) to samples of N([1, 2], I) by gradient descent."""

import torch

from ddpm_lab import artifacts, gaussian, plots
from ddpm_lab.config import Gndm
from ddpm_lab.streams import seed_of
from stages._common import stage


@stage("gndm_fit", configs={"gndm_fit": Gndm})
def main(cfg, paths):
    p = cfg.gndm_fit
    true_mean = torch.tensor(p.true_mean, dtype=torch.float64)
    data = gaussian.sample_normal(p.n_samples, true_mean, seed_of(p.seed, "gndm_data"))
    learned, history = gaussian.fit_gndm(data, p.learning_rate, p.steps)
    closed_form = data.mean(0)
    artifacts.write(paths.reports, artifacts.GNDM_DATA, {"x1": data[:, 0], "x2": data[:, 1]})
    eye = torch.eye(2, dtype=torch.float64)
    fig = plots.scatter_over_density(
        data.numpy(),
        lambda x: gaussian.normal_density(x, learned, eye),
        list(p.true_mean),
        f"Task 2: learned GNDM, $\\mu^*$ = [{learned[0]:.3f}, {learned[1]:.3f}]",
        extra_density=lambda x: gaussian.normal_density(x, true_mean, eye),
        labels=("learned density $p(x, \\mu^*)$", "true density $q(x)$"),
    )
    artifacts.write(paths.reports, artifacts.GNDM_FIT, fig)
    convergence = plots.gndm_convergence(history, gaussian.gndm_loss(data, closed_form).item())
    artifacts.write(paths.reports, artifacts.GNDM_CONVERGENCE, convergence)
    return {
        "n_samples": p.n_samples,
        "true_mean": list(p.true_mean),
        "learned_mean": learned.tolist(),
        "closed_form_mean": closed_form.tolist(),
        "learned_minus_closed_form": (learned - closed_form).norm().item(),
        "distance_to_true_mean": (learned - true_mean).norm().item(),
        "final_loss": history[-1],
        "steps": p.steps,
    }


if __name__ == "__main__":
    main()
