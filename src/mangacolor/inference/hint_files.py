"""Hint files, the one interface for a user's colour hints (issue 22): read, written, found.

Two kinds, for one page each:
- `.json`: `{"version": 1, "hints": [{"x": 120, "y": 340, "color": "#d9a066", "size": 7},
  {"points": [[10, 12], [40, 30]], "color": "#3a5fcd", "size": 5}]}`: dots (x, y the centre in the
  page's own pixels, origin top left, a whole number a pixel's centre; size the square's side in
  page pixels) and strokes (a polyline drawn with a square brush of that size), later over earlier;
- `.png`: a hint layer the size of the page, transparent except where the user painted, as any paint
  program saves a layer (what PaintsChainer's page sends). Any PNG with an alpha channel is taken
  (converted to RGBA); one without transparency is refused.

Every problem with a file is one `HintFileError` line, "<file>: <field>: <problem>", naming the
field (`version`, `hints[2].color`, `hints[0].points[3]`, `layer`, ...), so a user finds it at once.
"""

from __future__ import annotations

import io
import json
import math
import os
import warnings
from pathlib import Path, PurePath
from typing import Any

import numpy as np
import torch
from PIL import Image

from mangacolor.hints.marks import HEX_COLOR, Dot, Mark, PageHints, Stroke
from mangacolor.runtime.atomic import atomic_write

HINT_FILE_VERSION = 1
HINT_SUFFIXES = (".json", ".png")
DOT_FIELDS = ("x", "y", "color", "size")
STROKE_FIELDS = ("points", "color", "size")


class HintFileError(ValueError):
    """A hint file that cannot be used; the message is one line: "<file>: <field>: <problem>"."""

    def __init__(self, path: os.PathLike | str, field: str, problem: str):
        self.path, self.field, self.problem = str(path), field, problem
        super().__init__(f"{path}: {field}: {problem}")


def read_hint_file(path: os.PathLike | str, page_size: tuple[int, int]) -> PageHints:
    """A `.json` or `.png` hint file -> the page's hints, checked against the page's size
    ((height, width)). Raises HintFileError naming the file and the field."""
    path = Path(path)
    if path.suffix.lower() not in HINT_SUFFIXES:
        raise HintFileError(path, "file", f"not a hint file: hint files end in {' or '.join(HINT_SUFFIXES)}")
    try:
        data = path.read_bytes()
    except OSError as error:
        raise HintFileError(path, "file", f"cannot be read ({error.strerror or error})") from None
    return parse_hint_file(data, path, page_size)


def parse_hint_file(data: bytes, name: os.PathLike | str, page_size: tuple[int, int]) -> PageHints:
    """A hint file's bytes (its kind from `name`'s suffix, which also names it in errors) -> hints."""
    if PurePath(name).suffix.lower() == ".png":
        return PageHints(layer=_parse_layer(data, name, page_size))
    return PageHints(_parse_json(data, name, page_size))


def write_hint_file(path: os.PathLike | str, hints: PageHints) -> Path:
    """Write `hints` atomically: marks as `.json`, a painted layer as `.png` (the suffix of `path`
    must match what the hints hold; ValueError otherwise). Returns the path."""
    path = Path(path)
    suffix = path.suffix.lower()
    if hints.layer is not None:
        if suffix != ".png":
            raise ValueError(f"{path}: a painted hint layer is written as .png, not {suffix or 'no suffix'}")
        buffer = io.BytesIO()
        Image.fromarray(hints.layer.permute(1, 2, 0).contiguous().numpy(), mode="RGBA").save(buffer, format="PNG")
        data = buffer.getvalue()
    else:
        if suffix != ".json":
            raise ValueError(f"{path}: dots and strokes are written as .json, not {suffix or 'no suffix'}")
        data = format_hint_json(hints.marks).encode("utf-8")
    with atomic_write(path, size_hint=len(data)) as handle:
        handle.write(data)
    return path


