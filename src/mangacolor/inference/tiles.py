"""Tiles of a working image: how each axis is cut into overlapping tiles, the raised-cosine
weights that blend their predictions back into one image without seams
(`mangacolor.inference.page_colorizer` colours whole pages with them)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from mangacolor.inference.prediction import pad_to_multiple


@dataclass(frozen=True)
class AxisTiles:
    """How one axis of the working image is covered by tiles: the image, reflect-padded at the end
    to `padded` pixels (a multiple of the generator's), is covered by tiles of `length` pixels
    starting at each of `starts`."""

    size: int
    padded: int
    length: int
    starts: tuple[int, ...]


def plan_axis(size: int, tile: int, tile_overlap: int, multiple: int) -> AxisTiles:
    """One tile when the padded axis fits in `tile`, else evenly spaced tiles overlapping by >=
    overlap.

    `tile` must be a multiple of `multiple` and larger than `overlap`.
    """
    padded = -(-size // multiple) * multiple
    if padded <= tile:
        return AxisTiles(size, padded, padded, (0,))
    count = -(-(padded - tile_overlap) // (tile - tile_overlap))
    # Even spacing: every step is at most tile - overlap, so neighbours overlap by at least
    # `overlap`.
    starts = tuple(round(i * (padded - tile) / (count - 1)) for i in range(count))
    return AxisTiles(size, padded, tile, starts)


def blend_ramp(tile_overlap: int, device: torch.device | str | None = None) -> torch.Tensor:
    """Raised-cosine rise over `overlap` pixels. ramp[d] + ramp[overlap-1-d] == 1, so two tiles
    overlapping by exactly `overlap` blend to a partition of unity without normalising."""
    steps = (torch.arange(tile_overlap, dtype=torch.float32, device=device) + 0.5) / tile_overlap
    return 0.5 - 0.5 * torch.cos(math.pi * steps)


def tile_weights(
    axis: AxisTiles, tile_overlap: int, device: torch.device | str | None = None
) -> list[torch.Tensor]:
    """Per tile, its 1-D blending weights: 1 inside, fading towards each edge it shares with a
    neighbour.

    Made on `device` directly: weights made on the host would cost a GPU page one upload per tile.
    """
    ramp = blend_ramp(min(tile_overlap, axis.length), device)
    weights = []
    for start in axis.starts:
        weight = torch.ones(axis.length, device=device)
        if start > 0:
            weight[: len(ramp)] *= ramp
        if start + axis.length < axis.padded:
            weight[axis.length - len(ramp) :] *= ramp.flip(0)
        weights.append(weight)
    return weights


def plan_tiles(
    image: torch.Tensor, tile: int, tile_overlap: int, multiple: int
) -> tuple[AxisTiles, AxisTiles]:
    """The tiles of an image (..., h, w): its rows' plan and its columns'."""
    height, width = image.shape[-2:]
    return (
        plan_axis(height, tile, tile_overlap, multiple),
        plan_axis(width, tile, tile_overlap, multiple),
    )


def cut_tiles(
    image: torch.Tensor, plan: tuple[AxisTiles, AxisTiles], multiple: int
) -> list[torch.Tensor]:
    """The image reflect-padded to `multiple` and cut into the plan's tiles, row by row."""
    rows, cols = plan
    # A hint generator's maps travel as channels of its input, so they are padded and cut
    # exactly as L: the reflected margin holds the mirrored drawing with its mirrored hints,
    # and every tile gets the hints that fall in it.
    padded = pad_to_multiple(image, multiple)
    return [
        padded[..., y : y + rows.length, x : x + cols.length]
        for y in rows.starts
        for x in cols.starts
    ]


def blend_tiles(
    predictions: list[torch.Tensor],
    plan: tuple[AxisTiles, AxisTiles],
    tile_overlap: int,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """Tile predictions (in `cut_tiles` order) -> one image, blended and cropped to the
    page."""
    rows, cols = plan
    if len(predictions) == 1:
        ab = predictions[0]
    else:
        channels = predictions[0].shape[1]
        total = torch.zeros(1, channels, rows.padded, cols.padded, device=device)
        weight_sum = torch.zeros(1, 1, rows.padded, cols.padded, device=device)
        predictions = iter(predictions)
        col_weights = tile_weights(cols, tile_overlap, device)
        for y, row_weight in zip(
            rows.starts, tile_weights(rows, tile_overlap, device), strict=True
        ):
            for x, col_weight in zip(cols.starts, col_weights, strict=True):
                weight = row_weight[:, None] * col_weight[None, :]
                total[..., y : y + rows.length, x : x + cols.length] += next(predictions) * weight
                weight_sum[..., y : y + rows.length, x : x + cols.length] += weight
        ab = total / weight_sum
    return ab[..., : rows.size, : cols.size]
