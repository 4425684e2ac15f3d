"""Throughput (images/s) and data health (unreadable pages skipped) on the dashboards.

Images/s counts training alone: time spent in validation is taken out of the window it falls in,
so the figure does not drop every time the run validates, and under DDP it adds up the pages each
rank trained on. Unreadable pages are gathered from every DDP rank, each counted once, and the
list is carried through checkpoints, so a resumed run still counts those found before.
"""

from __future__ import annotations

import time

import torch
from lightning.pytorch.callbacks import Callback

from mangacolor.runtime.distributed import union_across_ranks


class TrainingMonitor(Callback):
    def __init__(self):
        self._window_start: float | None = None
        self._window_images = 0  # this rank's, counted per batch: a validation batch can lose pages
        self._paused_seconds = 0.0  # validation time inside the current window
        self._validation_start: float | None = None
        self.images_per_second: float | None = None
        self.unreadable: dict[str, str] = {}  # path -> reason, from every rank
        self._unreadable_before: dict[str, str] = {}  # from the checkpoint this run resumed

    def on_train_start(self, trainer, pl_module) -> None:
        self._window_start = time.perf_counter()
        self._window_images, self._paused_seconds = 0, 0.0

    def on_validation_start(self, trainer, pl_module) -> None:
        if self._window_start is not None:  # not the sanity check before training starts
            self._validation_start = time.perf_counter()

    def on_validation_end(self, trainer, pl_module) -> None:
        if self._validation_start is not None:
            self._paused_seconds += time.perf_counter() - self._validation_start
            self._validation_start = None

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if batch.get("L") is not None:
            self._window_images += batch["L"].shape[0]  # a shape: no device sync
        iteration = pl_module.iteration
        if iteration % pl_module.hparams.log_every != 0 or self._window_start is None:
            return
        now = time.perf_counter()  # the module's log flush just synchronised with the device
        training_seconds = now - self._window_start - self._paused_seconds
        self.images_per_second = self._images_on_every_rank(trainer, pl_module) / max(
            training_seconds, 1e-9
        )
        self._window_start, self._window_images, self._paused_seconds = now, 0, 0.0
        scalars = {"perf/images_per_s": self.images_per_second}
        if self._gather_bad_files(trainer):
            scalars["data/bad_files"] = float(len(self.unreadable))
        pl_module.log_scalars(scalars)

    def _images_on_every_rank(self, trainer, pl_module) -> float:
        if trainer.world_size == 1:
            return float(self._window_images)
        # Every rank logs at the same iteration, so this all-reduce is matched on every rank.
        count = torch.tensor(float(self._window_images), device=pl_module.device)
        return float(trainer.strategy.reduce(count, reduce_op="sum"))

    def on_train_end(self, trainer, pl_module) -> None:
        self._gather_bad_files(trainer)  # the last iterations' finds, for the run's summary

    def _gather_bad_files(self, trainer) -> bool:
        """Refresh `unreadable` from every rank; False when the data module keeps no such record."""
        datamodule = trainer.datamodule
        if datamodule is None or not hasattr(datamodule, "unreadable"):
            return False
        found = union_across_ranks(trainer, datamodule.unreadable)
        self.unreadable = {**found, **self._unreadable_before}
        return True

    def state_dict(self) -> dict:
        return {"bad_files": dict(self.unreadable)}

    def load_state_dict(self, state_dict: dict) -> None:
        self._unreadable_before = dict(state_dict.get("bad_files", {}))
        self.unreadable = dict(self._unreadable_before)
