"""Checkpoints by iteration: `last.ckpt`, `iter_NNNNNNN.ckpt` every N, `best.ckpt` by the monitor
(val ab-L1 unless set, e.g. val/delta_e_2000), and `generator.pt` (the generator alone, for eval and
colourise; the average of its weights when the run kept one) at the end of training.

Every file is written atomically (see `AtomicCheckpointIO`). `ckpt_path=.../last.ckpt` resumes
both networks, both optimizers and schedulers, the iteration count, the data position and the RNG.
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

import lightning as L
from lightning.pytorch.callbacks import Callback

from mangacolor.inference.generator_file import export_generator
from mangacolor.runtime.atomic import atomic_write

log = logging.getLogger(__name__)


class IterationCheckpoint(Callback):
    def __init__(self, dirpath: str, every_n_iterations: int = 5000, keep_every: bool = True,
                 monitor: str = "val/ab_l1"):
        if every_n_iterations < 1:
            raise ValueError(f"callbacks.checkpoint.every_n_iterations must be >= 1, got {every_n_iterations}")
        self.dirpath = Path(dirpath)
        self.every_n_iterations = every_n_iterations
        self.keep_every = keep_every
        self.monitor = monitor
        self.best_score: float | None = None
        self._last_saved_iteration = -1
        self.last_checkpoint: Path | None = None  # named when a run stops on non-finite losses

    @property
    def state_key(self) -> str:
        return "IterationCheckpoint"

    def state_dict(self) -> dict:
        return {"best_score": self.best_score}

    def load_state_dict(self, state_dict: dict) -> None:
        self.best_score = state_dict.get("best_score")

    def _save(self, trainer: L.Trainer, name: str) -> Path:
        path = self.dirpath / name
        trainer.save_checkpoint(path, weights_only=False)  # every rank calls it; rank zero writes
        return path

    def save_last(self, trainer: L.Trainer, pl_module) -> None:
        iteration = pl_module.iteration
        if iteration == self._last_saved_iteration:
            return
        if self.keep_every and iteration % self.every_n_iterations == 0:
            saved = self._save(trainer, f"iter_{iteration:07d}.ckpt")
            if trainer.is_global_zero:
                # A hard link costs no second write of a possibly 1 GB file; replace is atomic.
                # Rank zero alone: no collective may run here, or the ranks' barriers would not pair.
                link_as_last(saved, self.dirpath / "last.ckpt")
            trainer.strategy.barrier()
        else:
            self._save(trainer, "last.ckpt")
        self._last_saved_iteration = iteration
        self.last_checkpoint = self.dirpath / "last.ckpt"

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if trainer.fast_dev_run:
            return
        if pl_module.iteration % self.every_n_iterations == 0:
            self.save_last(trainer, pl_module)

    def on_validation_end(self, trainer, pl_module) -> None:
        if trainer.sanity_checking or trainer.fast_dev_run:
            return
        score = trainer.callback_metrics.get(self.monitor)
        if score is None:
            return
        score = float(score)
        if self.best_score is None or score < self.best_score:
            self.best_score = score
            self._save(trainer, "best.ckpt")
            log.info("new best %s %.4f at iteration %d", self.monitor, score, pl_module.iteration)

    def on_train_end(self, trainer, pl_module) -> None:
        if trainer.fast_dev_run:
            return
        self.save_last(trainer, pl_module)
        if trainer.is_global_zero:
            export_generator(  # the average of G's weights when the run kept one (model.ema), as validation used
                pl_module.inference_generator, pl_module.hparams.generator, self.dirpath / "generator.pt",
                iteration=pl_module.iteration, averaged=pl_module.generator_ema is not None,
                training_size=_training_size(trainer),
            )


def link_as_last(saved: Path, last: Path) -> None:
    """Make `last` the same file as `saved`: a hard link, else a copy; atomic either way."""
    tmp = last.with_name(".last.ckpt.link.tmp")
    tmp.unlink(missing_ok=True)
    try:
        os.link(saved, tmp)
        os.replace(tmp, last)
    except OSError:  # file systems without hard links
        tmp.unlink(missing_ok=True)
        with open(saved, "rb") as source, atomic_write(last) as target:
            shutil.copyfileobj(source, target)


def _training_size(trainer) -> int | None:
    hparams = getattr(trainer.datamodule, "hparams", None) or {}
    return hparams.get("size")
