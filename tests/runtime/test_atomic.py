"""atomic_write: a crash at any moment leaves the old file or the new one, never a partial one."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from mangacolor.runtime.atomic import atomic_write
from mangacolor.runtime.disk_space import DiskWriteError


def test_a_completed_write_replaces_the_file_and_leaves_nothing_else(tmp_path):
    target = tmp_path / "out" / "last.ckpt"  # the folder is made
    for content in (b"first", b"second"):
        with atomic_write(target) as handle:
            handle.write(content)
        assert target.read_bytes() == content
    assert os.listdir(target.parent) == ["last.ckpt"]


def test_an_error_mid_write_keeps_the_old_file_and_removes_the_temporary(tmp_path):
    target = tmp_path / "last.ckpt"
    target.write_bytes(b"good old checkpoint")
    with pytest.raises(RuntimeError, match="disk on fire"):
        with atomic_write(target) as handle:
            handle.write(b"half of a new one")
            raise RuntimeError("disk on fire")
    assert target.read_bytes() == b"good old checkpoint"
    assert os.listdir(tmp_path) == ["last.ckpt"]


KILLED_WRITER = """
import os, signal, sys
from mangacolor.runtime.atomic import atomic_write
from mangacolor.runtime.disk_space import DiskWriteError
with atomic_write(sys.argv[1]) as handle:
    handle.write(b"half of a new checkpoint")
    handle.flush()
    os.kill(os.getpid(), signal.SIGKILL)  # the machine dies mid-write
"""


def test_a_process_killed_mid_write_leaves_the_old_file_and_only_a_hidden_tmp(tmp_path):
    target = tmp_path / "last.ckpt"
    target.write_bytes(b"good old checkpoint")
    result = subprocess.run([sys.executable, "-c", KILLED_WRITER, str(target)], capture_output=True)
    assert result.returncode == -signal.SIGKILL
    assert target.read_bytes() == b"good old checkpoint"
    leftovers = [p.name for p in tmp_path.iterdir() if p != target]
    assert (
        len(leftovers) == 1
        and leftovers[0].startswith(".last.ckpt.")
        and leftovers[0].endswith(".tmp")
    )
    # Nothing that looks for checkpoints or pages mistakes the partial file for one.
    assert [p.name for p in tmp_path.glob("*.ckpt")] == ["last.ckpt"]
    assert Path(leftovers[0]).suffix == ".tmp"


def test_a_full_disk_during_a_checkpoint_write_keeps_the_last_good_one(tmp_path, monkeypatch):
    import errno

    import torch

    from mangacolor.runtime import checkpoint_io

    io = checkpoint_io.AtomicCheckpointIO()
    io.save_checkpoint({"iteration": 1}, tmp_path / "last.ckpt")

    def disk_full(obj, handle):
        handle.write(b"the first megabyte of a checkpoint")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(checkpoint_io.torch, "save", disk_full)
    with pytest.raises(
        DiskWriteError, match=f"could not write last.ckpt in {tmp_path}: No space left on device"
    ):
        io.save_checkpoint({"iteration": 2}, tmp_path / "last.ckpt")
    monkeypatch.undo()
    assert torch.load(tmp_path / "last.ckpt", weights_only=True) == {"iteration": 1}
    assert os.listdir(tmp_path) == ["last.ckpt"]


def test_written_files_get_the_permissions_open_would_give(tmp_path):
    with atomic_write(tmp_path / "out.bin") as handle:
        handle.write(b"x")
    (tmp_path / "plain.bin").write_bytes(b"x")
    assert (tmp_path / "out.bin").stat().st_mode == (tmp_path / "plain.bin").stat().st_mode
