"""Stop cleanly on Ctrl-C, SIGTERM or SLURM's warning signal: finish what is in progress, save, stop.

The signal handlers (`mangacolor.runtime.stop_signals.StopRequest`) only record the signal. This
callback acts on it between iterations: the iteration, validation or checkpoint write in
progress finishes, the run then ends as a finished run does (`IterationCheckpoint.on_train_end`
writes `last.ckpt` at that iteration and `generator.pt`), and `mangacolor-train` prints where it
stopped and how to resume (`stop_line`), and exits with 128 + the signal's number (130 for Ctrl-C,
143 for SIGTERM). No validation is started for the stop: every second of a scheduler's grace time
goes to the checkpoint.

Under DDP a signal may reach one rank only (a `kill` of one process) or all of them at slightly
different moments. Every `check_every` iterations, and after each validation, the ranks take the
largest signal number any of them holds -- one all-reduce of one number and one host sync -- and
all stop at that same iteration, so one checkpoint is written. (Lightning 2.6 instead broadcasts
its SIGTERM flag with a host sync at every DDP iteration, Lightning issue #21487; that broadcast is
switched off here, since this check replaces it.)

Lightning's own handlers are kept out (`take_over_signal_handling`): on SIGTERM it would end the
run with exit code 0 and nothing saved, running a collective inside the handler under DDP; under
SLURM it would save from inside the requeue signal's handler (see `mangacolor.runtime.slurm`).
"""

from __future__ import annotations

import logging
import os
import signal
from pathlib import Path

from lightning.pytorch.callbacks import Callback

from mangacolor.runtime.config_errors import ConfigError, require
from mangacolor.runtime.distributed import max_across_ranks
from mangacolor.runtime.resume import resume_command
from mangacolor.runtime.slurm import requeue_job, signal_named, under_slurm
from mangacolor.runtime.stop_signals import StopRequest, describe

log = logging.getLogger(__name__)


