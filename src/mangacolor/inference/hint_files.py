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
        endings = " or ".join(HINT_SUFFIXES)
        raise HintFileError(path, "file", f"not a hint file: hint files end in {endings}")
    try:
        data = path.read_bytes()
    except OSError as error:
        raise HintFileError(path, "file", f"cannot be read ({error.strerror or error})") from None
    return parse_hint_file(data, path, page_size)


def parse_hint_file(data: bytes, name: os.PathLike | str, page_size: tuple[int, int]) -> PageHints:
    """A hint file's bytes -> hints; `name`'s suffix says the kind, and errors name it."""
    if PurePath(name).suffix.lower() == ".png":
        return PageHints(layer=_parse_layer(data, name, page_size))
    return PageHints(_parse_json(data, name, page_size))


def write_hint_file(path: os.PathLike | str, hints: PageHints) -> Path:
    """Write `hints` atomically: marks as `.json`, a painted layer as `.png` (the suffix of `path`
    must match what the hints hold; ValueError otherwise). Returns the path."""
    path = Path(path)
    suffix = path.suffix.lower() or "no suffix"
    if hints.layer is not None:
        if suffix != ".png":
            raise ValueError(f"{path}: a painted hint layer is written as .png, not {suffix}")
        buffer = io.BytesIO()
        pixels = hints.layer.permute(1, 2, 0).contiguous().numpy()
        Image.fromarray(pixels, mode="RGBA").save(buffer, format="PNG")
        data = buffer.getvalue()
    else:
        if suffix != ".json":
            raise ValueError(f"{path}: dots and strokes are written as .json, not {suffix}")
        data = format_hint_json(hints.marks).encode("utf-8")
    with atomic_write(path, size_hint=len(data)) as handle:
        handle.write(data)
    return path


def format_hint_json(marks: tuple[Mark, ...]) -> str:
    """The `.json` text of a page's marks, one hint a line."""
    if not marks:
        return f'{{"version": {HINT_FILE_VERSION}, "hints": []}}\n'
    body = ",\n  ".join(json.dumps(_mark_record(mark)) for mark in marks)
    return f'{{"version": {HINT_FILE_VERSION}, "hints": [\n  {body}\n]}}\n'


def hint_file_for(
    hints_root: os.PathLike | str, relative_page_path: os.PathLike | str
) -> Path | None:
    """The hint file for a page: `<hints_root>/<relative path with .json or .png for its suffix>`,
    or None when there is none. A page with both raises HintFileError (which one is meant?)."""
    relative = PurePath(relative_page_path)
    if relative.is_absolute():
        raise ValueError(f"a page's path relative to its input folder, not {relative}")
    candidates = [Path(hints_root) / relative.with_suffix(suffix) for suffix in HINT_SUFFIXES]
    found = [path for path in candidates if path.is_file()]
    if len(found) > 1:
        both = f"{found[0].name} and {found[1].name}"
        raise HintFileError(
            found[0], "file", f"{both} both give hints for the page {relative.as_posix()}; keep one"
        )
    return found[0] if found else None


# ---- .json ------------------------------------------------------------------------------------


def _mark_record(mark: Mark) -> dict[str, Any]:
    if isinstance(mark, Dot):
        place = {"x": _number(mark.x), "y": _number(mark.y)}
    else:
        place = {"points": [[_number(x), _number(y)] for x, y in mark.points]}
    return {**place, "color": mark.color, "size": _number(mark.size)}


def _number(value: float) -> int | float:
    """Whole numbers written without ".0", as a person would type them."""
    return int(value) if float(value).is_integer() else float(value)


def _parse_json(data: bytes, name, page_size: tuple[int, int]) -> tuple[Mark, ...]:
    try:
        document = json.loads(data.decode("utf-8-sig"))
    except UnicodeDecodeError:
        raise HintFileError(name, "json", "not UTF-8 text") from None
    except json.JSONDecodeError as error:
        raise HintFileError(
            name, "json", f"not valid JSON: {error.msg} at line {error.lineno} column {error.colno}"
        ) from None
    if not isinstance(document, dict):
        expected = f'{{"version": {HINT_FILE_VERSION}, "hints": [...]}}'
        raise HintFileError(
            name, "json", f"an object {expected} is expected, not {_kind(document)}"
        )
    _check_fields(document, ("version", "hints"), name, "", "a hint file")
    version = document["version"]
    if isinstance(version, bool) or version != HINT_FILE_VERSION:
        raise HintFileError(
            name,
            "version",
            f"{json.dumps(version)} is not a hint file version "
            f"this mangacolor reads ({HINT_FILE_VERSION})",
        )
    hints = document["hints"]
    if not isinstance(hints, list):
        raise HintFileError(
            name, "hints", f"a list of dots and strokes is expected, not {_kind(hints)}"
        )
    return tuple(_parse_mark(hint, name, f"hints[{i}]", page_size) for i, hint in enumerate(hints))


