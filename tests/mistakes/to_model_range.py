"""Task 3, ddpm_lab.data.to_model_range: [0, 1] onto [−1, 1]."""

TARGET, TASK = "ddpm_lab.data.to_model_range", 3


def as_if_from_0_to_255(unit):
    """x / 127.5 − 1, the usual recipe for uint8 pixels, applied to pixels already in [0, 1]."""
    return unit / 127.5 - 1


def doubled_only(unit):
    """2x, the − 1 forgotten: [0, 2]."""
    return unit * 2


def centred_only(unit):
    """x − ½: [−½, ½]."""
    return unit - 0.5


def in_place(unit):
    """The right map, done in place: the stage's [0, 1] images (for FID's uint8 copies) are overwritten."""
    return unit.mul_(2).sub_(1)


def standardized(unit):
    """Zero mean, unit variance: a normalization, but not onto [−1, 1]."""
    return (unit - unit.mean()) / unit.std()