class GracefulStop(Callback):
    def __init__(self, check_every: int = 10, requeue_signal: str | None = "SIGUSR1"):
        whole = isinstance(check_every, int) and not isinstance(check_every, bool)
        require(
            whole and check_every >= 1,
            f"callbacks.graceful_stop.check_every must be >= 1, got {check_every!r}",
        )
        if requeue_signal is not None:
            try:
                signal_named(requeue_signal)
            except ValueError as error:
                raise ConfigError(f"callbacks.graceful_stop.requeue_signal: {error}") from None
        self.check_every = check_every
        self.requeue_signal = requeue_signal
        self.request = StopRequest()
        self.stopped_by: int | None = None  # the signal every rank agreed to stop on
        self.stopped_at: int | None = None  # the iteration the run stopped after
        self._requeue_signum: int | None = None

    @property
    def requeue_requested(self) -> bool:
        """Stopped by SLURM's warning signal: the job should be requeued once everything is saved."""
        return self.stopped_by is not None and self.stopped_by == self._requeue_signum

    def requeue(self) -> bool | str:
        """Ask SLURM to requeue the job, once everything is saved: True when done, else why not."""
        # SLURM answers the requeue with a SIGTERM to the job: let it not end this process
        # before it has said so.
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        return requeue_job(os.environ) or True

    def stop_line(
        self,
        iteration: int,
        total: int,
        saved: Path | None,
        run_dir: Path,
        requeued: bool | str | None,
    ) -> str:
        """One line: which signal stopped the run, at which iteration, what was saved (`saved`: the
        checkpoint written at the stop), and how it goes on (`requeued`: as `requeue` answered)."""
        if saved:
            what = f"saved {saved} and generator.pt"
        else:
            what = "nothing saved (no callbacks.checkpoint)"
        resume = resume_command(run_dir)
        if requeued is True:
            job = os.environ.get("SLURM_JOB_ID")
            after = f"SLURM job {job} requeued: it continues in {run_dir} by itself "
            after += f"(or now: {resume})"
        elif isinstance(requeued, str):
            after = f"The SLURM job was not requeued ({requeued}); resume with: {resume}"
        else:
            after = f"Resume with: {resume}"
        how = describe(self.stopped_by)
        where = f"at iteration {iteration} of {total}"
        return f"mangacolor-train: stopped by {how} {where}; {what}. {after}"

    def forced_stop_line(self, iteration: int, saved_before: bool, run_dir: Path) -> str:
        """One line for a run a second Ctrl-C ended at once (`saved_before`: checkpoints exist)."""
        if not saved_before:
            kept = "nothing was saved"
        else:
            resume = resume_command(run_dir)
            kept = f"the checkpoints saved before are as they were. Resume with: {resume}"
        stopped = (
            f"mangacolor-train: stopped at once by a second Ctrl-C after iteration {iteration}"
        )
        return f"{stopped}; {kept}"

    def setup(self, trainer, pl_module, stage: str) -> None:
        if stage != "fit":
            return
        take_over_signal_handling(trainer)
        self.request.quiet = trainer.global_rank != 0
        signals = [signal.SIGINT, signal.SIGTERM]
        if self.requeue_signal is not None and under_slurm():
            self._requeue_signum = signal_named(self.requeue_signal)
            signals.append(self._requeue_signum)
        self.request.install(signals)

    def teardown(self, trainer, pl_module, stage: str) -> None:
        self.request.restore()

    def on_exception(self, trainer, pl_module, exception: BaseException) -> None:
        self.request.restore()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if self.stopped_by is not None or trainer.fast_dev_run or trainer.should_stop:
            return  # should_stop: the last iteration, the run ends now anyway
        if trainer.world_size > 1 and pl_module.iteration % self.check_every != 0:
            return  # the ranks compare notes every check_every iterations only
        self._stop_if_asked(trainer, pl_module, start_validation=_validation_due(trainer))

    def on_validation_end(self, trainer, pl_module) -> None:
        if (
            trainer.sanity_checking
            or self.stopped_by is not None
            or trainer.should_stop
            or trainer.fast_dev_run
        ):
            return
        self._stop_if_asked(trainer, pl_module, start_validation=False)

    def _stop_if_asked(self, trainer, pl_module, start_validation: bool) -> None:
        signum = max_across_ranks(
            trainer, self.request.signum or 0
        )  # the same answer on every rank
        if not signum:
            return
        self.stopped_by, self.stopped_at = signum, pl_module.iteration
        trainer.should_stop = True
        if not start_validation:
            # Lightning validates before honouring should_stop (as for early stopping); a stop
            # asked from outside skips a validation that was not due at this iteration anyway.
            trainer.limit_val_batches = 0


def _validation_due(trainer) -> bool:
    """Whether Lightning validates after this training batch (`val_check_interval` batches)."""
    every = trainer.val_check_batch
    if not isinstance(every, int) or every <= 0:
        return False
    return (trainer.fit_loop.epoch_loop.total_batch_idx + 1) % every == 0


def take_over_signal_handling(trainer) -> None:
    """Keep Lightning's signal handling out of this fit: `GracefulStop` has the handlers.

    Lightning's `_SignalConnector` would put its SIGTERM handler in front of ours (it ends the run
    with exit code 0 and nothing saved, and under DDP broadcasts from inside the handler), and its
    training loop broadcasts that handler's flag at every DDP iteration. Both are private parts of
    Lightning 2.6; when a later Lightning lacks them, that is said once and training goes on.
    """
    connector = getattr(trainer, "_signal_connector", None)
    if connector is not None and hasattr(connector, "register_signal_handlers"):
        connector.register_signal_handlers = lambda: None
    else:
        log.warning(
            "this Lightning version has no _SignalConnector: its own signal handlers may run too"
        )
    epoch_loop = trainer.fit_loop.epoch_loop
    if hasattr(epoch_loop, "_broadcast_sigterm_tensor"):
        epoch_loop._broadcast_sigterm_tensor = lambda: None
