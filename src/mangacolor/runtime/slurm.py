"""SLURM's warning before a time limit (`#SBATCH --signal=USR1@<seconds>`): save, then requeue.

Lightning's own SLURM support is what decides: under SLURM (as Lightning detects it, and not
inside torchrun, which Lightning prefers) training gets `SLURMEnvironment(auto_requeue=True,
requeue_signal=...)`. Lightning would then handle that signal by saving `hpc_ckpt_N.ckpt` from
inside the signal handler -- possibly in the middle of a backward pass or, under DDP, between
two collectives (Lightning issue #21406) -- and running `scontrol requeue`. mangacolor installs
its recording handler for that signal first (Lightning adds its own only where none is set), saves
`last.ckpt` between two iterations, and then requeues the job as Lightning does (`requeue_job`).
The requeued job comes back to the same run folder and continues from there
(`mangacolor.runtime.resume.continues_launch`).
"""

from __future__ import annotations

import logging
import re
import signal
import subprocess
from collections.abc import Mapping

from lightning.fabric.plugins.environments import (
    SLURMEnvironment,
    TorchElasticEnvironment,
)

log = logging.getLogger(__name__)


def signal_named(name: str | int) -> signal.Signals:
    """'SIGUSR1', 'USR1', 'sigusr1' or 10 -> signal.SIGUSR1; ValueError for anything else."""
    if isinstance(name, int) and not isinstance(name, bool):
        return signal.Signals(name)
    text = str(name).strip().upper()
    text = text if text.startswith("SIG") else f"SIG{text}"
    try:
        return signal.Signals[text]
    except KeyError:
        raise ValueError(f"not a signal name: {name!r} (try SIGUSR1 or SIGUSR2)") from None


def under_slurm() -> bool:
    """Lightning would pick its SLURM environment for this process (torchrun inside SLURM wins)."""
    return not TorchElasticEnvironment.detect() and SLURMEnvironment.detect()


def slurm_environment(requeue_signal: str | None) -> SLURMEnvironment | None:
    """Lightning's SLURM environment with automatic requeue on `requeue_signal`; None outside SLURM
    or when `requeue_signal` is None (then Lightning's own detection applies, without requeue)."""
    if requeue_signal is None or not under_slurm():
        return None
    return SLURMEnvironment(auto_requeue=True, requeue_signal=signal_named(requeue_signal))


def job_to_requeue(environ: Mapping[str, str]) -> str:
    """The id `scontrol requeue` takes: `<array job>_<task>` for an array task, else the job id."""
    array_job = environ.get("SLURM_ARRAY_JOB_ID")
    job = f"{array_job}_{environ['SLURM_ARRAY_TASK_ID']}" if array_job else environ["SLURM_JOB_ID"]
    if not re.fullmatch(r"[0-9_]+", job):
        raise ValueError(f"unexpected SLURM job id {job!r}")
    return job


def requeue_job(environ: Mapping[str, str]) -> str | None:
    """Requeue this SLURM job with `scontrol requeue` (as Lightning's handler does); None when that
    worked, else why not."""
    try:
        job = job_to_requeue(environ)
        result = subprocess.run(
            ["scontrol", "requeue", job], capture_output=True, text=True, timeout=60, check=False
        )
    except (OSError, ValueError, KeyError, subprocess.SubprocessError) as error:
        return f"scontrol requeue could not run: {error}"
    if result.returncode != 0:
        return f"scontrol requeue {job} failed ({result.returncode}): {(result.stderr or result.stdout).strip()}"
    log.info("requeued SLURM job %s", job)
    return None
