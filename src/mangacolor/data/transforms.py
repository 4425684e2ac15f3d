"""Crop, resize and flip pages on the device, batched, with kornia.

A batch holds pages of different sizes padded to the largest (see `collate_pages`), with each
page's true (height, width). For each page we take a square window of side
min(window, height, width) -- never a clipped rectangle, so the aspect ratio is never
distorted (the seed's bug) -- and resize it to `size` x `size`. Shrinking first blurs each page
with its own Gaussian (sigma = (scale - 1) / 2, kornia's antialiasing rule), then samples the
window bilinearly with per-image boxes through `crop_and_resize`.

When some inputs are made into black-and-white pages (data.input_styles, `print_styles.py`),
`PageCropper.native` instead cuts each window out at the page's own resolution, where the page is
printed, and `NativeWindows.shrink` then shrinks the colour window and the printed page alike, with
the filter colourise shrinks a page with (`F.interpolate`, bilinear, antialiased; a per-image
weight matrix here, so windows of different sides share one batched call): a screentone dot
averages into the same tone in training as in colourise. The plain-only path above is kept as it
is, so the seed's batches do not change.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from kornia.filters import gaussian_blur2d
from kornia.geometry.transform import crop_and_resize

from mangacolor.color import uint8_to_unit
from mangacolor.metrics import colorfulness
from mangacolor.runtime.config_errors import require

PREVIEW_SIDE = 128  # colourful-window scoring works on a page shrunk to about this size
SCORE_SIDE = 32  # and scores each candidate window at this resolution


def check_window(size: int, window: int) -> None:
    """The rule for data.window, wherever a crop is configured (training, eval, the cropper itself):
    a window is at least data.size, since it is shrunk to size and never enlarged."""
    require(window >= size, f"data.window ({window}) must be at least data.size ({size})")


def window_sides(sizes: torch.Tensor, window: int) -> torch.Tensor:
    """Side of each page's square window: min(window, height, width). sizes: (B, 2) as (h, w)."""
    return torch.minimum(sizes.min(dim=1).values, torch.full_like(sizes[:, 0], window))


def centre_corners(sizes: torch.Tensor, sides: torch.Tensor) -> torch.Tensor:
    """Top-left (y, x) of a centred window, (B, 2) integer."""
    return (sizes - sides[:, None]) // 2


def random_corners(
    sizes: torch.Tensor, sides: torch.Tensor, generator: torch.Generator | None, draws: int = 1
) -> torch.Tensor:
    """Uniformly random top-left (y, x) of windows inside each page, (B, draws, 2) integer."""
    slack = (sizes - sides[:, None]).to(torch.float32)  # (B, 2) free room in y and x
    u = torch.rand((sizes.shape[0], draws, 2), generator=generator, device=sizes.device)
    return (u * (slack[:, None] + 1)).floor().clamp_max(slack[:, None]).to(sizes.dtype)


def boxes_from_corners(corners: torch.Tensor, sides: torch.Tensor) -> torch.Tensor:
    """(B, 2) top-left (y, x) and (B,) sides -> kornia boxes (B, 4, 2) in (x, y), clockwise."""
    y0, x0 = corners[:, 0].float(), corners[:, 1].float()
    # A 1-pixel window (a 1 x 1 or 1-pixel-high page) would be a zero-width box, which kornia
    # turns into NaN; a box 1/1000 pixel wide samples that same pixel.
    extent = (sides.float() - 1).clamp_min(1e-3)
    y1, x1 = y0 + extent, x0 + extent
    return torch.stack(
        [
            torch.stack([x0, y0], -1),
            torch.stack([x1, y0], -1),
            torch.stack([x1, y1], -1),
            torch.stack([x0, y1], -1),
        ],
        dim=1,
    )


def antialias(images: torch.Tensor, scales: torch.Tensor, largest_scale: float) -> torch.Tensor:
    """Blur each image for a shrink by its own factor; scales: (B,), 1 or more to shrink.

    `largest_scale` bounds the batch's scales from above, known on the host: the kernel size
    comes from it, so the batch never waits for the device to report its largest scale.
    """
    largest = (largest_scale - 1.0) / 2.0
    if largest < 0.1:
        return images
    # +-3 sigma, so the batch's shared kernel size (set by its largest shrink) truncates no page's
    # Gaussian: each page is blurred as it would be alone.
    kernel = 2 * math.ceil(3.0 * largest) + 1
    sigma = ((scales - 1.0) / 2.0).clamp_min(1e-3)[:, None].expand(-1, 2).contiguous()
    return gaussian_blur2d(images, (kernel, kernel), sigma, border_type="replicate")


