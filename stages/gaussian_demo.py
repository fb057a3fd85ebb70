"""Task 1: samples of a standard 2-D normal against its density, eq. (5)."""

import torch

from ddpm_lab import artifacts, gaussian, plots
from ddpm_lab.config import GaussianDemo
from ddpm_lab.streams import seed_of
from stages._common import stage


@stage("gaussian_demo", configs={"gaussian_demo": GaussianDemo})
def main(cfg, paths):
    n = cfg.gaussian_demo.n_samples
    mean, cov = torch.zeros(2, dtype=torch.float64), torch.eye(2, dtype=torch.float64)
    samples = gaussian.sample_normal(n, mean, seed_of(cfg.gaussian_demo.seed, "gaussian_demo"))
    artifacts.write(paths.reports, artifacts.GAUSSIAN_SAMPLES, {"x1": samples[:, 0], "x2": samples[:, 1]})
    density = lambda x: gaussian.normal_density(x, mean, cov)  # noqa: E731
    artifacts.write(
        paths.reports,
        artifacts.GAUSSIAN_SCATTER,
        plots.scatter_over_density(samples.numpy(), density, (0, 0), "Task 1: samples of N(0, I) over its density"),
    )
    return {
        "n_samples": n,
        "sample_mean": samples.mean(0).tolist(),
        "sample_covariance": torch.cov(samples.T).tolist(),
    }


if __name__ == "__main__":
    main()
