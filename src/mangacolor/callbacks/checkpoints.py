"""Checkpoints by iteration: `last.ckpt`, `iter_NNNNNNN.ckpt` every N, `best.ckpt` by the monitor
(val ab-L1 unless set, e.g. val/delta_e_2000), and `generator.pt` (the generator alone, for eval and
colourise; the average of its weights when the run kept one) at the end of training.

Every file is written atomically (see `AtomicCheckpointIO`). `ckpt_path=.../last.ckpt` resumes
both networks, both optimizers and schedulers, the iteration count, the data position and the RNG.

Which files stay:
- `keep_every: true` keeps every `iter_N.ckpt`; `keep_last: K` keeps only the newest K of them
  (deleting older ones once a newer one is safely written). `last.ckpt` and `best.ckpt` are
  never deleted and never count among the K. `last.ckpt` is a hard link to the newest
  `iter_N.ckpt` (no second copy on disk), so the newest K cost K files' space, plus `best.ckpt`.
- `keep_every: false` keeps no numbered files: `last.ckpt` is rewritten in place every N.

A write that fails (disk full, quota, read-only, I/O error) raises `DiskWriteError` on every DDP
rank at once, saying which folder, how much is free and how much was needed; the files already
there stay as they were. Before the first checkpoint, rank 0 checks that the planned ones fit
in the free space and warns early when they do not.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
from pathlib import Path

import lightning as L
from lightning.pytorch.callbacks import Callback

from mangacolor.inference.generator_file import export_generator
from mangacolor.runtime.atomic import atomic_write
from mangacolor.runtime.checkpoint_io import SavesCheckpoints
from mangacolor.runtime.config_errors import require
from mangacolor.runtime.disk_space import (
    DiskWriteError,
    free_bytes,
    size_text,
    tensor_bytes,
)
from mangacolor.runtime.distributed import max_across_ranks
from mangacolor.runtime.resume import checkpoint_files, record_launch

log = logging.getLogger(__name__)

NUMBERED = re.compile(r"iter_(\d+)\.ckpt")


class IterationCheckpoint(Callback, SavesCheckpoints):
    def __init__(
        self,
        dirpath: str,
        every_n_iterations: int = 5000,
        keep_every: bool = True,
        keep_last: int | None = None,
        monitor: str = "val/ab_l1",
    ):
        check_keeping(every_n_iterations, keep_every, keep_last)
        self.dirpath = Path(dirpath)
        self.every_n_iterations = every_n_iterations
        self.keep_every = keep_every
        self.keep_last = keep_last
        self.monitor = monitor
        self.best_score: float | None = None
        self._last_saved_iteration = -1
        self.last_checkpoint: Path | None = None  # named when a run stops on non-finite losses

    def has_saved(self) -> bool:
        """Whether the folder holds a checkpoint to continue from: this run's, or the one it
        resumed from."""
        return any(path.suffix == ".ckpt" for path in checkpoint_files(self.dirpath))

    @property
    def state_key(self) -> str:
        return "IterationCheckpoint"

    def state_dict(self) -> dict:
        return {"best_score": self.best_score}

    def load_state_dict(self, state_dict: dict) -> None:
        self.best_score = state_dict.get("best_score")

    def setup(self, trainer, pl_module, stage: str) -> None:
        if stage == "fit" and trainer.is_global_zero and not trainer.fast_dev_run:
            record_launch(
                self.dirpath, os.environ
            )  # a requeued or restarted launch knows its folder by it

    def on_train_start(self, trainer, pl_module) -> None:
        if trainer.is_global_zero and not trainer.fast_dev_run:
            self._check_free_space(trainer, pl_module)

    # ---- writing -----------------------------------------------------------------------
    def _save(self, trainer: L.Trainer, name: str, then=None) -> Path:
        """Write `name` (every rank calls this; rank zero writes), run `then` on rank zero after a
        successful write, and raise on every rank if rank zero failed."""
        path = self.dirpath / name
        failure = None
        try:
            trainer.save_checkpoint(path, weights_only=False)
        except DiskWriteError as error:
            failure = error
            trainer.strategy.barrier(
                "Trainer.save_checkpoint"
            )  # the one the failed save skipped: ranks stay paired
        if failure is None and then is not None and trainer.is_global_zero:
            try:
                then()
            except DiskWriteError as error:
                failure = error
        if then is not None:
            # Rank zero alone ran `then`: no collective may run in it, or the ranks' barriers would not pair.
            trainer.strategy.barrier()
        if max_across_ranks(trainer, failure is not None):
            raise failure or DiskWriteError(f"rank 0 could not write {path} (its message says why)")
        return path

    def save_last(self, trainer: L.Trainer, pl_module) -> None:
        iteration = pl_module.iteration
        if iteration == self._last_saved_iteration:
            return
        if self.keep_every and iteration % self.every_n_iterations == 0:
            name = f"iter_{iteration:07d}.ckpt"

            def link_and_prune() -> None:
                # A hard link costs no second write of a possibly 1 GB file; replace is atomic.
                link_as_last(self.dirpath / name, self.dirpath / "last.ckpt")
                self._prune(iteration)

            self._save(trainer, name, then=link_and_prune)
        else:
            self._save(trainer, "last.ckpt")
        self._last_saved_iteration = iteration
        self.last_checkpoint = self.dirpath / "last.ckpt"

    def _prune(self, iteration: int) -> None:
        """Keep the newest `keep_last` numbered checkpoints up to `iteration`; delete older ones.

        Numbered files past `iteration` (left by a timeline this run was resumed before) are not
        this run's to judge and stay; last.ckpt and best.ckpt are never numbered files.
        """
        if self.keep_last is None:
            return
        numbered = sorted(
            (int(m.group(1)), p)
            for p in self.dirpath.iterdir()
            if (m := NUMBERED.fullmatch(p.name)) and int(m.group(1)) <= iteration
        )
        for _, path in numbered[: -self.keep_last]:
            try:
                path.unlink()
            except OSError as error:
                log.warning("keep_last: could not delete %s: %s", path, error)

    # ---- hooks -------------------------------------------------------------------------
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
            self._save(trainer, "best.ckpt")
            self.best_score = score
            log.info("new best %s %.4f at iteration %d", self.monitor, score, pl_module.iteration)

    def on_train_end(self, trainer, pl_module) -> None:
        if trainer.fast_dev_run:
            return
        self.save_last(trainer, pl_module)
        if trainer.is_global_zero:
            export_generator(  # the average of G's weights when the run kept one (model.ema), as validation used
                pl_module.inference_generator,
                pl_module.hparams.generator,
                self.dirpath / "generator.pt",
                iteration=pl_module.iteration,
                averaged=pl_module.generator_ema is not None,
                training_size=_training_size(trainer),
            )

    # ---- disk space --------------------------------------------------------------------
    def planned_bytes(self, trainer, pl_module) -> tuple[int, int, int]:
        """(bytes the rest of this run's checkpoint files need, one checkpoint's bytes, the
        number of checkpoint-sized files counted) -- an estimate from the tensors' sizes."""
        checkpoint = checkpoint_bytes(pl_module, trainer.optimizers)
        total = int(getattr(pl_module.hparams, "iterations", pl_module.iteration))
        every, done = self.every_n_iterations, pl_module.iteration
        if self.keep_every:
            numbered = max(0, total // every - done // every)
            if self.keep_last is not None and numbered > self.keep_last:
                numbered = self.keep_last + 1  # the newest is written before the oldest goes
            # last.ckpt is a link to the newest numbered file, except at a final iteration off the
            # grid, or at a stop; best.ckpt is rewritten beside the one it replaces.
            files = numbered + 1 + 1
        else:
            files = 2 + 1  # last.ckpt and the new one written beside it, best.ckpt
        generator = tensor_bytes(pl_module.generator.state_dict())
        return files * checkpoint + generator, checkpoint, files

    def _check_free_space(self, trainer, pl_module) -> None:
        needed, checkpoint, files = self.planned_bytes(trainer, pl_module)
        free = free_bytes(self.dirpath)
        log.info(
            "checkpoints: about %s each, up to %s more for this run in %s (%s free)",
            size_text(checkpoint),
            size_text(needed),
            self.dirpath,
            size_text(free),
        )
        if free is not None and free < needed:
            log.warning(
                "%s has %s free, but this run's checkpoints need about %s more (%d files of %s: numbered "
                "checkpoints, last.ckpt, best.ckpt; and generator.pt). Training goes on, and stops with an error "
                "when the disk is full: free space now, or keep fewer files "
                "(callbacks.checkpoint.keep_last=K keeps the newest K, keep_every=false keeps none)",
                self.dirpath,
                size_text(free),
                size_text(needed),
                files,
                size_text(checkpoint),
            )


def check_keeping(every_n_iterations: int, keep_every: bool, keep_last: int | None) -> None:
    """The rules for callbacks.checkpoint's every_n_iterations, keep_every and keep_last."""
    require(
        _whole(every_n_iterations) and every_n_iterations >= 1,
        f"callbacks.checkpoint.every_n_iterations must be >= 1, got {every_n_iterations!r}",
    )
    require(
        keep_last is None or (_whole(keep_last) and keep_last >= 1),
        f"callbacks.checkpoint.keep_last must be >= 1 (or null), got {keep_last!r}",
    )
    require(
        keep_last is None or keep_every is True,
        "callbacks.checkpoint.keep_last needs keep_every=true "
        "(keep_every=false keeps no numbered checkpoints)",
    )


def _whole(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def checkpoint_bytes(pl_module, optimizers) -> int:
    """About the size of a training checkpoint: weights and buffers plus the optimizers' state
    (Adam's two moments per weight, counted before its first step creates them)."""
    size = tensor_bytes(pl_module.state_dict())
    for optimizer in optimizers:
        state = tensor_bytes(list(optimizer.state.values()))
        params = sum(
            p.numel() * p.element_size()
            for group in optimizer.param_groups
            for p in group["params"]
        )
        size += state or 2 * params
    return size


def link_as_last(saved: Path, last: Path) -> None:
    """Make `last` the same file as `saved`: a hard link, else a copy; atomic either way."""
    tmp = last.with_name(".last.ckpt.link.tmp")
    tmp.unlink(missing_ok=True)
    try:
        os.link(saved, tmp)
        os.replace(tmp, last)
    except OSError:  # file systems without hard links
        tmp.unlink(missing_ok=True)
        with (
            open(saved, "rb") as source,
            atomic_write(last, size_hint=saved.stat().st_size) as target,
        ):
            shutil.copyfileobj(source, target)


def _training_size(trainer) -> int | None:
    hparams = getattr(trainer.datamodule, "hparams", None) or {}
    return hparams.get("size")
