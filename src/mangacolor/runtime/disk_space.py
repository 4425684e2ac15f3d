"""Disk space: what a write failed on, how much room there is, and how much a run's files take.

A full disk, a quota, a read-only mount or a failing drive shows up as an `OSError` from deep
inside `torch.save` or PIL (torch even replaces it by "unexpected pos ..."). `DiskWriteError`
says it in one line instead: the file, the folder, the reason, the free space and the size needed.
"""

from __future__ import annotations

import errno
import os
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

# The errors that mean "this folder cannot take the file" (said in the system's own words, the
# ones a search engine knows: "No space left on device", "Read-only file system", ...).
WRITE_ERRORS = frozenset(
    {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EIO, errno.EFBIG, errno.EACCES, errno.EPERM}
)


class DiskWriteError(OSError):
    """A file could not be written for lack of room or permission, or an I/O error; its message
    names the file, folder, reason, free space and size needed. An OSError still (with `errno`),
    so code that handles failed writes handles this one too."""

    def __init__(self, message: str, errno_code: int | None = None):
        super().__init__(errno_code, message)
        self.message = message

    def __str__(self) -> str:
        return self.message


def is_write_error(error: BaseException | None) -> bool:
    return isinstance(error, OSError) and error.errno in WRITE_ERRORS


def free_bytes(folder: os.PathLike | str) -> int | None:
    """Free bytes for an unprivileged user on the file system holding `folder` (or its nearest
    existing parent); None when that cannot be read."""
    path = Path(folder).absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    try:
        return shutil.disk_usage(path).free
    except OSError:
        return None


def size_text(size: int | None) -> str:
    """1234567 -> '1.23 MB' (decimal units, as `df -H` and file managers show them)."""
    if size is None:
        return "unknown"
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if size >= scale:
            return f"{size / scale:.2f} {unit}"
    return f"{size} B"


def tensor_bytes(obj: Any) -> int:
    """Bytes of the tensors in a (nested) checkpoint-like structure: about its size on disk."""
    if isinstance(obj, torch.Tensor):
        return obj.numel() * obj.element_size()
    if isinstance(obj, Mapping):
        return sum(tensor_bytes(value) for value in obj.values())
    if isinstance(obj, (list, tuple)):
        return sum(tensor_bytes(value) for value in obj)
    return 0


def write_error(path: os.PathLike | str, error: OSError, needed: int | None) -> DiskWriteError:
    """A `DiskWriteError` for `path`, from the `error` the write met."""
    path = Path(path)
    reason = os.strerror(error.errno) if error.errno is not None else str(error)
    need = f", about {size_text(needed)} needed" if needed else ""
    message = (
        f"could not write {path.name} in {path.parent}: {reason} ({size_text(free_bytes(path.parent))} "
        f"free there{need}); nothing half-written was left and the files already there are intact"
    )
    return DiskWriteError(message, error.errno)
