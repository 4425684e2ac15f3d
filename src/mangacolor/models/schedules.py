"""What changes with the iteration: the learning-rate factor and the weight of G's adversarial term.

Functions of the (0-based) iteration alone, so a resumed run continues each schedule where it
stopped.
"""

from __future__ import annotations


def linear_decay(total: int, decay_fraction: float):
    """LR factor per iteration: 1, then a straight line to 0 over the last `decay_fraction`."""
    decay_start = total * (1.0 - decay_fraction)

    def factor(iteration: int) -> float:
        if decay_fraction <= 0 or iteration < decay_start:
            return 1.0
        return max(0.0, (total - iteration) / max(total - decay_start, 1.0))

    return factor


def adversarial_weight(
    iteration: int, total: int, warmup_fraction: float, ramp_fraction: float
) -> float:
    """The weight of G's adversarial term at 0-based `iteration` of `total`.

    0 during an L1-only warm-up over the first `warmup_fraction` of the iterations, then a straight
    line up to 1 over the next `ramp_fraction`, then 1.
    """
    warmup_end = total * warmup_fraction
    if iteration < warmup_end:
        return 0.0
    ramp = total * ramp_fraction
    if ramp <= 0:
        return 1.0
    return min(1.0, (iteration + 1 - warmup_end) / ramp)
