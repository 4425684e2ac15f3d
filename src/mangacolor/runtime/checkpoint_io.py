"""Lightning checkpoint IO that writes atomically and loads only plain tensors and containers.

Every checkpoint mangacolor reads goes through `safe_torch_load` (torch.load with
weights_only=True): ours (`load_generator`) and Lightning's resume (`trainer.fit(ckpt_path=...)`
calls `AtomicCheckpointIO.load_checkpoint`, whatever `weights_only` Lightning asks for). A file
whose pickle names anything beyond tensors and plain containers -- which could run code when
unpickled -- is refused before any of it runs.
"""

from __future__ import annotations

import os
import pickle
import re
from pathlib import Path
from typing import Any

import torch
from lightning.pytorch.plugins.io import TorchCheckpointIO

from mangacolor.runtime.atomic import atomic_write
from mangacolor.runtime.disk_space import tensor_bytes


class UnsafeCheckpoint(Exception):
    """A checkpoint refused: it holds more than weights (arbitrary pickled objects) or is damaged."""


class DamagedCheckpoint(UnsafeCheckpoint):
    """A checkpoint that is truncated, corrupted or not a torch checkpoint at all."""


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def safe_torch_load(path: os.PathLike | str, map_location: Any = "cpu", mmap: bool = False) -> Any:
    """torch.load with weights_only=True: a pickle that would run code is refused, unrun.

    `mmap=True` maps the tensors instead of reading them: a look at a 1 GB checkpoint's counters
    costs a few kB of reading.
    """
    try:
        return torch.load(path, map_location=map_location, weights_only=True, mmap=mmap)
    except FileNotFoundError:
        raise
    except pickle.UnpicklingError as error:
        operand = re.search(r"Unsupported operand \d+", str(error))
        if "Weights only load failed" not in str(error) or operand:
            # Bytes that are no pickle torch reads (text, an LFS pointer, a raw pickle): nothing ran.
            detail = operand.group(0) if operand else _first_line(error)
            raise DamagedCheckpoint(
                f"{path}: damaged or not a torch checkpoint ({detail})"
            ) from None
        found = re.search(r"Unsupported global: GLOBAL (\S+)", str(error))
        what = f" (it asks for {found.group(1)})" if found else ""
        raise UnsafeCheckpoint(
            f"{path}: refused to load: it holds pickled Python objects beyond plain weights{what}, which "
            f"could run code when loaded. mangacolor loads checkpoints with torch.load(weights_only=True) "
            f"only; use checkpoints written by mangacolor, or re-save the weights from a trusted source."
        ) from None
    except Exception as error:  # noqa: BLE001
        # torch says "failed finding central directory" for a truncated zip, EOFError for an empty
        # file, KeyError for text, others for other junk: all mean "not a complete checkpoint".
        raise DamagedCheckpoint(
            f"{path}: damaged, truncated or not a torch checkpoint ({type(error).__name__}: {_first_line(error)})"
        ) from None


class AtomicCheckpointIO(TorchCheckpointIO):
    """Writes through `atomic_write` (a killed write never leaves a partial file under the final
    name; a full disk or read-only folder raises `DiskWriteError`, saying so in one line) and
    reads through `safe_torch_load`."""

    def save_checkpoint(self, checkpoint: dict, path, storage_options=None) -> None:
        # The tensors' bytes: what a full disk's message says the file needs.
        with atomic_write(path, size_hint=tensor_bytes(checkpoint)) as handle:
            torch.save(checkpoint, handle)

    def load_checkpoint(self, path, map_location=None, weights_only=None) -> dict:
        # `weights_only` from Lightning is ignored on purpose: it is always True here.
        return safe_torch_load(path, map_location=map_location or "cpu")


class SavesCheckpoints:
    """What a run's checkpoint callback is, to the modules that may not import callbacks: the
    LightningModule finds it among the trainer's callbacks by this class, to name the checkpoint
    a failed run resumes from. `last_checkpoint` is the newest one saved (None before the first)."""

    last_checkpoint: Path | None = None
