"""Throughput (images/s) and data health (unreadable pages skipped) on the dashboards."""

from __future__ import annotations

import time

from lightning.pytorch.callbacks import Callback


class TrainingMonitor(Callback):
    def __init__(self):
        self._window_start: float | None = None
        self._window_iteration = 0
        self.run_start: float | None = None
        self.run_start_iteration = 0
        self.images_per_second: float | None = None

    def on_train_start(self, trainer, pl_module) -> None:
        self.run_start = self._window_start = time.perf_counter()
        self.run_start_iteration = self._window_iteration = pl_module.iteration

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        iteration = pl_module.iteration
        if iteration % pl_module.hparams.log_every != 0 or self._window_start is None:
            return
        now = time.perf_counter()  # the module's log flush just synchronised with the device
        images = (iteration - self._window_iteration) * batch["L"].shape[0] * trainer.world_size
        self.images_per_second = images / max(now - self._window_start, 1e-9)
        self._window_start, self._window_iteration = now, iteration
        scalars = {"perf/images_per_s": self.images_per_second}
        datamodule = trainer.datamodule
        if datamodule is not None and hasattr(datamodule, "bad_files"):
            scalars["data/bad_files"] = float(len(datamodule.bad_files))
        pl_module.log_scalars(scalars)

    def elapsed(self) -> float:
        return time.perf_counter() - self.run_start if self.run_start is not None else 0.0
