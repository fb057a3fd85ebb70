"""The run's random streams, by name.

Every random draw of the lab takes its seed from the run's one seed (``params.yaml: seed``) and the stream it
belongs to: ``seed_of(run_seed, "fid_noise")``. A stream's number is part of what a run is: changing one changes
every committed draw of it, and the grader redraws with the same names (``grader/checks/run.py``). Streams of
different libraries may share a number (torch's and numpy's generators draw differently from one seed).
"""

from __future__ import annotations

STREAMS: dict[str, int] = {
    "gaussian_demo": 0,  # Task 1's samples (torch)
    "gndm_data": 1,  # Task 2's data (torch)
    "subset": 0,  # Task 3's balanced indices (numpy)
    "fid_floor": 1,  # the floor's MNIST images beside the subset (numpy)
    "forward_noise": 0,  # Task 4's ε, one draw per timestep (torch)
    "training": 0,  # the U-Net's initial weights, batches, t and ε (torch)
    "classifier": 0,  # the grader's digit classifier (torch)
    "grid_noise": 2,  # Task 6's grid: sample i's noise from (seed, i) (ddpm_lab.sampler.sample_generator)
    "fid_noise": 3,  # Task 7's FID samples, the same way
}


def seed_of(run_seed: int, stream: str) -> int:
    """The seed of ``stream`` in the run of ``run_seed``."""
    try:
        return run_seed + STREAMS[stream]
    except KeyError:
        raise KeyError(f"no random stream {stream!r}: one of {sorted(STREAMS)}") from None
