"""The chapter palette: named colours ("hero's hair") kept in `output/palette.json`, so a character
keeps its colours from page to page. Written atomically; a damaged file is reported, never lost."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mangacolor.hints.marks import check_color
from mangacolor.runtime.atomic import atomic_write

PALETTE_FILE = "palette.json"
PALETTE_VERSION = 1
MAX_COLORS = 256
MAX_NAME = 80


class PaletteError(ValueError):
    """A palette that cannot be read or kept; str() is the message the page shows."""


def check_palette(body: Any) -> list[dict[str, str]]:
    """`{"colors": [{"name": ..., "color": "#rrggbb"}]}` -> the colour list, checked."""
    colors = body.get("colors") if isinstance(body, dict) else None
    if not isinstance(colors, list):
        raise PaletteError('palette: colors: must be a list of {"name": ..., "color": "#rrggbb"}')
    if len(colors) > MAX_COLORS:
        raise PaletteError(f"palette: colors: at most {MAX_COLORS}, got {len(colors)}")
    checked = []
    for number, entry in enumerate(colors):
        if not isinstance(entry, dict):
            raise PaletteError(f"palette: colors[{number}]: must be an object with name and color")
        name = entry.get("name")
        if not isinstance(name, str) or not name.strip() or len(name) > MAX_NAME:
            raise PaletteError(
                f"palette: colors[{number}].name: a name of 1 to {MAX_NAME} characters"
            )
        try:
            color = check_color(entry.get("color")).lower()
        except ValueError as error:
            raise PaletteError(f"palette: colors[{number}].color: {error}") from None
        checked.append({"name": name.strip(), "color": color})
    return checked


def read_palette(output: Path) -> list[dict[str, str]]:
    path = output / PALETTE_FILE
    if not path.exists():
        return []
    try:
        return check_palette(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, json.JSONDecodeError) as error:
        raise PaletteError(f"{path}: unreadable ({error}); fix or remove it") from None
    except PaletteError as error:
        raise PaletteError(f"{path}: {error}") from None


def write_palette(output: Path, colors: list[dict[str, str]]) -> Path:
    path = output / PALETTE_FILE
    text = json.dumps({"version": PALETTE_VERSION, "colors": colors}, indent=1, ensure_ascii=False)
    with atomic_write(path) as handle:
        handle.write(text.encode("utf-8") + b"\n")
    return path
