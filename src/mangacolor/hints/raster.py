"""The one rasteriser of colour hints: marks or a painted layer in page pixels -> the generator's
hint channels at the working size. Shared by training's simulation, colorize, eval and the studio.

The maps:
- `color` (B, C, h, w) float32 in the generator's OUTPUT space: scaled a, b (a/110, b/110) for an
  "ab" generator, scaled L, a, b (L/50 - 1, a/110, b/110) for a "lab" one (a hint then says "this
  pale pink", lightness included). Zero where there is no hint.
- `mask` (B, 1, h, w) float32, exactly 0 or 1 (a centred mask broke the reuse of Zhang et al.'s own
  weights): 1 on every working pixel whose footprint in the page touches a hint.

Footprints: working pixel j of an axis of h pixels over a page axis of H pixels covers the page
pixels floor(j H / h) .. ceil((j + 1) H / h) - 1, so every page pixel lies in at least one working
pixel and every mark covers at least one working pixel (a 7 px dot on a 1,000 px page at 64 px is
half a working pixel: it becomes one whole pixel of mask 1, not a faint fraction). A mark's colour
is taken as given, never blended with the page; where marks overlap, the later one wins.

The generator's input with hints is `hint_input(L_or_page, color, mask)`: 1 + C + 1 channels.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from mangacolor.color import rgb_to_scaled_lab
from mangacolor.hints.marks import Dot, Mark, Stroke, check_layer, hex_to_rgb

HINT_COLOR_CHANNELS = {"ab": 2, "lab": 3}
# Squares enumerated per chunk in `paint_squares` (squares x side^2 index entries), so a long
# stroke of big squares at a page's full size stays within a few tens of MB.
_PAINT_CHUNK_PIXELS = 1 << 22


def hint_channels(predicts: str) -> int:
    """The hint channels a generator predicting `predicts` takes: its colour channels + 1 mask
    (3 for "ab", 4 for "lab")."""
    return _color_channels(predicts) + 1


def _color_channels(predicts: str) -> int:
    if predicts not in HINT_COLOR_CHANNELS:
        known = ", ".join(HINT_COLOR_CHANNELS)
        raise ValueError(f"a generator predicts one of {known}, not {predicts!r}")
    return HINT_COLOR_CHANNELS[predicts]


def hint_input(inputs: torch.Tensor, color: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The generator's input with hints: cat([inputs, color * mask, mask], dim=1), inputs' dtype."""
    return torch.cat([inputs, (color * mask).to(inputs.dtype), mask.to(inputs.dtype)], dim=1)


