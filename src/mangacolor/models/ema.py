"""An exponential moving average (EMA) of the generator's weights, the copy modern GANs sample from.

After each generator update n (1, 2, ...), every weight of the average moves towards the live
generator's:  average <- average + w * (live - average), with w = 1 up to the start iteration (the
average is a plain copy until then) and w = 1 - decay after it. The average is not trained: it has
no gradients (requires_grad False), belongs to no optimizer and so takes no part in DDP's gradient
all-reduce; it costs one more copy of the generator in memory and in each checkpoint.

Batch-norm running statistics are averaged with the same weight as the weights (and the integer
batch counter copied). Eval-mode batch norm normalises with them, so they must describe the
activations of the averaged weights. The live generator's own statistics describe its last few
batches (momentum 0.1), i.e. the newest weights; averaged over the same span of iterations as the
weights, they follow the averaged network instead, to first order. (Recomputing them with a pass
over the data, as SWA does, would be exact, but costs a pass per validation; instance norm, the
seed's, has no running statistics at all.)

An iteration whose update was skipped (a NaN or infinite loss) leaves the live generator and its
statistics as they were, so averaging it in moves the average towards unchanged weights: no NaN
can reach the average, and no host synchronisation is needed to decide.
"""

from __future__ import annotations

import copy
import logging

import torch
from torch import nn

log = logging.getLogger(__name__)


def averaged_copy(network: nn.Module) -> nn.Module:
    """A copy of `network` to hold its average: same weights now, never trained."""
    average = copy.deepcopy(network)
    average.requires_grad_(False)
    return average


def ema_weight(update: int, decay: float, start: float) -> float:
    """How far the average moves towards the live weights after generator update `update` (1-based)."""
    return 1.0 if update <= start else 1.0 - decay


@torch.no_grad()
def update_average(average: nn.Module, live: nn.Module, weight: float) -> None:
    """average <- average + weight * (live - average), for weights and float buffers; other buffers copied.

    `weight` is a host number, so this runs as a few fused device kernels with no synchronisation.
    """
    floats_average, floats_live, others_average, others_live = [], [], [], []
    pairs = list(zip(average.parameters(), live.parameters(), strict=True)) + list(
        zip(average.buffers(), live.buffers(), strict=True)
    )
    for mine, theirs in pairs:
        if mine.is_floating_point():
            floats_average.append(mine)
            floats_live.append(theirs.detach())
        else:
            others_average.append(mine)
            others_live.append(theirs)
    if weight >= 1.0:
        torch._foreach_copy_(floats_average, floats_live)
    elif floats_average:
        torch._foreach_lerp_(floats_average, floats_live, weight)
    if others_average:
        torch._foreach_copy_(others_average, others_live)


def fit_average(state_dict: dict | None, keep: bool) -> None:
    """Make a checkpoint's weights fit this run's choice of model.ema (`keep`: it is on), in place.

    Resumed with the average on from a checkpoint without one, the average starts from the
    live generator; resumed with it off, a checkpoint's average is dropped.
    """
    if state_dict is None:
        return
    live, average = "generator.", "generator_ema."
    kept = [key for key in state_dict if key.startswith(average)]
    if keep and not kept:
        state_dict.update(
            {
                average + key[len(live) :]: value.clone()
                for key, value in list(state_dict.items())
                if key.startswith(live)
            }
        )
        log.info(
            "the checkpoint has no average of the generator's weights: model.ema starts from its "
            "generator"
        )
    elif not keep and kept:
        for key in kept:
            del state_dict[key]
        log.info(
            "model.ema is off: the checkpoint's average of the generator's weights is not used"
        )
