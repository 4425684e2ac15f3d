"""hints_curve.png: CIEDE2000 against the number of hints, one line per method, drawn with PIL.

The x axis is logarithmic with 0 shown: a count k sits at log(1 + k), so 0, 1, 2, 5, 10, 20, 50
spread as on a log scale and 0 has a place; each count is ticked and labelled. A method whose
values do not change with the count (grey, the B&W page) is drawn dashed, a flat line.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from PIL import Image, ImageDraw, ImageFont

SIZE = (800, 520)
MARGINS = (80, 64, 210, 70)  # left, top, right, bottom: the right one holds the legend
COLORS = {
    "model": (214, 39, 40),
    "nearest hint": (44, 160, 44),
    "paint bucket": (31, 119, 180),
    "grey": (110, 110, 110),
    "B&W page": (20, 20, 20),
}
OTHER_COLORS = [(148, 103, 189), (140, 86, 75), (227, 119, 194), (188, 189, 34)]


def _font(size: int) -> ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow before 10.1: the small bitmap font
        return ImageFont.load_default()


def _nice_ticks(low: float, high: float, wanted: int = 6) -> list[float]:
    """Round tick values covering [low, high]."""
    span = max(high - low, 1e-6)
    raw = span / wanted
    step = 10 ** math.floor(math.log10(raw))
    step *= next(factor for factor in (1, 2, 5, 10) if step * factor >= raw)
    first = math.floor(low / step) * step
    return [first + i * step for i in range(int(math.ceil((high - first) / step)) + 1)]


def _draw_curves(
    draw: ImageDraw.ImageDraw,
    counts: list[int],
    curves: dict[str, list[float]],
    x_at: Callable[[int], float],
    y_at: Callable[[float], float],
    plot: tuple[float, float, float],
    font: ImageFont.ImageFont,
) -> None:
    """Each curve as a line with dots (dashed across the plot where it is flat), and its legend
    right of the plot (`plot`: its left, top and right edges)."""
    left, top, right = plot
    for index, (label, line) in enumerate(curves.items()):
        color = COLORS.get(label, OTHER_COLORS[index % len(OTHER_COLORS)])
        points = [(x_at(c), y_at(v)) for c, v in zip(counts, line, strict=True) if math.isfinite(v)]
        flat = len({round(v, 9) for v in line if math.isfinite(v)}) <= 1
        if flat and points:
            _dashed(draw, (left, points[0][1]), (right, points[0][1]), color)
        else:
            if len(points) > 1:
                draw.line(points, fill=color, width=3)
            for x, y in points:
                draw.ellipse([x - 4, y - 4, x + 4, y + 4], fill=color)
        legend_y = top + 10 + 26 * index  # the legend, right of the plot
        if flat:
            _dashed(draw, (right + 20, legend_y + 8), (right + 56, legend_y + 8), color)
        else:
            draw.line([(right + 20, legend_y + 8), (right + 56, legend_y + 8)], fill=color, width=3)
        draw.text((right + 64, legend_y), label, fill="black", font=font)


def draw_hint_curve(counts: list[int], curves: dict[str, list[float]], title: str) -> Image.Image:
    """An RGB picture of `curves` (label -> one value per count, NaN where none) against
    `counts`."""
    image = Image.new("RGB", SIZE, "white")
    draw = ImageDraw.Draw(image)
    font, small = _font(15), _font(13)
    left, top, right, bottom = MARGINS[0], MARGINS[1], SIZE[0] - MARGINS[2], SIZE[1] - MARGINS[3]
    values = [v for line in curves.values() for v in line if math.isfinite(v)] or [0.0, 1.0]
    ticks = _nice_ticks(min(0.0, min(values)), max(values) * 1.05 + 1e-6)
    y_low, y_high = ticks[0], ticks[-1]
    x_high = math.log1p(max(counts)) or 1.0

    def x_at(count: int) -> float:
        return left + (right - left) * math.log1p(count) / x_high

    def y_at(value: float) -> float:
        return bottom - (bottom - top) * (value - y_low) / (y_high - y_low)

    for value in ticks:  # horizontal grid and the y labels
        y = y_at(value)
        draw.line([(left, y), (right, y)], fill=(225, 225, 225))
        label = f"{value:g}"
        draw.text(
            (left - 8 - draw.textlength(label, font=small), y - 7), label, fill="black", font=small
        )
    for count in counts:  # vertical grid and the x labels
        x = x_at(count)
        draw.line([(x, top), (x, bottom)], fill=(235, 235, 235))
        label = str(count)
        draw.text(
            (x - draw.textlength(label, font=small) / 2, bottom + 6),
            label,
            fill="black",
            font=small,
        )
    draw.rectangle([left, top, right, bottom], outline="black")
    axis = "hints per page (log scale, 0 shown)"
    draw.text(
        ((left + right - draw.textlength(axis, font=font)) / 2, bottom + 28),
        axis,
        fill="black",
        font=font,
    )
    draw.text((10, top - 24), "dE00 (lower is better)", fill="black", font=font)
    draw.text((left, 10), title, fill="black", font=font)

    _draw_curves(draw, counts, curves, x_at, y_at, (left, top, right), font)
    return image


def _dashed(
    draw: ImageDraw.ImageDraw,
    start: tuple[float, float],
    end: tuple[float, float],
    color: tuple[int, int, int],
    dash: int = 10,
) -> None:
    """A horizontal dashed line."""
    x, y = start
    while x < end[0]:
        draw.line([(x, y), (min(x + dash, end[0]), y)], fill=color, width=2)
        x += 2 * dash