def no_hints(
    batch: int, height: int, width: int, predicts: str, device: torch.device | str | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Empty hint maps (all zero): what a hint generator sees when it colours automatically."""
    color = torch.zeros(batch, _color_channels(predicts), height, width, device=device)
    return color, torch.zeros(batch, 1, height, width, device=device)


def encode_colors(rgb: torch.Tensor, predicts: str) -> torch.Tensor:
    """sRGB colours (N, 3) in [0, 1] -> (N, C) in the generator's output space (see the module)."""
    channels = _color_channels(predicts)
    lightness, ab = rgb_to_scaled_lab(rgb.float()[:, :, None, None])
    lab = torch.cat([lightness, ab], dim=1)[:, :, 0, 0]
    return lab[:, 3 - channels :]


def paint_squares(
    color: torch.Tensor,
    mask: torch.Tensor,
    image_index: torch.Tensor,
    top: torch.Tensor,
    left: torch.Tensor,
    height: torch.Tensor,
    width: torch.Tensor,
    values: torch.Tensor,
    max_side: int | None = None,
) -> None:
    """Paint N axis-aligned squares (or rectangles) into a batch's hint maps, in place.

    color (B, C, h, w) and mask (B, 1, h, w): the maps (usually zeros from `no_hints`); square n is
    painted on image `image_index[n]` over rows top[n] .. top[n] + height[n] - 1 and columns
    left[n] .. left[n] + width[n] - 1 (clipped to the image), colour values[n] (C,), mask 1. Where
    squares overlap, the later one (higher n) wins, also over what the maps held before. All index
    tensors are (N,) long on the maps' device.

    Batched on the device, without a loop over squares: each square enumerates a max_side x
    max_side grid of offsets, the ones outside it or the image go to a spare slot, and a
    scatter-amax of the square's number gives each pixel its last square. `max_side` bounds every
    height and width (a longer side is cut to it); without it, it is read from the tensors (one
    wait for the device), so callers that know their largest square (the training simulation)
    pass it. Deterministic (a maximum does not depend on the order of the writes), also under
    torch.use_deterministic_algorithms.
    """
    count = image_index.numel()
    if count == 0:
        return
    if max_side is None:
        max_side = int(torch.maximum(height.max(), width.max()))
    max_side = max(1, int(max_side))
    batch, _, rows_total, cols_total = color.shape
    device = color.device
    spare = batch * rows_total * cols_total
    winner = torch.full((spare + 1,), -1, dtype=torch.long, device=device)
    offsets = torch.arange(max_side, device=device)
    chunk = max(1, _PAINT_CHUNK_PIXELS // max_side**2)
    for first in range(0, count, chunk):
        part = slice(first, first + chunk)
        rows = top[part, None] + offsets  # (n, S)
        cols = left[part, None] + offsets
        row_ok = (offsets < height[part, None]) & (rows >= 0) & (rows < rows_total)
        col_ok = (offsets < width[part, None]) & (cols >= 0) & (cols < cols_total)
        flat = (image_index[part, None, None] * rows_total + rows[:, :, None]) * cols_total
        flat = flat + cols[:, None, :]  # (n, S, S)
        flat = torch.where(row_ok[:, :, None] & col_ok[:, None, :], flat, spare)
        number = torch.arange(first, first + flat.shape[0], device=device)[:, None, None]
        number = number.expand_as(flat)
        winner.scatter_reduce_(0, flat.reshape(-1), number.reshape(-1), reduce="amax")
    winner = winner[:spare].view(batch, 1, rows_total, cols_total)
    painted = winner >= 0
    paint = values.to(device=device, dtype=color.dtype)[winner.clamp_min(0)[:, 0]]  # (B, h, w, C)
    color.copy_(torch.where(painted, paint.permute(0, 3, 1, 2), color))
    mask.masked_fill_(painted, 1.0)


def rasterize_marks(
    marks: Sequence[Mark],
    page_size: tuple[int, int],
    working_size: tuple[int, int],
    predicts: str,
    device: torch.device | str | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Dots and strokes in page pixels (page_size = (height, width)) -> (color, mask) at
    working_size ((h, w)), each (1, ., h, w) on `device`. Later marks win where they overlap."""
    page_height, page_width = (int(s) for s in page_size)
    height, width = (int(s) for s in working_size)
    color, mask = no_hints(1, height, width, predicts, device)
    if not marks:
        return color, mask
    centres, sizes, owners = _square_centres(marks, page_size, working_size)
    rows = _working_span(centres[:, 1], sizes, page_height, height)
    cols = _working_span(centres[:, 0], sizes, page_width, width)
    inside = (rows[0] <= rows[1]) & (cols[0] <= cols[1])
    top, bottom, left, right = rows[0][inside], rows[1][inside], cols[0][inside], cols[1][inside]
    owners = owners[inside]
    if not len(owners):
        return color, mask
    rgb = torch.tensor([hex_to_rgb(mark.color) for mark in marks], dtype=torch.float32) / 255.0
    values = encode_colors(rgb, predicts)[owners]
    box_height, box_width = bottom - top + 1, right - left + 1
    max_side = int(max(box_height.max(), box_width.max()))
    target = color.device
    paint_squares(
        color,
        mask,
        torch.zeros_like(top).to(target),
        top.to(target),
        left.to(target),
        box_height.to(target),
        box_width.to(target),
        values.to(target),
        max_side=max_side,
    )
    return color, mask


def _square_centres(
    marks: Sequence[Mark], page_size: tuple[int, int], working_size: tuple[int, int]
):
    """Every mark as squares: centres (M, 2) (x, y) and sides (M,) in page pixels, float64, and the
    mark each belongs to (M,), in the marks' order. A stroke is sampled along each segment at half
    the finer of a page and a working pixel, so its squares leave no gap at either size."""
    spacing = 0.5 * min(1.0, page_size[0] / working_size[0], page_size[1] / working_size[1])
    centres, sizes, owners = [], [], []
    for number, mark in enumerate(marks):
        if isinstance(mark, Dot):
            points = torch.tensor([[mark.x, mark.y]], dtype=torch.float64)
        elif isinstance(mark, Stroke):
            points = _sample_polyline(torch.tensor(mark.points, dtype=torch.float64), spacing)
        else:
            raise TypeError(f"a hint is a Dot or a Stroke, got {type(mark).__name__}")
        centres.append(points)
        sizes.append(torch.full((len(points),), float(mark.size), dtype=torch.float64))
        owners.append(torch.full((len(points),), number, dtype=torch.long))
    return torch.cat(centres), torch.cat(sizes), torch.cat(owners)


def _sample_polyline(points: torch.Tensor, spacing: float) -> torch.Tensor:
    """Points (P, 2) -> points along the polyline no further apart than `spacing`, ends included."""
    if len(points) == 1:
        return points
    starts, ends = points[:-1], points[1:]
    steps = ((ends - starts).norm(dim=1) / spacing).ceil().long().clamp_min(1)  # (P-1,)
    segment = torch.repeat_interleave(torch.arange(len(steps)), steps)
    first = torch.cumsum(steps, 0) - steps
    fraction = (torch.arange(len(segment)) - first[segment]) / steps[segment]
    fraction = fraction.to(points.dtype)[:, None]
    samples = starts[segment] + (ends[segment] - starts[segment]) * fraction
    return torch.cat([samples, points[-1:]])


def _working_span(centre: torch.Tensor, size: torch.Tensor, page: int, working: int):
    """Along one axis: squares (centre, side, page pixels) -> the first and last working pixel whose
    footprint touches them (first > last: the square lies off the page)."""
    # Page pixels whose centre (at its index) lies in [centre - size/2, centre + size/2), and always
    # the pixel holding the centre, so a square thinner than a pixel still covers one.
    own = torch.floor(centre + 0.5)
    first = torch.minimum(torch.ceil(centre - size / 2), own).long().clamp_min(0)
    last = torch.maximum(torch.ceil(centre + size / 2) - 1, own).long().clamp_max(page - 1)
    # Working pixel j covers page pixels floor(j P / w) .. ceil((j + 1) P / w) - 1 (see the module).
    return (first * working) // page, -(-((last + 1) * working) // page) - 1


def rasterize_layer(
    layer: torch.Tensor,
    working_size: tuple[int, int],
    predicts: str,
    device: torch.device | str | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """A painted layer, uint8 (4, H, W) RGBA the page's size -> (color, mask) at working_size.

    A working pixel is hinted iff any page pixel in its footprint has alpha > 0; its colour is the
    alpha-weighted mean of those pixels' sRGB values, then converted to Lab. Sums over footprints
    are exact integer box sums (cumulative sums), so no pixel of paint is lost however large the
    shrink. Only the rows and columns round the paint are summed and only hinted pixels are
    converted, so a page with a few strokes costs little even at its full size.
    """
    height, width = (int(s) for s in working_size)
    check_layer(layer)
    color, mask = no_hints(1, height, width, predicts, layer.device)
    alpha = layer[3]
    painted_rows = alpha.any(dim=1).nonzero()[:, 0]
    if len(painted_rows):
        painted_cols = alpha.any(dim=0).nonzero()[:, 0]
        rows = _painted_span(painted_rows, alpha.shape[0], height)
        cols = _painted_span(painted_cols, alpha.shape[1], width)
        sums = _footprint_sums(layer[:, rows.page, cols.page], rows, cols)  # (4, h', w') int64
        hinted = (sums[3] > 0).nonzero(as_tuple=True)
        rgb = sums[:3, hinted[0], hinted[1]].double() / sums[3][hinted].double() / 255.0
        at = (hinted[0] + rows.working.start, hinted[1] + cols.working.start)
        color[0, :, at[0], at[1]] = encode_colors(rgb.T.float(), predicts).T
        mask[0, 0, at[0], at[1]] = 1.0
    if device is not None:
        color, mask = color.to(device), mask.to(device)
    return color, mask


@dataclass(frozen=True)
class _Span:
    """Along one axis: the working pixels whose footprints hold paint, the page pixels those
    footprints cover, and each footprint's first and one-past-last page pixel within that range."""

    working: slice
    page: slice
    starts: torch.Tensor
    stops: torch.Tensor
    identity: bool


def _painted_span(painted: torch.Tensor, page: int, working: int) -> _Span:
    # Working pixel j covers page pixels floor(j P / w) .. ceil((j + 1) P / w) - 1 (see the module).
    first = int(painted[0]) * working // page
    last = -(-(int(painted[-1]) + 1) * working // page) - 1
    j = torch.arange(first, last + 1)
    starts, stops = (j * page) // working, -(-((j + 1) * page) // working)
    offset = int(starts[0])
    return _Span(
        slice(first, last + 1),
        slice(offset, int(stops[-1])),
        starts - offset,
        stops - offset,
        page == working,
    )


def _footprint_sums(layer: torch.Tensor, rows: _Span, cols: _Span) -> torch.Tensor:
    """uint8 RGBA (4, H', W') -> (4, h', w') int64: per working pixel, the sums over its footprint
    of alpha x R, alpha x G, alpha x B and alpha."""
    # Within each row first: a cumulative sum runs fastest along the contiguous axis, and the page
    # has shrunk before the other. int32 while a row's running sum fits (255^2 x columns < 2^31).
    wide = torch.int32 if layer.shape[2] * 255 * 255 < 2**31 else torch.int64
    alpha = layer[3:].to(wide)
    values = torch.cat([layer[:3].to(wide) * alpha, alpha])
    return _range_sums(_range_sums(values, 2, cols).long(), 1, rows)


def _range_sums(values: torch.Tensor, dim: int, span: _Span) -> torch.Tensor:
    """Sums of values over [starts[j], stops[j]) along `dim`, by one cumulative sum."""
    if span.identity:  # footprints of one pixel each
        return values
    total = torch.nn.functional.pad(values.cumsum(dim), (0, 0, 1, 0) if dim == 1 else (1, 0))
    return total.index_select(dim, span.stops) - total.index_select(dim, span.starts)


__all__ = [
    "HINT_COLOR_CHANNELS",
    "hint_channels",
    "hint_input",
    "no_hints",
    "encode_colors",
    "paint_squares",
    "rasterize_marks",
    "rasterize_layer",
]
