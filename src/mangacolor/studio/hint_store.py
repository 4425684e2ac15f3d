"""Each page's hints as hint files under `output/hints/`, in the one format colorize reads.

The browser sends a page's marks as the hint file's own JSON; they are parsed by the one reader
(`parse_hint_file`), so the studio accepts exactly what colorize
would, and written atomically with `write_hint_file`. A page whose hints are a painted `.png`
layer (from a paint program) is shown with them but not edited: its marks would need a `.json`
beside it, and a page with both is refused by colorize.
"""

from __future__ import annotations

import json
from pathlib import Path, PurePosixPath
from typing import Any

from mangacolor.hints.marks import Dot, PageHints
from mangacolor.inference.hint_files import (
    HINT_FILE_VERSION,
    HintFileError,
    hint_file_for,
    parse_hint_file,
    read_hint_file,
    write_hint_file,
)

HINTS = "hints"  # the folder under output


class HintsRefused(ValueError):
    """Hints the studio cannot take or keep; str() is the message the page shows."""


def hint_path(hints_root: Path, relative: PurePosixPath) -> Path:
    """Where a page's `.json` hint file goes; always inside `hints_root`."""
    path = hints_root.joinpath(*relative.with_suffix(".json").parts)
    if not path.resolve().is_relative_to(hints_root.resolve()):
        raise HintsRefused(f"{relative}: its hint file would lie outside {hints_root}")
    return path


def marks_as_json(hints: PageHints) -> list[dict[str, Any]]:
    """The marks as the hint file writes them (dots and strokes, page pixels)."""
    entries = []
    for mark in hints.marks:
        if isinstance(mark, Dot):
            entries.append({"x": mark.x, "y": mark.y, "color": mark.color, "size": mark.size})
        else:
            entries.append(
                {"points": [list(p) for p in mark.points], "color": mark.color, "size": mark.size}
            )
    return entries


def load_hints(
    hints_root: Path, relative: PurePosixPath, page_size: tuple[int, int]
) -> tuple[PageHints, Path | None]:
    """A page's hints and their file (None when it has none yet). Raises HintFileError."""
    path = hint_file_for(hints_root, relative)
    if path is None:
        return PageHints(), None
    return read_hint_file(path, page_size), path


def parse_hints(body: Any, page_size: tuple[int, int]) -> PageHints:
    """The browser's `{"version": 1, "hints": [...]}` -> PageHints, checked by the one reader.
    Raises HintsRefused with the reader's one-line message."""
    if not isinstance(body, dict):
        raise HintsRefused('hints must be {"version": 1, "hints": [...]}')
    body = {"version": body.get("version", HINT_FILE_VERSION), "hints": body.get("hints")}
    try:
        return parse_hint_file(json.dumps(body).encode(), "hints.json", page_size)
    except HintFileError as error:
        raise HintsRefused(str(error)) from None


def save_hints(hints_root: Path, relative: PurePosixPath, hints: PageHints) -> Path:
    """Write a page's marks to its `.json`, atomically; refused for a page hinted by a `.png`
    layer."""
    target = hint_path(hints_root, relative)
    if target.with_suffix(".png").exists():
        raise HintsRefused(
            f"{relative}: its hints are a painted layer ({target.with_suffix('.png').name}); "
            "the studio edits dots and strokes only: move the layer away to edit here"
        )
    return write_hint_file(target, hints)
