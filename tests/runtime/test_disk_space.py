"""A write that meets a full disk, a quota or a read-only folder says so in one line."""

from __future__ import annotations

import errno

import pytest
import torch
from helpers.interrupt_probe import FullDiskFile

from mangacolor.runtime import atomic, disk_space
from mangacolor.runtime.atomic import atomic_write
from mangacolor.runtime.disk_space import (
    DiskWriteError,
    size_text,
    tensor_bytes,
    write_error,
)


def full_disk_after(monkeypatch, room: int, code: int = errno.ENOSPC) -> None:
    """Every temporary file atomic_write opens meets the error `code` after `room` bytes."""
    real_open = atomic._open_temporary

    def open_temporary(path):
        tmp_name, handle = real_open(path)
        return tmp_name, FullDiskFile(handle, room, code)

    monkeypatch.setattr(atomic, "_open_temporary", open_temporary)


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        (errno.ENOSPC, "No space left on device"),
        (errno.EDQUOT, "Disk quota exceeded"),
        (errno.EROFS, "Read-only file system"),
        (errno.EIO, "Input/output error"),
    ],
)
def test_torch_save_meeting_a_write_error_becomes_one_clear_line(
    tmp_path, monkeypatch, code, reason
):
    monkeypatch.setattr(disk_space, "free_bytes", lambda folder: 12_345_678)
    (tmp_path / "last.ckpt").write_bytes(b"the good one")
    weights = {"w": torch.zeros(250_000)}  # 1 MB of tensors
    full_disk_after(monkeypatch, room=4096, code=code)
    # torch turns the OSError into "RuntimeError: ... unexpected pos"; the line still says why.
    with (
        pytest.raises(DiskWriteError) as caught,
        atomic_write(tmp_path / "last.ckpt", size_hint=tensor_bytes(weights)) as handle,
    ):
        torch.save(weights, handle)
    assert str(caught.value) == (
        f"could not write last.ckpt in {tmp_path}: {reason} (12.35 MB free there, about "
        f"1.00 MB needed); nothing half-written was left and the files already there are intact"
    )
    assert caught.value.errno == code
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.ckpt"]
    assert (tmp_path / "last.ckpt").read_bytes() == b"the good one"


def test_without_a_size_the_bytes_tried_are_the_size_needed(tmp_path, monkeypatch):
    full_disk_after(monkeypatch, room=10)
    with (
        pytest.raises(DiskWriteError, match=r"about 10 B needed"),
        atomic_write(tmp_path / "val_0000001.png") as handle,
    ):
        handle.write(b"0123456789")
        handle.write(b"more than the disk holds")


def test_a_read_only_folder_fails_before_writing_with_the_same_line(tmp_path, monkeypatch):
    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr("tempfile.mkstemp", read_only)
    with (
        pytest.raises(
            DiskWriteError,
            match=f"could not write generator.pt in {tmp_path}: Read-only file system",
        ),
        atomic_write(tmp_path / "generator.pt") as handle,
    ):
        handle.write(b"never")


def test_other_errors_are_left_alone(tmp_path):
    with pytest.raises(FileNotFoundError), atomic_write(tmp_path / "a.bin"):
        raise FileNotFoundError("not a disk problem")


def test_sizes_read_as_people_read_them(tmp_path):
    assert [size_text(n) for n in (None, 12, 4_300, 1_100_000_000)] == [
        "unknown",
        "12 B",
        "4.30 kB",
        "1.10 GB",
    ]
    assert (
        tensor_bytes({"a": torch.zeros(10), "b": [torch.zeros(2, dtype=torch.float64)], "c": 3})
        == 56
    )
    # A folder not made yet is measured on its nearest existing parent: the same file system.
    assert disk_space.free_bytes(
        tmp_path / "runs" / "new" / "checkpoints"
    ) == disk_space.free_bytes(tmp_path)
    assert "about" not in str(
        write_error(tmp_path / "x", OSError(errno.ENOSPC, "x"), None)
    )  # size unknown
