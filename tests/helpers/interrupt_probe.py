"""Test-only callbacks for tests/commands/test_interrupts.py, loaded by the training subprocesses
through `+callbacks.<name>._target_=helpers.interrupt_probe.<Class>` with tests/ on PYTHONPATH.

`PauseAt` makes the moment a signal arrives exact: after iteration N each rank writes
`paused-rank<R>` (holding its pid) and waits until the test, having sent its signals, writes `go`.
`FullDisk` makes one checkpoint write meet a full disk, as `torch.save` would meet it: an
OSError(ENOSPC) from the file's write() half-way through.
"""

from __future__ import annotations

import errno
import os
import time
from pathlib import Path

from lightning.pytorch.callbacks import Callback


class PauseAt(Callback):
    def __init__(self, dirpath: str, iteration: int):
        self.dirpath, self.iteration = Path(dirpath), iteration

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if pl_module.iteration != self.iteration:
            return
        self.dirpath.mkdir(parents=True, exist_ok=True)
        (self.dirpath / f"paused-rank{trainer.global_rank}").write_text(str(os.getpid()))
        deadline = time.monotonic() + 300  # a guard against a hang, not a timing check
        while not (self.dirpath / "go").exists() and time.monotonic() < deadline:
            time.sleep(0.05)


class FullDiskFile:
    """A temporary file on a disk with `room` bytes left (or failing with another `code`)."""

    def __init__(self, handle, room: int, code: int = errno.ENOSPC):
        self._handle, self._room, self._code = handle, room, code

    def write(self, data) -> int:
        if len(data) > self._room:
            self._handle.write(bytes(data[: self._room]))  # what fitted, as a real disk would
            self._room = 0
            raise OSError(self._code, os.strerror(self._code))
        self._room -= len(data)
        return self._handle.write(data)

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self._handle.close()

    def __getattr__(self, name: str):
        return getattr(self._handle, name)


class FullDisk(Callback):
    """From its creation on, writing `file` fails half-way with "no space left", and the file
    system reports `free` bytes free."""

    def __init__(self, file: str, free: int):
        from mangacolor.callbacks import checkpoints
        from mangacolor.runtime import atomic, disk_space

        real_open = atomic._open_temporary

        def open_temporary(path: Path):
            tmp_name, handle = real_open(path)
            if Path(path).name == file:
                return tmp_name, FullDiskFile(handle, room=free)
            return tmp_name, handle

        atomic._open_temporary = open_temporary
        disk_space.free_bytes = checkpoints.free_bytes = lambda folder: free
