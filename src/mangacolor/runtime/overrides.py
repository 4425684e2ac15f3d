"""What the console scripts share on the command line, before Hydra reads it."""

from __future__ import annotations

import re
from collections.abc import Iterable


def quote_path_overrides(args: list[str], keys: Iterable[str]) -> list[str]:
    """Quote the values of the overrides of `keys`, so Hydra's grammar takes any file name as it is.

    Unquoted, Hydra refuses what comic file names are full of: non-ASCII letters, spaces, brackets,
    parentheses, commas (`[Group] 漫画 (Vol 1).cbz`), and would read `${...}` as an interpolation.
    A value the user quoted already is left alone, and so is every other override. A bare `null`
    stays Hydra's null, as for any other key, so a documented `null` default can be typed (a folder
    that is really called null: `./null`).
    """
    keys = frozenset(keys)
    quoted = []
    for arg in args:
        key, sep, value = arg.partition("=")
        if sep and key in keys and value and value[0] not in "'\"" and value != "null":
            # Inside Hydra quotes a backslash escapes only a quote or the closing end; for OmegaConf
            # `\${` is a literal `${` and backslashes just before it are escapes too.
            value = re.sub(r"(\\*)'", lambda m: m.group(1) * 2 + "\\'", value)
            value = re.sub(r"(\\+)$", lambda m: m.group(1) * 2, value)
            value = re.sub(r"(\\*)\$\{", lambda m: m.group(1) * 2 + "\\${", value)
            arg = f"{key}='{value}'"
        quoted.append(arg)
    return quoted
