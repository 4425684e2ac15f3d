"""How a run ends, in the words of what holds the facts: the results `train()` returns, the
stop callback's line for a stopped run, the summary for a finished one, and what to do after a
full disk or a second Ctrl-C (which checkpoints are there, and the command that continues)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import lightning as L

from mangacolor.callbacks import GracefulStop, IterationCheckpoint, TrainingMonitor
from mangacolor.runtime.disk_space import DiskWriteError
from mangacolor.runtime.resume import resume_command
from mangacolor.training.builders import find
from mangacolor.training.summary import summary_line


@contextlib.contextmanager
def explained_failures(trainer: L.Trainer, callbacks: list, model, run_dir: Path) -> Iterator[None]:
    """Around `trainer.fit`: a full disk or a second Ctrl-C ends the run saying what was kept and
    how to go on, on rank 0 only."""
    try:
        yield
    except DiskWriteError as error:
        if not trainer.is_global_zero:
            raise SystemExit(1) from None  # rank 0 says why
        advice = after_disk_error(_has_saved(callbacks), run_dir)
        raise DiskWriteError(f"{error}. {advice}", error.errno) from None
    except SystemExit:
        # Lightning ends a fit cut by KeyboardInterrupt with sys.exit(1): here, a second Ctrl-C.
        stop = find(callbacks, GracefulStop)
        if stop is not None and stop.request.forced:
            if trainer.is_global_zero:
                line = stop.forced_stop_line(model.iteration, _has_saved(callbacks), run_dir)
                print(line, flush=True)
            raise KeyboardInterrupt from None
        raise


def after_disk_error(saved: bool, run_dir: Path) -> str:
    """What to do once the disk filled up; `saved`: a checkpoint to continue from is there."""
    if not saved:
        return "Free some space (or set paths.output_dir to another disk) and start again"
    resume = resume_command(run_dir)
    return f"Free some space there and continue from the newest checkpoint with: {resume}"


def _has_saved(callbacks: list) -> bool:
    checkpoints = find(callbacks, IterationCheckpoint)
    return checkpoints is not None and checkpoints.has_saved()


def run_results(model, datamodule, callbacks: list, run_dir: Path) -> dict[str, Any]:
    """The final training and validation scalars, the unreadable pages, and the stop, if any."""
    monitor = find(callbacks, TrainingMonitor)
    stop = find(callbacks, GracefulStop)
    # The monitor's list holds every rank's unreadable pages; the datamodule's, this rank's.
    unreadable = monitor.unreadable if monitor else datamodule.unreadable
    return {
        "iteration": model.iteration,
        **model.last_train_scalars,
        **model.last_val_scalars,
        "unreadable": len(unreadable),
        "run_dir": str(run_dir),
        "stopped_by": stop.stopped_by if stop else None,
    }


def say_how_it_ended(
    trainer: L.Trainer, callbacks: list, results: dict[str, Any], total: int, run_dir: Path
) -> None:
    """Rank 0 prints the stop line (after asking SLURM to requeue, when its warning stopped the
    run) or the summary line."""
    stop = find(callbacks, GracefulStop)
    if stop is None or stop.stopped_by is None:
        if trainer.is_global_zero:
            print(summary_line(results, find(callbacks, TrainingMonitor), run_dir), flush=True)
        return
    if not trainer.is_global_zero:
        return
    requeued = stop.requeue() if stop.requeue_requested else None  # everything is saved by now
    checkpoints = find(callbacks, IterationCheckpoint)
    saved = checkpoints.last_checkpoint if checkpoints else None
    print(stop.stop_line(results["iteration"], total, saved, run_dir, requeued), flush=True)
