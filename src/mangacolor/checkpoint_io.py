"""Lightning checkpoint IO that writes atomically and loads only plain tensors and containers."""

from __future__ import annotations

import os
from typing import Any

import torch
from lightning.pytorch.plugins.io import TorchCheckpointIO

from mangacolor.atomic import atomic_write


class UnsafeCheckpoint(Exception):
    """A checkpoint that holds more than weights (arbitrary pickled objects) or is damaged."""


def safe_torch_load(path: os.PathLike | str, map_location: Any = "cpu") -> Any:
    """torch.load with weights_only=True: a pickle that would run code is refused."""
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except FileNotFoundError:
        raise
    except Exception as error:  # noqa: BLE001 - torch raises several types here
        raise UnsafeCheckpoint(
            f"{path}: refused to load: not a plain-weights checkpoint or damaged ({type(error).__name__}: "
            f"{str(error).splitlines()[0] if str(error) else ''})"
        ) from None


class AtomicCheckpointIO(TorchCheckpointIO):
    def save_checkpoint(self, checkpoint: dict, path, storage_options=None) -> None:
        with atomic_write(path) as handle:
            torch.save(checkpoint, handle)

    def load_checkpoint(self, path, map_location=None, weights_only=None) -> dict:
        return safe_torch_load(path, map_location=map_location or "cpu")
