"""One run folder name for every process of a launch, and the same name again when the launcher
restarts that launch.

Lightning's own DDP start (`trainer=ddp` on one machine) hands rank 0's folder to the processes
it starts. Under torchrun or SLURM, each process composes the Hydra config alone, and a folder
named by the clock could differ by a second between them (or between nodes), scattering one run
over several folders. A name every process reads from its launcher is the same everywhere:
`torchrun-<rdzv id>`, `slurm-<job id>-<step id>` (`slurm-<job id>` for a batch script that runs
training itself, without srun).

The name leaves out the launcher's restart count on purpose: a requeued SLURM job or an elastic
restart under torchrun comes back to the same folder and continues from its newest checkpoint
(`mangacolor.runtime.resume.continues_launch`). Anything else that meets a folder holding
checkpoints is refused (`training.checks.check_checkpoint_folder_is_free`): a second
`srun` in one job has another step id, and a launch id given twice by hand is not a restart.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

TIME_FORMAT = "%Y-%m-%d_%H-%M-%S"  # Hydra's `${now:...}` default in conf/hydra/default.yaml

# Lightning's SLURM "interactive mode" (SLURMEnvironment.job_name()): a shell in an allocation,
# where training is started by hand, again and again. Those runs are named by the clock.
INTERACTIVE_SLURM_JOB_NAMES = ("bash", "interactive")


def _int(environ: Mapping[str, str], key: str, default: int = 0) -> int:
    try:
        return int(environ.get(key, default))
    except ValueError:
        return default


def launcher_run_name(environ: Mapping[str, str]) -> str | None:
    """The launch's name from torchrun or SLURM, the same in all its processes and restarts; else None."""
    run_id = environ.get("TORCHELASTIC_RUN_ID", "")
    # "none" is torchrun's default --rdzv-id: not a name that tells two launches apart.
    if run_id and run_id != "none":
        return f"torchrun-{run_id}"
    job = environ.get("SLURM_JOB_ID")
    if job and environ.get("SLURM_JOB_NAME") not in INTERACTIVE_SLURM_JOB_NAMES:
        step = environ.get("SLURM_STEP_ID")
        return f"slurm-{job}-{step}" if step is not None else f"slurm-{job}"
    return None


def restart_count(environ: Mapping[str, str]) -> int:
    """How often the launchers have restarted this launch: torchrun's elastic restarts of the
    workers plus SLURM's requeues of the job (by `scontrol requeue`, preemption or a node failure;
    torchrun inside a requeued SLURM job starts again from 0 restarts of its own)."""
    torchrun = (
        _int(environ, "TORCHELASTIC_RESTART_COUNT") if environ.get("TORCHELASTIC_RUN_ID") else 0
    )
    slurm = _int(environ, "SLURM_RESTART_COUNT") if environ.get("SLURM_JOB_ID") else 0
    return torchrun + slurm


def run_name(environ: Mapping[str, str], now: dt.datetime | None = None) -> str:
    """The launcher's name for this launch, or the start time for a run started by hand."""
    return launcher_run_name(environ) or (now or dt.datetime.now()).strftime(TIME_FORMAT)
