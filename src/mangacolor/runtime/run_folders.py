"""One run folder name for every process of a job that torchrun or SLURM started.

Lightning's own DDP start (`trainer=ddp` on one machine) hands rank 0's folder to the processes
it starts. Under torchrun or `srun`, each process composes the Hydra config alone, and a folder
named by the clock could differ by a second between them (or between nodes), scattering one run
over several folders. A name that every process of the job reads from its launcher is the same
everywhere; it names this launch alone (a second `srun` in one job, a requeued job or an elastic
restart gets its own). Should a name still come back (the same --rdzv-id given twice), training
refuses to write over the checkpoints already there (`commands.train_checks.check_checkpoint_folder_is_free`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

TIME_FORMAT = "%Y-%m-%d_%H-%M-%S"  # Hydra's `${now:...}` default in conf/hydra/default.yaml


def _int(environ: Mapping[str, str], key: str, default: int = 0) -> int:
    try:
        return int(environ.get(key, default))
    except ValueError:
        return default


def launcher_run_name(environ: Mapping[str, str]) -> str | None:
    """The job's name from its launcher when several processes were started, else None."""
    run_id = environ.get("TORCHELASTIC_RUN_ID", "")
    # "none" is torchrun's default --rdzv-id: not a name that tells two runs apart.
    if run_id and run_id != "none" and _int(environ, "WORLD_SIZE", 1) > 1:
        restarts = _int(environ, "TORCHELASTIC_RESTART_COUNT")  # an elastic restart of the workers
        return f"torchrun-{run_id}-restart{restarts}" if restarts else f"torchrun-{run_id}"
    job = environ.get("SLURM_JOB_ID")
    if job and "SLURM_STEP_ID" in environ and _int(environ, "SLURM_NTASKS", 1) > 1:
        name = f"slurm-{job}-{environ['SLURM_STEP_ID']}"
        restarts = _int(environ, "SLURM_RESTART_COUNT")
        return f"{name}-requeue{restarts}" if restarts else name
    return None


def run_name(environ: Mapping[str, str], now: dt.datetime | None = None) -> str:
    """The launcher's job name, or the start time for a run started by hand."""
    return launcher_run_name(environ) or (now or dt.datetime.now()).strftime(TIME_FORMAT)
