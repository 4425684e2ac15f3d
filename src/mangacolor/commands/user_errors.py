"""The one way a command ends on a mistake of the user's: a single line, not a traceback.

Each command lists the exceptions that mean "your config, file or folder is wrong" (their messages
name what to change); anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from mangacolor.data.files import printable
from mangacolor.runtime.checkpoint_io import UnsafeCheckpoint
from mangacolor.runtime.config_errors import ConfigError

# Every command: a bad value, a missing file, a checkpoint that could run code.
COMMON_USER_ERRORS: tuple[type[BaseException], ...] = (
    ConfigError,
    FileNotFoundError,
    UnsafeCheckpoint,
)


@contextlib.contextmanager
def exit_on_user_error(command: str, *more: type[BaseException]) -> Iterator[None]:
    """Turn the user's errors into `SystemExit("<command>: error: <message>")`."""
    try:
        yield
    except (*COMMON_USER_ERRORS, *more) as error:
        raise SystemExit(f"{command}: error: {printable(str(error))}") from None