def format_hint_json(marks: tuple[Mark, ...]) -> str:
    """The `.json` text of a page's marks, one hint a line."""
    lines = [json.dumps(_mark_record(mark)) for mark in marks]
    body = ",\n  ".join(lines)
    return f'{{"version": {HINT_FILE_VERSION}, "hints": [\n  {body}\n]}}\n' if lines else \
        f'{{"version": {HINT_FILE_VERSION}, "hints": []}}\n'


def hint_file_for(hints_root: os.PathLike | str, relative_page_path: os.PathLike | str) -> Path | None:
    """The hint file for a page: `<hints_root>/<relative path with .json or .png for its suffix>`,
    or None when there is none. A page with both raises HintFileError (which one is meant?)."""
    relative = PurePath(relative_page_path)
    if relative.is_absolute():
        raise ValueError(f"a page's path relative to its input folder, not {relative}")
    found = [path for path in (Path(hints_root) / relative.with_suffix(s) for s in HINT_SUFFIXES) if path.is_file()]
    if len(found) > 1:
        raise HintFileError(found[0], "file", f"{found[0].name} and {found[1].name} both give hints for "
                            f"the page {relative.as_posix()}; keep one")
    return found[0] if found else None


# ---- .json ------------------------------------------------------------------------------------


def _mark_record(mark: Mark) -> dict[str, Any]:
    if isinstance(mark, Dot):
        return {"x": _number(mark.x), "y": _number(mark.y), "color": mark.color, "size": _number(mark.size)}
    return {"points": [[_number(x), _number(y)] for x, y in mark.points], "color": mark.color,
            "size": _number(mark.size)}


def _number(value: float) -> int | float:
    """Whole numbers written without ".0", as a person would type them."""
    return int(value) if float(value).is_integer() else float(value)


def _parse_json(data: bytes, name: os.PathLike | str, page_size: tuple[int, int]) -> tuple[Mark, ...]:
    try:
        document = json.loads(data.decode("utf-8-sig"))
    except UnicodeDecodeError:
        raise HintFileError(name, "json", "not UTF-8 text") from None
    except json.JSONDecodeError as error:
        raise HintFileError(name, "json", f"not valid JSON: {error.msg} at line {error.lineno} "
                            f"column {error.colno}") from None
    if not isinstance(document, dict):
        raise HintFileError(name, "json", f'an object {{"version": {HINT_FILE_VERSION}, "hints": [...]}} is '
                            f"expected, not {_kind(document)}")
    _check_fields(document, ("version", "hints"), name, "", "a hint file")
    version = document["version"]
    if isinstance(version, bool) or version != HINT_FILE_VERSION:
        raise HintFileError(name, "version", f"{json.dumps(version)} is not a hint file version this "
                            f"mangacolor reads ({HINT_FILE_VERSION})")
    hints = document["hints"]
    if not isinstance(hints, list):
        raise HintFileError(name, "hints", f"a list of dots and strokes is expected, not {_kind(hints)}")
    return tuple(_parse_mark(hint, name, f"hints[{i}]", page_size) for i, hint in enumerate(hints))


def _parse_mark(hint: Any, name, field: str, page_size: tuple[int, int]) -> Mark:
    if not isinstance(hint, dict):
        raise HintFileError(name, field, f"a dot or a stroke (an object) is expected, not {_kind(hint)}")
    is_stroke = "points" in hint and not ({"x", "y"} & hint.keys())
    is_dot = not is_stroke and "points" not in hint and bool({"x", "y"} & hint.keys())
    if not (is_dot or is_stroke):
        raise HintFileError(name, field, f"neither a dot ({', '.join(DOT_FIELDS)}) nor a stroke "
                            f"({', '.join(STROKE_FIELDS)})")
    _check_fields(hint, DOT_FIELDS if is_dot else STROKE_FIELDS, name, f"{field}.", "a dot" if is_dot else "a stroke")
    color = _color(hint["color"], name, f"{field}.color")
    size = _size(hint["size"], name, f"{field}.size", page_size)
    if is_dot:
        x, y = _point([hint["x"], hint["y"]], name, f"{field}.x", f"{field}.y", page_size)
        return Dot(x, y, color, size)
    points = hint["points"]
    if not isinstance(points, list) or not points:
        raise HintFileError(name, f"{field}.points", f"a list of [x, y] points (at least one) is expected, "
                            f"not {_kind(points)}")
    return Stroke(tuple(_point(p, name, f"{field}.points[{i}]", None, page_size) for i, p in enumerate(points)),
                  color, size)