def _parse_mark(hint: Any, name, field: str, page_size: tuple[int, int]) -> Mark:
    if not isinstance(hint, dict):
        raise HintFileError(
            name, field, f"a dot or a stroke (an object) is expected, not {_kind(hint)}"
        )
    is_stroke = "points" in hint and not ({"x", "y"} & hint.keys())
    is_dot = "points" not in hint and bool({"x", "y"} & hint.keys())
    if not (is_dot or is_stroke):
        raise HintFileError(
            name,
            field,
            f"neither a dot ({', '.join(DOT_FIELDS)}) nor a stroke ({', '.join(STROKE_FIELDS)})",
        )
    fields, what = (DOT_FIELDS, "a dot") if is_dot else (STROKE_FIELDS, "a stroke")
    _check_fields(hint, fields, name, f"{field}.", what)
    color = _color(hint["color"], name, f"{field}.color")
    size = _size(hint["size"], name, f"{field}.size", page_size)
    if is_dot:
        x = _coordinate(hint["x"], name, f"{field}.x", "x", page_size)
        y = _coordinate(hint["y"], name, f"{field}.y", "y", page_size)
        return Dot(x, y, color, size)
    points = hint["points"]
    if not isinstance(points, list) or not points:
        raise HintFileError(
            name,
            f"{field}.points",
            f"a list of [x, y] points (at least one) is expected, not {json.dumps(points)}",
        )
    points = tuple(
        _point(point, name, f"{field}.points[{i}]", page_size) for i, point in enumerate(points)
    )
    return Stroke(points, color, size)


def _check_fields(record: dict, fields: tuple[str, ...], name, prefix: str, what: str) -> None:
    known = f"{what} has {', '.join(fields)}"
    for field in fields:
        if field not in record:
            raise HintFileError(name, f"{prefix}{field}", f"missing ({known})")
    for field in record:
        if field not in fields:
            raise HintFileError(name, f"{prefix}{field}", f"unknown field ({known})")


def _point(value: Any, name, field: str, page_size: tuple[int, int]) -> tuple[float, float]:
    """A stroke's [x, y], inside the page; an error names the point (`points[3]`)."""
    if not isinstance(value, list) or len(value) != 2:
        raise HintFileError(name, field, f"a point [x, y] is expected, not {json.dumps(value)}")
    try:
        return tuple(
            _coordinate(v, name, field, axis, page_size)
            for v, axis in zip(value, "xy", strict=True)
        )
    except HintFileError as error:  # the whole point, so the user sees which one
        raise HintFileError(name, field, f"{json.dumps(value)}: {error.problem}") from None


def _coordinate(value: Any, name, field: str, axis: str, page_size: tuple[int, int]) -> float:
    """x or y of a page pixel's centre: 0 <= x <= width - 1, 0 <= y <= height - 1."""
    height, width = page_size
    limit = width if axis == "x" else height
    if not _is_number(value):
        raise HintFileError(
            name, field, f"{axis} must be a number of page pixels, not {json.dumps(value)}"
        )
    if not 0 <= value <= limit - 1:
        raise HintFileError(
            name,
            field,
            f"{json.dumps(value)} is outside the page ({axis} from 0 "
            f"to {limit - 1} on a page of {width}x{height} pixels)",
        )
    return float(value)


def _color(value: Any, name, field: str) -> str:
    if not isinstance(value, str) or not HEX_COLOR.fullmatch(value):
        raise HintFileError(
            name, field, f"a colour is written '#rrggbb' (e.g. '#d9a066'), not {json.dumps(value)}"
        )
    return value


def _size(value: Any, name, field: str, page_size: tuple[int, int]) -> float:
    largest = max(page_size)
    if not _is_number(value) or not 0 < value <= largest:
        raise HintFileError(
            name,
            field,
            f"the square's side in page pixels, above 0 and at most "
            f"the page's longer side ({largest}), not {json.dumps(value)}",
        )
    return float(value)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _kind(value: Any) -> str:
    kinds = {
        dict: "an object",
        list: "a list",
        str: "a string",
        bool: "true/false",
        type(None): "null",
    }
    return kinds.get(type(value), "a number")


# ---- .png -------------------------------------------------------------------------------------


def _parse_layer(data: bytes, name, page_size: tuple[int, int]) -> torch.Tensor:
    """A PNG hint layer -> uint8 (4, H, W) RGBA, the page's size."""
    height, width = page_size
    try:
        with warnings.catch_warnings():  # as large as the page, which was decoded already
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            if image.format != "PNG":
                kind = image.format or "non-PNG"
                raise HintFileError(name, "png", f"a {kind} image; a hint layer is a PNG")
            if image.size != (width, height):
                found = f"{image.size[0]}x{image.size[1]}"
                raise HintFileError(
                    name,
                    "layer",
                    f"{found} pixels, but the page is "
                    f"{width}x{height}: a hint layer is the page's size",
                )
            if not _has_alpha(image):
                raise HintFileError(
                    name,
                    "layer",
                    f"a {image.mode} image without transparency; a "
                    "hint layer is RGBA, transparent except where painted",
                )
            image.load()
            rgba = np.asarray(image.convert("RGBA")).copy()
    except HintFileError:
        raise
    except Exception as error:  # noqa: BLE001 - Pillow raises many kinds for a damaged file
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise HintFileError(name, "png", f"cannot be read as an image ({reason})") from None
    return torch.from_numpy(rgba).permute(2, 0, 1).contiguous()


def _has_alpha(image: Image.Image) -> bool:
    """An alpha channel, or a palette or grey image with a transparent colour."""
    return image.mode in ("RGBA", "LA", "RGBa", "La", "PA") or "transparency" in image.info
