"""mangacolor-train: compose the Hydra config, build data, model and trainer, fit, summarise."""

from __future__ import annotations

import logging
import os
import re
import shlex
import signal
import sys
from pathlib import Path
from typing import Any

import hydra
import lightning as L
import torch
from hydra.core.hydra_config import HydraConfig
from lightning.pytorch.callbacks.progress import ProgressBar
from omegaconf import DictConfig

from mangacolor.callbacks import GracefulStop, IterationCheckpoint, TrainingMonitor
from mangacolor.commands.train_checks import check_train_config, check_train_inputs
from mangacolor.commands.user_errors import exit_on_user_error
from mangacolor.models.nonfinite import NonFiniteLoss
from mangacolor.runtime.bundled import config_dir, register_resolvers
from mangacolor.runtime.checkpoint_io import AtomicCheckpointIO
from mangacolor.runtime.config_errors import ConfigError
from mangacolor.runtime.devices import resolve_device, resolve_precision
from mangacolor.runtime.disk_space import DiskWriteError
from mangacolor.runtime.instantiate import instantiate
from mangacolor.runtime.overrides import quote_path_overrides
from mangacolor.runtime.resume import checkpoint_files
from mangacolor.runtime.slurm import requeue_job, slurm_environment
from mangacolor.runtime.stop_signals import describe, exit_code

log = logging.getLogger("mangacolor.train")

def training_device(cfg: DictConfig) -> torch.device:
    """The device Lightning will train on, as far as precision='auto' needs to know."""
    try:
        return resolve_device(cfg.trainer.accelerator)
    except ValueError as error:
        raise ConfigError(f"trainer.accelerator: {error}") from None


def build_trainer(cfg: DictConfig, callbacks: list, loggers: list) -> L.Trainer:
    plugins: list = [AtomicCheckpointIO()]
    stop = _find(callbacks, GracefulStop)
    slurm = slurm_environment(stop.requeue_signal) if stop else None
    if slurm is not None:  # Lightning's SLURM support, told which signal warns of the time limit
        plugins.append(slurm)
    return hydra.utils.instantiate(
        cfg.trainer,
        precision=resolve_precision(cfg.trainer.precision, training_device(cfg)),
        callbacks=callbacks,
        logger=loggers or False,
        plugins=plugins,
    )


def _find(callbacks: list, kind: type):
    return next((c for c in callbacks if isinstance(c, kind)), None)


def train(cfg: DictConfig) -> dict[str, Any]:
    """Train as configured; returns the final training and validation scalars.

    A run stopped by a signal (see `GracefulStop`) returns too, with `stopped_by` set to the
    signal's number, after saving and printing where it stopped and how to resume.
    """
    check_train_config(cfg)
    # Folders and ckpt_path exist, before any page is read or model built; ckpt_path=last, a run
    # folder, or a restarted launch's own folder becomes the checkpoint file to continue from.
    ckpt_path = check_train_inputs(cfg)
    L.seed_everything(cfg.seed, workers=True)
    torch.set_float32_matmul_precision("high")
    datamodule = hydra.utils.instantiate(cfg.data)
    datamodule.setup("fit")  # an empty or unreadable folder fails here, before any model is built
    model = instantiate(cfg.model)  # the model's own rules fail here as the ConfigError they are
    callbacks = [hydra.utils.instantiate(c) for c in (cfg.get("callbacks") or {}).values()]
    if not cfg.trainer.get("enable_progress_bar", True):  # still means no progress display at all
        callbacks = [c for c in callbacks if not isinstance(c, ProgressBar)]
    loggers = [hydra.utils.instantiate(c) for c in (cfg.get("logger") or {}).values()]
    trainer = build_trainer(cfg, callbacks, loggers)
    stop = _find(callbacks, GracefulStop)
    checkpoints = _find(callbacks, IterationCheckpoint)
    run_dir = Path(cfg.paths.run_dir)
    try:
        trainer.fit(model, datamodule=datamodule, ckpt_path=ckpt_path)
    except DiskWriteError as error:
        if not trainer.is_global_zero:
            raise SystemExit(1) from None  # rank 0 says why
        raise DiskWriteError(f"{error}. {_after_disk_error(checkpoints, run_dir)}", error.errno) from None
    except SystemExit:
        # Lightning ends a fit cut by KeyboardInterrupt with sys.exit(1): here, a second Ctrl-C.
        if stop is not None and stop.request.forced:
            if trainer.is_global_zero:
                print(f"mangacolor-train: stopped at once by a second Ctrl-C after iteration {model.iteration}; "
                      f"{_saved_so_far(checkpoints, run_dir)}", flush=True)
            raise KeyboardInterrupt from None
        raise

    monitor = _find(callbacks, TrainingMonitor)
    bad_files = monitor.bad_files if monitor else datamodule.bad_files  # the monitor's holds every rank's
    results = {"iteration": model.iteration, **model.last_train_scalars, **model.last_val_scalars,
               "bad_files": len(bad_files), "run_dir": str(run_dir),
               "stopped_by": stop.stopped_by if stop else None}
    if stop is not None and stop.stopped_by is not None:
        requeued = None
        if stop.requeue_requested and trainer.is_global_zero:
            # Everything is saved. SLURM answers the requeue with a SIGTERM to the job: let it
            # not end this process before it has said so.
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            requeued = requeue_job(os.environ) or True  # True: done; a string: why not
        if trainer.is_global_zero:
            print(stop_line(stop, model.iteration, cfg.train.iterations, checkpoints, run_dir, requeued), flush=True)
    elif trainer.is_global_zero:
        print(summary_line(results, monitor, run_dir), flush=True)
    return results


