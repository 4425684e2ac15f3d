"""Collated pages -> the RGB images that are scored, in groups the generator can take at once.

`crop`: validation's view, the centre square window resized to the training size, one group.
`page`: each page at its own resolution, cut free of the batch's edge padding (see
`collate_pages`); pages of equal size share a group, so the padding a batch needs never reaches
the network or the metrics. (The generator then sees each page as mangacolor-colorize does: see
`mangacolor.inference.page_colorizer.PageColorizer`.)
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
import torch.nn.functional as F

from mangacolor.color import uint8_to_unit
from mangacolor.data.transforms import PageCropper

READING_SHORT_SIDE = 256  # px: a page shrunk to about this is read as tone, not dots


def reading_scale(images: torch.Tensor) -> torch.Tensor:
    """Images as a reader sees a page: area-averaged, shrunk at least 4 times, or to a shorter side
    of 256 where that shrinks more, so screentone dots blend into tone."""
    factor = max(4.0, min(images.shape[-2:]) / READING_SHORT_SIDE)
    size = [max(1, round(side / factor)) for side in images.shape[-2:]]
    return F.interpolate(images, size=size, mode="area")


def centre_crops(pages: torch.Tensor, sizes: torch.Tensor, cropper: PageCropper) -> torch.Tensor:
    """Padded uint8 pages (B, 3, H, W) and their (h, w) -> centre windows (B, 3, size, size) in
    [0, 1]."""
    return cropper(pages, sizes, None, train=False)


def whole_pages(
    pages: torch.Tensor, sizes: torch.Tensor
) -> Iterator[tuple[torch.Tensor, list[int]]]:
    """Padded uint8 pages and their (h, w) on the CPU -> (pages of one size (n, 3, h, w) in [0, 1],
    their batch indices)."""
    groups: dict[tuple[int, int], list[int]] = {}
    for index, (height, width) in enumerate(sizes.tolist()):
        groups.setdefault((height, width), []).append(index)
    for (height, width), indices in groups.items():
        selected = pages[indices, :, :height, :width]
        yield uint8_to_unit(selected), indices


def scored_views(
    pages: torch.Tensor, sizes: torch.Tensor, mode: str, cropper: PageCropper | None
) -> Iterator[tuple[torch.Tensor, list[int]]]:
    """The groups of RGB images to score for `mode`, each with the batch indices it holds.

    `sizes` stay on the CPU (the collated (B, 2) tensor): grouping reads them, the crop copies them
    itself.
    """
    if mode == "crop":
        yield (
            centre_crops(pages, sizes.to(pages.device, non_blocking=True), cropper),
            list(range(pages.shape[0])),
        )
    else:
        yield from whole_pages(pages, sizes)
