"""Pix2Pix's optimizers: one Adam each for G and D (model.lr_g, model.lr_d, model.beta1/2), each
with the linear-decay LR schedule of models/schedules.py, stepped once per iteration."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch

from mangacolor.models.schedules import linear_decay


def pix2pix_optimizers(
    generator: torch.nn.Module, discriminator: torch.nn.Module, hp: Any, fused: bool
):
    """([opt_g, opt_d], [sched_g, sched_d]) as Lightning's configure_optimizers returns them.
    `fused`: the parameters are on CUDA, where one kernel per step does all of Adam's maths."""

    def adam(params: Iterable[torch.nn.Parameter], lr: float) -> torch.optim.Adam:
        return torch.optim.Adam(params, lr=lr, betas=(hp.beta1, hp.beta2), fused=fused or None)

    opt_g = adam(generator.parameters(), hp.lr_g)
    opt_d = adam(discriminator.parameters(), hp.lr_d)
    schedule = linear_decay(hp.iterations, hp.decay_fraction)
    sched_g = torch.optim.lr_scheduler.LambdaLR(opt_g, schedule)
    sched_d = torch.optim.lr_scheduler.LambdaLR(opt_d, schedule)
    return [opt_g, opt_d], [sched_g, sched_d]