def stop_line(stop: GracefulStop, iteration: int, total: int, checkpoints: IterationCheckpoint | None,
              run_dir: Path, requeued: bool | str | None) -> str:
    """One line: which signal stopped the run, at which iteration, what was saved, how it goes on."""
    saved = (f"saved {checkpoints.last_checkpoint} and generator.pt" if checkpoints and checkpoints.last_checkpoint
             else "nothing saved (no callbacks.checkpoint)")
    if requeued is True:
        after = (f"SLURM job {os.environ.get('SLURM_JOB_ID')} requeued: it continues in {run_dir} by itself "
                 f"(or now: {resume_command(run_dir)})")
    elif isinstance(requeued, str):
        after = f"The SLURM job was not requeued ({requeued}); resume with: {resume_command(run_dir)}"
    else:
        after = f"Resume with: {resume_command(run_dir)}"
    return f"mangacolor-train: stopped by {describe(stop.stopped_by)} at iteration {iteration} of {total}; {saved}. {after}"


def _saved_so_far(checkpoints: IterationCheckpoint | None, run_dir: Path) -> str:
    if checkpoints is None or not [p for p in checkpoint_files(checkpoints.dirpath) if p.suffix == ".ckpt"]:
        return "nothing was saved"
    return f"the checkpoints saved before are as they were. Resume with: {resume_command(run_dir)}"


def _after_disk_error(checkpoints: IterationCheckpoint | None, run_dir: Path) -> str:
    if checkpoints is None or not [p for p in checkpoint_files(checkpoints.dirpath) if p.suffix == ".ckpt"]:
        return "Free some space (or set paths.output_dir to another disk) and start again"
    return (f"Free some space there and continue from the newest checkpoint with: {resume_command(run_dir)}")


_PLAIN = re.compile(r"[A-Za-z0-9_./:-]+")  # Hydra takes these unquoted


def resume_command(run_dir: Path) -> str:
    """This run's command line, continuing in `run_dir` from its newest checkpoint."""
    def key(override: str) -> str:
        return override.split("=", 1)[0].lstrip("+~")

    try:
        overrides = HydraConfig.get().overrides
        given = [o for o in overrides.task if key(o) != "ckpt_path"]
        given += [o for o in overrides.hydra if key(o) not in ("hydra.run.dir", "hydra.mode")]  # Hydra adds mode
    except ValueError:  # train() called without @hydra.main: the overrides are not known
        given = ["<your overrides>"]
    folder = f"hydra.run.dir={run_dir}"
    if not _PLAIN.fullmatch(str(run_dir)):
        folder = quote_path_overrides([folder], ["hydra.run.dir"])[0]
    return shlex.join(["mangacolor-train", *given, folder, "ckpt_path=last"])


def summary_line(results: dict[str, Any], monitor: TrainingMonitor | None, run_dir: Path) -> str:
    """One line: iterations, speed, then quality led by val dE00 against grey (lower is better),
    dE00 against the B&W page on B&W inputs, the colourfulness ratio, ab-L1 and PSNR."""
    speed = f", {monitor.images_per_second:.1f} img/s" if monitor and monitor.images_per_second else ""
    quality = ""
    if "val/delta_e_2000" in results:
        delta_e = delta_e_label()

        def versus(value: float, baseline: float, name: str) -> str:
            verdict = "better" if value < baseline else "NOT better"
            return f"{value:.2f} vs {name} {baseline:.2f} ({verdict} than {name})"

        parts = [f"val {delta_e} {versus(results['val/delta_e_2000'], results['val/grey_delta_e_2000'], 'grey')}"]
        if "val/bw_inputs/delta_e_2000" in results:  # the same images: those whose input is a B&W page
            bw = versus(results["val/bw_inputs/delta_e_2000"], results["val/bw_delta_e_2000"], "the B&W page")
            parts.append(f"on B&W inputs {delta_e} {bw}")
        parts.append(f"colourfulness {results['val/colourfulness_ratio']:.2f} of the truth's (grey 0)")
        parts.append(f"ab-L1 {results['val/ab_l1']:.2f} vs grey {results['val/grey_ab_l1']:.2f} (Lab units), "
                     f"PSNR {results['val/psnr']:.2f} vs {results['val/grey_psnr']:.2f} dB")
        quality = "; " + "; ".join(parts)
    bad = f"; {results['bad_files']} unreadable pages skipped" if results["bad_files"] else ""
    return (f"mangacolor-train: {results['iteration']} iterations{speed}{quality}{bad}. "
            f"Run folder {run_dir} (checkpoints/, images/); dashboards: tensorboard --logdir {run_dir}")


def delta_e_label() -> str:
    """The label "ΔE00", or "dE00" where standard output cannot encode the Greek letter (a Latin-1 terminal)."""
    try:
        "Δ".encode(getattr(sys.stdout, "encoding", None) or "ascii")
    except (UnicodeEncodeError, LookupError):
        return "dE00"
    return "ΔE00"


def main() -> None:
    register_resolvers()

    @hydra.main(config_path=str(config_dir()), config_name="train", version_base="1.3")
    def _main(cfg: DictConfig) -> float | None:
        with exit_on_user_error("mangacolor-train", NonFiniteLoss, DiskWriteError):
            results = train(cfg)
        if results.get("stopped_by"):
            raise SystemExit(exit_code(results["stopped_by"]))  # 130 for Ctrl-C, 143 for SIGTERM
        return results.get("val/ab_l1")  # for sweepers that optimise

    try:
        _main()
    except KeyboardInterrupt:
        raise SystemExit(exit_code(signal.SIGINT)) from None


if __name__ == "__main__":
    main()
