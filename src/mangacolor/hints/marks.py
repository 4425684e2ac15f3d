"""One page's colour hints as a user gives them: dots and strokes in page pixels, or a painted
layer.

Coordinates are the page's own pixels, origin top left, x to the right and y down; a whole number
names a pixel's centre, so `Dot(x=120, y=340, ...)` is centred on pixel (120, 340) and a dot of
odd size covers exactly `size` x `size` page pixels around it. `size` is the side of the square in
page pixels (fractions allowed: the rasteriser still gives every mark at least one pixel).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

HEX_COLOR = re.compile(r"#[0-9a-fA-F]{6}")


def check_color(color: object) -> str:
    """A colour as "#rrggbb" (either case), else ValueError."""
    if not isinstance(color, str) or not HEX_COLOR.fullmatch(color):
        raise ValueError(f"a colour must be a string '#rrggbb', got {color!r}")
    return color


def check_size(size: object) -> float:
    """A mark's side in page pixels: a finite number above 0, else ValueError."""
    number = isinstance(size, (int, float)) and not isinstance(size, bool)
    if not number or not math.isfinite(size) or size <= 0:
        raise ValueError(f"a size must be a number of page pixels above 0, got {size!r}")
    return float(size)


def check_layer(layer: torch.Tensor) -> torch.Tensor:
    """A painted hint layer: uint8 (4, H, W) RGBA, else ValueError."""
    if layer.dtype != torch.uint8 or layer.dim() != 3 or layer.shape[0] != 4:
        shape = tuple(layer.shape)
        raise ValueError(f"a hint layer is uint8 (4, H, W) RGBA, got {layer.dtype} {shape}")
    return layer


def hex_to_rgb(color: str) -> tuple[int, int, int]:
    """ "#rrggbb" -> (r, g, b) in 0..255."""
    return int(color[1:3], 16), int(color[3:5], 16), int(color[5:7], 16)


@dataclass(frozen=True)
class Dot:
    """A square of `size` page pixels centred at (x, y), painted `color` ("#rrggbb")."""

    x: float
    y: float
    color: str
    size: float

    def __post_init__(self):
        check_color(self.color)
        check_size(self.size)

    def scaled(self, factor: float) -> Dot:
        x, y = _scale_point((self.x, self.y), factor)
        return Dot(x, y, self.color, self.size * factor)


@dataclass(frozen=True)
class Stroke:
    """A polyline through `points` ((x, y) page pixels), drawn with a square brush of `size`."""

    points: tuple[tuple[float, float], ...]
    color: str
    size: float

    def __post_init__(self):
        points = tuple((float(x), float(y)) for x, y in self.points)
        if not points:
            raise ValueError("a stroke needs at least one point")
        object.__setattr__(self, "points", points)
        check_color(self.color)
        check_size(self.size)

    def scaled(self, factor: float) -> Stroke:
        points = tuple(_scale_point(point, factor) for point in self.points)
        return Stroke(points, self.color, self.size * factor)


Mark = Dot | Stroke


def _scale_point(point: tuple[float, float], factor: float) -> tuple[float, float]:
    # A pixel centre sits at its index + 0.5 in edge coordinates; scaling keeps it on the same spot.
    return tuple((value + 0.5) * factor - 0.5 for value in point)


@dataclass(frozen=True, eq=False)
class PageHints:
    """One page's hints: marks (dots/strokes, page pixels) or a painted RGBA layer, never both.

    layer: uint8 (4, H, W) RGBA the page's size; alpha > 0 marks a painted pixel.
    Falsy when it holds no hint at all (no marks, and no layer or a fully transparent one).
    """

    marks: tuple[Mark, ...] = ()
    layer: torch.Tensor | None = field(default=None)

    def __post_init__(self):
        object.__setattr__(self, "marks", tuple(self.marks))
        for mark in self.marks:
            if not isinstance(mark, (Dot, Stroke)):
                raise TypeError(f"a hint is a Dot or a Stroke, got {type(mark).__name__}")
        if self.layer is not None:
            if self.marks:
                raise ValueError("a page's hints are marks or a painted layer, never both")
            check_layer(self.layer)

    def raster(
        self,
        page_size: tuple[int, int],
        working_size: tuple[int, int],
        predicts: str,
        device: torch.device | str | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The hint maps at `working_size` ((height, width)) for a page of `page_size`:
        color (1, C, h, w) in the generator's output space and mask (1, 1, h, w), exactly 0 or 1."""
        from mangacolor.hints.raster import rasterize_layer, rasterize_marks

        if self.layer is not None:
            if tuple(self.layer.shape[-2:]) != tuple(page_size):
                raise ValueError(
                    f"a hint layer of {tuple(self.layer.shape[-2:])} for a page of "
                    f"{tuple(page_size)} (height, width): it must be the page's size"
                )
            return rasterize_layer(self.layer, working_size, predicts, device)
        return rasterize_marks(self.marks, page_size, working_size, predicts, device)

    def scaled(self, factor: float) -> PageHints:
        """The same hints on the page enlarged `factor` times (a layer resized, nearest pixel)."""
        if self.layer is not None:
            height, width = self.layer.shape[-2:]
            size = (max(1, round(height * factor)), max(1, round(width * factor)))
            layer = F.interpolate(self.layer[None].float(), size=size, mode="nearest-exact")[0]
            return PageHints(layer=layer.round().to(torch.uint8))
        return PageHints(tuple(mark.scaled(factor) for mark in self.marks))

    def __bool__(self) -> bool:
        if self.layer is not None:
            return bool((self.layer[3] > 0).any())
        return bool(self.marks)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, PageHints):
            return NotImplemented
        if (self.layer is None) != (other.layer is None):
            return False
        same_layer = self.layer is None or torch.equal(self.layer, other.layer)
        return self.marks == other.marks and same_layer

    __hash__ = None
