"""Timing training steps honestly: a synthetic batch already on the device, iteration windows that
synchronise the device only at their edges, a minimal Trainer, and a count of host syncs."""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback

from mangacolor.benchmark.host_syncs import SyncCount, count_host_syncs
from mangacolor.benchmark.machine import GIB
from mangacolor.benchmark.profiling import synchronize

log = logging.getLogger("mangacolor.bench")


def synthetic_batch(batch_size: int, size: int, device: torch.device, seed: int = 0) -> dict:
    """A training batch ({"L", "ab"} in [-1, 1]) made on the device: no loader, no copy."""
    generator = torch.Generator(device=device).manual_seed(seed)
    lightness = torch.rand(batch_size, 1, size, size, device=device, generator=generator) * 2 - 1
    ab = (torch.rand(batch_size, 2, size, size, device=device, generator=generator) * 2 - 1) * 0.3
    return {"L": lightness, "ab": ab}


class RepeatedBatch:
    """The same batch `count` times: an iterable Lightning can fit on, with nothing to load."""

    def __init__(self, batch: dict, count: int):
        self.batch, self.count = batch, count

    def __iter__(self) -> Iterator[dict]:
        return itertools.repeat(self.batch, self.count)

    def __len__(self) -> int:
        return self.count


class IterationWindowTimer(Callback):
    """Times iterations warmup+1 .. `end` (default: the model's last), syncing the device only at
    the two edges."""

    def __init__(self, warmup: int, end: int | None = None):
        if warmup < 1:
            raise ValueError(
                f"bench.warmup must be at least 1 (the first step autotunes), got {warmup}"
            )
        self.warmup, self.end = warmup, end
        self._start: float | None = None
        self._start_cpu = 0.0
        self._start_iteration = 0
        self.cpu_seconds: float | None = None
        self.seconds: float | None = None
        self.iterations = 0
        self.peak_memory_gib: float | None = None

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        iteration, device = pl_module.iteration, pl_module.device
        if iteration == self.warmup:
            synchronize(device)
            if device.type == "cuda":
                torch.cuda.reset_peak_memory_stats(device)
            self._start, self._start_iteration = time.perf_counter(), iteration
            self._start_cpu = time.process_time()
        elif (
            iteration >= (self.end or pl_module.hparams.iterations)
            and self._start is not None
            and self.seconds is None
        ):
            synchronize(device)
            self.seconds = time.perf_counter() - self._start
            self.cpu_seconds = time.process_time() - self._start_cpu
            self.iterations = iteration - self._start_iteration
            if device.type == "cuda":
                self.peak_memory_gib = torch.cuda.max_memory_allocated(device) / GIB

    def rates(self, images_per_iteration: int) -> dict[str, float | None]:
        if not self.seconds or not self.iterations:
            raise RuntimeError(
                "the timed window never closed: training stopped before its last iteration"
            )
        per_second = self.iterations / self.seconds
        return {
            "iterations_per_s": per_second,
            "images_per_s": per_second * images_per_iteration,
            "step_ms": 1000.0 / per_second,
            "timed_iterations": self.iterations,
            "peak_memory_gib": self.peak_memory_gib,
            # CPU time of this process (all its threads, not loader workers) per iteration: the
            # host's work per step on a GPU; on a shared CPU it grows much less than wall time.
            "process_cpu_s_per_iteration": self.cpu_seconds / self.iterations,
        }


def timing_trainer(
    device: torch.device, precision: str, callbacks: list, benchmark: bool = True
) -> L.Trainer:
    """One device, nothing written: no logger, no checkpoints, no validation, no progress bar."""
    return L.Trainer(
        accelerator=device.type,
        devices=[device.index or 0] if device.type == "cuda" else 1,
        precision=precision,
        benchmark=benchmark if device.type == "cuda" else None,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        limit_val_batches=0,
        max_epochs=-1,
        callbacks=callbacks,
        use_distributed_sampler=False,
    )


class HostSyncCounter(Callback):
    """Counts the host's waits for the device over one whole iteration (Lightning's loop included).

    The last warm-up iteration is counted: warm, yet before the timed window, so the counting
    (CUDA's sync debug mode) never touches a timed step. Place it before the window's timer, whose
    own synchronisation opens the window and must not be counted. Nothing is counted with a single
    warm-up iteration (that one autotunes and compiles) or on a CPU.
    """

    def __init__(self, iteration: int, device: torch.device):
        self.iteration, self.device = iteration, device
        self.syncs = SyncCount()
        self._counting = None

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if pl_module.iteration + 1 == self.iteration and self.iteration >= 2:
            self._counting = count_host_syncs(self.device)
            self.syncs = self._counting.__enter__()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self._stop_counting()

    def on_exception(self, trainer, pl_module, exception) -> None:
        self._stop_counting()  # e.g. out of memory: the sweep goes on, without the debug mode left on

    def _stop_counting(self) -> None:
        if self._counting is not None:
            self._counting.__exit__(None, None, None)
            self._counting = None

    def results(self) -> dict[str, Any]:
        return {"host_syncs_per_iteration": self.syncs.count, "host_sync_lines": self.syncs.where}


ModelFactory = Callable[..., L.LightningModule]  # builds the LightningModule a row times
"""make_model(iterations=..., log_every=..., **overrides) -> a fresh Pix2Pix."""
