"""The training scalars: summed on the device each iteration, their means taken every log_every.

The step never waits for the GPU for them: the sums stay on the device, and `take_means`, called
every `model.log_every` iterations, is the one host sync. An iteration whose update was skipped (a
NaN or infinite loss) is left out of the sums and of the count they are divided by.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch

TRAIN_SCALARS = (
    "loss/d_real",
    "loss/d_fake",
    "loss/g_adv",
    "loss/g_l1",
    "d/real_score",
    "d/fake_score",
)


class TrainScalarSums:
    def __init__(self) -> None:
        self._sums: torch.Tensor | None = None

    def add(self, finite: torch.Tensor, scalars: Mapping[str, torch.Tensor]) -> None:
        """One iteration's scalars (each named in TRAIN_SCALARS), added unless `finite` is False."""
        stacked = torch.stack([scalars[name].detach().float() for name in TRAIN_SCALARS])
        # A skipped iteration's NaN would poison the means: sum the finite ones, count them last.
        stacked = torch.cat([torch.where(finite, stacked, 0.0), finite.float().reshape(1)])
        self._sums = stacked if self._sums is None else self._sums + stacked

    def take_means(self, strategy) -> dict[str, float] | None:
        """The means since the last call, over every rank, and start again; None if none were added.

        An all-reduce through the Lightning `strategy`: every rank calls this at the same iteration.
        """
        if self._sums is None:
            return None
        sums = strategy.reduce(self._sums, reduce_op="mean")
        self._sums = None
        means = (sums[:-1] / sums[-1]).tolist()  # the one host sync per log_every
        return dict(zip(TRAIN_SCALARS, means, strict=True))