def _check_fields(record: dict, fields: tuple[str, ...], name, prefix: str, what: str) -> None:
    for field in fields:
        if field not in record:
            raise HintFileError(name, f"{prefix}{field}", f"missing ({what} has {', '.join(fields)})")
    for field in record:
        if field not in fields:
            raise HintFileError(name, f"{prefix}{field}", f"unknown field ({what} has {', '.join(fields)})")


def _point(value: Any, name, field: str, y_field: str | None, page_size: tuple[int, int]) -> tuple[float, float]:
    """An [x, y] inside the page: 0 <= x <= width - 1, 0 <= y <= height - 1 (pixel centres)."""
    if not isinstance(value, list) or len(value) != 2:
        raise HintFileError(name, field, f"a point [x, y] is expected, not {json.dumps(value)}")
    height, width = page_size
    checked = []
    for coordinate, axis_field, limit, axis in zip(value, (field, y_field or field), (width, height), "xy"):
        if not _is_number(coordinate):
            raise HintFileError(name, axis_field, f"{axis} must be a number of page pixels, not {json.dumps(coordinate)}")
        if not 0 <= coordinate <= limit - 1:
            where = f"{json.dumps(coordinate)}" if y_field else f"[{', '.join(json.dumps(v) for v in value)}]"
            raise HintFileError(name, axis_field, f"{where} is outside the page ({axis} from 0 to {limit - 1} on "
                                f"a page of {width}x{height} pixels)")
        checked.append(float(coordinate))
    return checked[0], checked[1]


def _color(value: Any, name, field: str) -> str:
    if not isinstance(value, str) or not HEX_COLOR.fullmatch(value):
        raise HintFileError(name, field, f"a colour is written '#rrggbb' (e.g. '#d9a066'), not {json.dumps(value)}")
    return value


def _size(value: Any, name, field: str, page_size: tuple[int, int]) -> float:
    largest = max(page_size)
    if not _is_number(value) or not 0 < value <= largest:
        raise HintFileError(name, field, f"the square's side in page pixels, above 0 and at most the page's "
                            f"longer side ({largest}), not {json.dumps(value)}")
    return float(value)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _kind(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "true/false", type(None): "null"}.get(
        type(value), "a number")


# ---- .png -------------------------------------------------------------------------------------


def _parse_layer(data: bytes, name, page_size: tuple[int, int]) -> torch.Tensor:
    """A PNG hint layer -> uint8 (4, H, W) RGBA, the page's size."""
    height, width = page_size
    try:
        with warnings.catch_warnings():  # as large as the page, which was decoded already
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            if image.format != "PNG":
                raise HintFileError(name, "png", f"a {image.format or 'non-PNG'} image; a hint layer is a PNG")
            if image.size != (width, height):
                raise HintFileError(name, "layer", f"{image.size[0]}x{image.size[1]} pixels, but the page is "
                                    f"{width}x{height}: a hint layer is the page's size")
            if not _has_alpha(image):
                raise HintFileError(name, "layer", f"a {image.mode} image without transparency; a hint layer is "
                                    "RGBA, transparent except where painted")
            image.load()
            rgba = image.convert("RGBA")
    except HintFileError:
        raise
    except Exception as error:  # noqa: BLE001 - Pillow raises many kinds for a damaged file
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise HintFileError(name, "png", f"cannot be read as an image ({reason})") from None
    return torch.from_numpy(np.asarray(rgba).copy()).permute(2, 0, 1).contiguous()


def _has_alpha(image: Image.Image) -> bool:
    return image.mode in ("RGBA", "LA", "RGBa", "La", "PA") or (image.mode in ("P", "L", "RGB") and
                                                                "transparency" in image.info)