def crop_windows(
    images: torch.Tensor, corners: torch.Tensor, sides: torch.Tensor, size: int, window: int
) -> torch.Tensor:
    """Square windows of float images resized to size x size with antialiasing."""
    # No page's window is larger than min(window, padded height, padded width).
    largest_side = min(window, images.shape[-2], images.shape[-1])
    blurred = antialias(images, sides.float() / size, largest_side / size)
    return crop_and_resize(
        blurred, boxes_from_corners(corners, sides), (size, size), align_corners=True
    )


def most_colorful_corners(
    images: torch.Tensor,
    sizes: torch.Tensor,
    sides: torch.Tensor,
    generator: torch.Generator | None,
    draws: int,
) -> torch.Tensor:
    """Draw `draws` random windows per page and keep the most colourful one, (B, 2).

    Scored on a small preview of the page, so a batch of k candidates costs little: this steers
    training away from windows that are nearly all text bubble or white gutter.
    """
    candidates = random_corners(sizes, sides, generator, draws)  # (B, k, 2)
    if draws == 1:
        return candidates[:, 0]
    batch, height, width = images.shape[0], images.shape[-2], images.shape[-1]
    shrink = max(1, math.ceil(max(height, width) / PREVIEW_SIDE))
    preview = F.avg_pool2d(images, shrink, ceil_mode=True) if shrink > 1 else images
    small_corners = (candidates.float() / shrink).floor().long().flatten(0, 1)
    small_sides = (sides.float() / shrink).floor().clamp_min(1).long().repeat_interleave(draws)
    crops = crop_and_resize(
        preview.repeat_interleave(draws, dim=0),
        boxes_from_corners(small_corners, small_sides),
        (SCORE_SIDE, SCORE_SIDE),
    )
    scores = colorfulness(crops).view(batch, draws)
    best = scores.argmax(dim=1)
    return candidates[torch.arange(batch, device=images.device), best]


def flip_draws(
    count: int, generator: torch.Generator | None, device: torch.device, p: float = 0.5
) -> torch.Tensor:
    """Which of `count` images to mirror, (count,) bool."""
    return torch.rand(count, generator=generator, device=device) < p


def random_hflip(
    images: torch.Tensor, generator: torch.Generator | None, p: float = 0.5
) -> torch.Tensor:
    flip = flip_draws(images.shape[0], generator, images.device, p)
    return torch.where(flip[:, None, None, None], images.flip(-1), images)


def native_windows(pages: torch.Tensor, corners: torch.Tensor, side_bound: int) -> torch.Tensor:
    """uint8 padded pages (B, C, H, W) -> float windows (B, C, S, S) in [0, 1] at the pages' own
    resolution, S = side_bound, each from its (y, x) corner; a window of a smaller side fills the
    top-left of its square and the rest shows what lies beyond it on the padded page."""
    batch, _, height, width = pages.shape
    offsets = torch.arange(side_bound, device=pages.device)
    rows = (corners[:, :1] + offsets).clamp_max(height - 1)
    cols = (corners[:, 1:] + offsets).clamp_max(width - 1)
    picked = pages[
        torch.arange(batch, device=pages.device)[:, None, None],
        :,
        rows[:, :, None],
        cols[:, None, :],
    ]
    return uint8_to_unit(picked.permute(0, 3, 1, 2).contiguous())


def resize_weights(sides: torch.Tensor, source: int, size: int) -> torch.Tensor:
    """(B, size, source) matrices shrinking (or enlarging) the first sides[b] pixels of an axis to
    `size` pixels exactly as `F.interpolate(mode="bilinear", align_corners=False, antialias=True)`
    does: a triangle filter as wide as the scale (1 pixel when enlarging), centred on each output
    pixel, normalised; pixels past sides[b] get no weight."""
    scale = sides.to(torch.float32) / size
    support = scale.clamp_min(1.0)[:, None, None]
    centres = scale[:, None, None] * (
        torch.arange(size, device=sides.device, dtype=torch.float32)[None, :, None] + 0.5
    )
    positions = torch.arange(source, device=sides.device, dtype=torch.float32)[None, None, :] + 0.5
    weights = (1.0 - (positions - centres).abs() / support).clamp_min(0.0)
    weights = weights * (positions < sides[:, None, None])
    return weights / weights.sum(-1, keepdim=True)


