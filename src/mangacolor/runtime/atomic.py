"""Write files so that a crash never leaves a partial file under the final name."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from mangacolor.runtime.disk_space import is_write_error, write_error


@contextlib.contextmanager
def atomic_write(path: os.PathLike | str, size_hint: int | None = None) -> Iterator[BinaryIO]:
    """Open a temporary file beside `path`; on success flush, fsync and rename it over `path`.

    On any error the temporary file is removed and `path` is left as it was. The temporary
    name starts with '.' and ends with '.tmp', so nothing that lists outputs mistakes it for one.
    A full disk, a quota, a read-only folder or an I/O error becomes a `DiskWriteError` naming
    the folder, its free space and `size_hint` (the bytes the file needs, when the caller knows).
    """
    path = Path(path)
    tmp_name = None
    writer = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp_name, handle = _open_temporary(path)
        with handle:
            writer = _ErrorRecordingWriter(handle)
            yield writer
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, path)
    except BaseException as error:
        if tmp_name is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp_name)
        # torch.save reports a failed write as "RuntimeError: ... unexpected pos": the OSError
        # underneath is the one the writer saw.
        cause = writer.error if writer is not None and writer.error is not None else error
        if is_write_error(cause):
            needed = size_hint or (writer.bytes_written if writer is not None else None)
            raise write_error(path, cause, needed) from error
        raise
    _fsync_dir(path.parent)


def _open_temporary(path: Path) -> tuple[str, BinaryIO]:
    """A new hidden temporary file beside `path`: its name and its handle, open for writing."""
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        # mkstemp makes the file private (0600); give it the permissions open() would have.
        os.chmod(tmp_name, 0o666 & ~_UMASK)
        return tmp_name, os.fdopen(fd, "wb")
    except BaseException:
        os.close(fd)
        os.unlink(tmp_name)
        raise


class _ErrorRecordingWriter:
    """The temporary file, passed through, noting the bytes written and the first OSError."""

    def __init__(self, handle: BinaryIO):
        self._handle = handle
        self.bytes_written = 0
        self.error: OSError | None = None

    def write(self, data) -> int:
        try:
            written = self._handle.write(data)
        except OSError as error:
            self.error = self.error or error
            raise
        self.bytes_written += written or 0
        return written

    def flush(self) -> None:
        try:
            self._handle.flush()
        except OSError as error:
            self.error = self.error or error
            raise

    def __getattr__(self, name: str):
        return getattr(self._handle, name)


def _read_umask() -> int:
    mask = os.umask(0)  # the only way to read it is to set it: once, at import, before any threads
    os.umask(mask)
    return mask


_UMASK = _read_umask()


def _fsync_dir(folder: Path) -> None:
    # The rename itself is durable only once the folder's entry is on disk.
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
