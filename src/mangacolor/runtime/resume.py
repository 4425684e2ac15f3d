"""Which checkpoint a run continues from, found before Lightning sees `ckpt_path`.

Lightning's own `ckpt_path="last"` looks for a ModelCheckpoint callback, which mangacolor does
not use, and its SLURM resume looks for `hpc_ckpt_N.ckpt` files, which mangacolor does not write.
So mangacolor resolves these itself and hands Lightning a plain file:
- `newest_checkpoint(folder)`: the checkpoint of a run folder saved at the highest iteration
  (`last.ckpt` on a tie), read from the files' own counters, not their names or times;
- `continues_launch(folder, environ)`: whether this process is a restart (SLURM requeue,
  torchrun elastic restart) of the launch that owns the folder, recorded in its `launch.json`;
- `resume_command(run_dir)`: the command line a user types to continue a run in its folder.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shlex
from collections.abc import Mapping
from pathlib import Path

from hydra.core.hydra_config import HydraConfig

from mangacolor.runtime.atomic import atomic_write
from mangacolor.runtime.checkpoint_io import UnsafeCheckpoint, safe_torch_load
from mangacolor.runtime.overrides import quote_path_overrides
from mangacolor.runtime.run_folders import launcher_run_name, restart_count

log = logging.getLogger(__name__)

LAUNCH_RECORD = "launch.json"  # beside the checkpoints: which launch wrote them
# On equal iterations: last.ckpt is the one written on every stop, then the numbered ones.
_TIE_ORDER = {"last.ckpt": 0, "best.ckpt": 2}
_PLAIN = re.compile(r"[A-Za-z0-9_./:-]+")  # Hydra takes these unquoted


def checkpoint_files(folder: os.PathLike | str) -> list[Path]:
    """The checkpoints (`*.ckpt`, `*.pt`) in `folder`, without temporary files; [] if none or no folder."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    return sorted(
        p for p in folder.iterdir() if p.suffix in (".ckpt", ".pt") and not p.name.startswith(".")
    )


def checkpoint_iteration(path: os.PathLike | str) -> int:
    """The iteration a mangacolor training checkpoint was saved at, read without loading its tensors."""
    payload = safe_torch_load(path, mmap=True)
    try:
        return int(payload["mangacolor"]["iteration"])
    except (KeyError, TypeError, ValueError):
        raise UnsafeCheckpoint(
            f"{path}: not a mangacolor training checkpoint (no iteration count)"
        ) from None


def newest_checkpoint(folder: os.PathLike | str) -> tuple[Path, int] | None:
    """The checkpoint in `folder` saved at the highest iteration, with that iteration; None if none.

    A damaged or foreign `.ckpt` is skipped with a warning: an older good one is better than none.
    """
    best: tuple[int, int, Path] | None = None
    for path in checkpoint_files(folder):
        if path.suffix != ".ckpt":
            continue
        try:
            iteration = checkpoint_iteration(path)
        except (UnsafeCheckpoint, OSError, RuntimeError) as error:
            log.warning("skipping %s: %s", path, error)
            continue
        key = (iteration, -_TIE_ORDER.get(path.name, 1), path)
        if best is None or key[:2] > best[:2]:
            best = key
    return (best[2], best[0]) if best else None


def record_launch(folder: os.PathLike | str, environ: Mapping[str, str]) -> None:
    """Note in `folder` which launch writes its checkpoints (None for a run started by hand)."""
    record = {"launch": launcher_run_name(environ), "restarts": restart_count(environ)}
    with atomic_write(Path(folder) / LAUNCH_RECORD) as handle:
        handle.write((json.dumps(record) + "\n").encode())


def recorded_launch(folder: os.PathLike | str) -> str | None:
    try:
        return json.loads((Path(folder) / LAUNCH_RECORD).read_text()).get("launch")
    except (OSError, ValueError, AttributeError):
        return None


def continues_launch(folder: os.PathLike | str, environ: Mapping[str, str]) -> bool:
    """True when this process is a restart (a requeue, an elastic restart) of the launch that
    wrote the checkpoints in `folder`: then it continues them by itself."""
    launch = launcher_run_name(environ)
    return launch is not None and restart_count(environ) > 0 and recorded_launch(folder) == launch


def resume_command(run_dir: os.PathLike | str) -> str:
    """This run's command line, continuing in `run_dir` from its newest checkpoint."""

    def key(override: str) -> str:
        return override.split("=", 1)[0].lstrip("+~")

    try:
        overrides = HydraConfig.get().overrides
        given = [o for o in overrides.task if key(o) != "ckpt_path"]
        # Hydra adds hydra.mode itself; the run folder is given below.
        given += [o for o in overrides.hydra if key(o) not in ("hydra.run.dir", "hydra.mode")]
    except ValueError:  # called without @hydra.main: the overrides are not known
        given = ["<your overrides>"]
    folder = f"hydra.run.dir={run_dir}"
    if not _PLAIN.fullmatch(str(run_dir)):
        folder = quote_path_overrides([folder], ["hydra.run.dir"])[0]
    return shlex.join(["mangacolor-train", *given, folder, "ckpt_path=last"])