def on_both_axes(weights: torch.Tensor, images: torch.Tensor) -> torch.Tensor:
    """weights (B, 1, size, S) applied to the rows and the columns of images (B, C, S, S) ->
    (B, C, size, size), in float32 (under TF32 matmuls, which training allows on a GPU, within a
    fraction of an 8-bit level)."""
    with torch.autocast(device_type=images.device.type, enabled=False):
        return weights @ images.float() @ weights.transpose(-1, -2)


@dataclass
class NativeWindows:
    """Square windows at their pages' own resolution, before the shrink to `size`.

    rgb: (B, 3, S, S) in [0, 1], window b in its top-left sides[b] x sides[b] pixels; flips: (B,)
    bool, which windows are mirrored once shrunk, or None.
    """

    rgb: torch.Tensor
    sides: torch.Tensor
    flips: torch.Tensor | None
    size: int

    def shrink(self, images: torch.Tensor, index: torch.Tensor | None = None) -> torch.Tensor:
        """Images (B', C, S, S) laid out like `rgb` (of the windows `index` picks, or all) ->
        (B', C, size, size), shrunk as colourise shrinks a page and mirrored like their windows."""
        sides = self.sides if index is None else self.sides[index]
        weights = resize_weights(sides, images.shape[-1], self.size)[:, None]  # (B', 1, size, S)
        return self.mirrored(on_both_axes(weights, images), index)

    def mirrored(self, images: torch.Tensor, index: torch.Tensor | None = None) -> torch.Tensor:
        """Images (B', C, h, w) at the training size, of the windows `index` picks (or all) ->
        mirrored where their windows are."""
        if self.flips is None:
            return images
        flips = self.flips if index is None else self.flips[index]
        return torch.where(flips[:, None, None, None], images.flip(-1), images)


class PageCropper:
    """uint8 padded pages (B, 3, H, W) + sizes (B, 2) -> float RGB windows (B, 3, size, size) in
    [0, 1]."""

    def __init__(self, size: int, window: int, hflip: bool = True, colourful_draws: int = 1):
        check_window(size, window)
        if colourful_draws < 1:
            raise ValueError(f"data.colourful_draws must be >= 1, got {colourful_draws}")
        self.size, self.window, self.hflip, self.colourful_draws = (
            size,
            window,
            hflip,
            colourful_draws,
        )

    def __call__(
        self,
        pages: torch.Tensor,
        sizes: torch.Tensor,
        generator: torch.Generator | None,
        train: bool,
    ) -> torch.Tensor:
        images = uint8_to_unit(pages)
        sides = window_sides(sizes, self.window)
        if train:
            corners = most_colorful_corners(images, sizes, sides, generator, self.colourful_draws)
        else:
            corners = centre_corners(sizes, sides)
        crops = crop_windows(images, corners, sides, self.size, self.window).clamp_(0.0, 1.0)
        if train and self.hflip:
            crops = random_hflip(crops, generator)
        return crops

    def native(
        self,
        pages: torch.Tensor,
        sizes: torch.Tensor,
        generator: torch.Generator | None,
        train: bool,
    ) -> NativeWindows:
        """The same windows as calling the cropper (the same draws from `generator`, in the same
        order), but cut out at the pages' own resolution, to be shrunk by `NativeWindows.shrink`."""
        sides = window_sides(sizes, self.window)
        if train:
            # The colourful draws score the page's pixels; a single draw needs only its size.
            images = uint8_to_unit(pages) if self.colourful_draws > 1 else pages
            corners = most_colorful_corners(images, sizes, sides, generator, self.colourful_draws)
        else:
            corners = centre_corners(sizes, sides)
        flips = (
            flip_draws(pages.shape[0], generator, pages.device) if train and self.hflip else None
        )
        side_bound = min(self.window, pages.shape[-2], pages.shape[-1])
        return NativeWindows(native_windows(pages, corners, side_bound), sides, flips, self.size)
