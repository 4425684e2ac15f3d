"""The baselines a hint model must beat, given a page's own lightness and its hints (issue 22).

- `nearest_hint`: every pixel takes the a, b of its nearest hint, its own lightness kept. Paper and
  ink take colour too, so it floods the page: a floor a network must clear, never a target.
- `paint_bucket`: what a user does by hand in any paint program: each hint's colour flood-filled
  from the hint's centre pixel over the page's own lightness, as a bucket with a tolerance. A
  hint's fill is the 4-connected region of pixels whose CIE L is within `tolerance` of its seed
  pixel's L (an ink line, far darker than the colour beside it, stops it); a pixel no fill reaches
  keeps no colour (grey, as the page is). Where fills overlap, the FIRST hint wins (the order of
  `hints.marks`): a bucket filling on its own layer without painting over what is already filled.
  First-wins also makes the k-hint fill of a nested hint set the largest set's fill with the
  later owners dropped (`BucketFill.owners_up_to`), so eval fills each page once for every count.

Seeds: a dot's centre pixel; a stroke's points (each one seed of the stroke's colour). A painted
layer (a `.png` hint file) is not supported here (ValueError). Colours: the hint's "#rrggbb" as
Lab's a, b (`mangacolor.hints.raster.encode_colors`), lightness always the page's.

Each returns RGB in [0, 1] (1, 3, H, W) composed as a model's page is (`compose_lightness`: the
page's L exactly, chroma given up where a colour leaves sRGB), or, from the `_ab` functions,
scaled ab (1, 2, H, W) for `scoring.score_prediction`. Pure torch, on the lightness's device.

The fill is a connected-component labelling of each seed's tolerance band, vectorised: pixels are
grouped into horizontal runs (a cumulative sum), runs touching vertically are joined by hooking
each to the smaller root and jumping pointers until nothing changes, so its cost is a few passes
over the page per distinct seed lightness plus work on runs, not one pass per pixel of path length.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from mangacolor.color import L_SCALE
from mangacolor.hints.marks import Dot, PageHints, hex_to_rgb
from mangacolor.hints.raster import encode_colors
from mangacolor.inference.compose import compose_lightness

BUCKET_TOLERANCE = 6.0  # CIE L units: the best of 4, 6 and 10 on 30 clip-art val pages (grey)
_MASKS_PER_CHUNK = 8  # tolerance bands labelled together: bounds memory on large pages


@dataclass(frozen=True)
class Seeds:
    """Hint seeds on a page: rows, columns (N,) long and scaled ab (N, 2), in hint order."""

    rows: torch.Tensor
    cols: torch.Tensor
    ab: torch.Tensor


def hint_seeds(
    hints: PageHints | None, page_size: tuple[int, int], device: torch.device | str | None = None
) -> Seeds:
    """A page's hints -> its seed pixels (clamped onto the page) and their scaled ab."""
    points, colors = [], []
    if hints is not None and hints.layer is not None:
        raise ValueError("the hint baselines take dots and strokes, not a painted layer")
    for mark in hints.marks if hints is not None else ():
        centres = [(mark.x, mark.y)] if isinstance(mark, Dot) else list(mark.points)
        points += centres
        colors += [hex_to_rgb(mark.color)] * len(centres)
    height, width = page_size
    if not points:
        empty = torch.zeros(0, dtype=torch.long, device=device)
        return Seeds(empty, empty, torch.zeros(0, 2, device=device))
    xy = torch.tensor(points, dtype=torch.float64)
    # A whole coordinate is a pixel's centre (mangacolor.hints.marks): round to the nearest pixel.
    cols = torch.floor(xy[:, 0] + 0.5).long().clamp(0, width - 1)
    rows = torch.floor(xy[:, 1] + 0.5).long().clamp(0, height - 1)
    ab = encode_colors(torch.tensor(colors, dtype=torch.float32) / 255.0, "ab")
    return Seeds(rows.to(device), cols.to(device), ab.to(device))


# ---- nearest hint --------------------------------------------------------------------------------


def nearest_hint_ab(lightness: torch.Tensor, hints: PageHints | None) -> torch.Tensor:
    """Scaled L (1, 1, H, W) -> scaled ab (1, 2, H, W): each pixel its nearest seed's ab
    (Euclidean distance; on a tie the earlier hint). No hints: zeros (the grey page)."""
    everything = len(hint_seeds(hints, tuple(lightness.shape[-2:])).rows)
    return nearest_hint_ab_counts(lightness, hints, [everything])[everything]


def nearest_hint_ab_counts(
    lightness: torch.Tensor, hints: PageHints | None, counts: list[int]
) -> dict[int, torch.Tensor]:
    """`nearest_hint_ab` for each count's first seeds (a nested hint set's first k hints, as eval
    sweeps them) in one pass over the seeds: count -> scaled ab (1, 2, H, W)."""
    height, width = lightness.shape[-2:]
    device = lightness.device
    seeds = hint_seeds(hints, (height, width), device)
    wanted = sorted(set(counts))
    found = {
        count: torch.zeros(1, 2, height, width, device=device) for count in wanted if count <= 0
    }
    ys = torch.arange(height, device=device, dtype=torch.float32)[:, None]
    xs = torch.arange(width, device=device, dtype=torch.float32)[None, :]
    best = torch.full((height, width), float("inf"), device=device)
    owner = torch.zeros(height, width, dtype=torch.long, device=device)
    # One pass per seed (a few dozen), each over the page: (seeds, H, W) at once would not fit a
    # large page's memory, and the loop is as fast. After the k-th seed, the k-hint answer.
    for index, (row, col) in enumerate(zip(seeds.rows.tolist(), seeds.cols.tolist(), strict=True)):
        distance = (ys - row).square() + (xs - col).square()
        nearer = distance < best
        best = torch.where(nearer, distance, best)
        owner = torch.where(nearer, index, owner)
        for count in wanted:
            if count == index + 1 or (count > index + 1 and index + 1 == len(seeds.rows)):
                found[count] = seeds.ab[owner].permute(2, 0, 1)[None]
    for count in wanted:  # no seed at all: the grey page
        found.setdefault(count, torch.zeros(1, 2, height, width, device=device))
    return found


def nearest_hint(lightness: torch.Tensor, hints: PageHints | None) -> torch.Tensor:
    """Scaled L (1, 1, H, W) -> RGB (1, 3, H, W): the nearest-hint baseline, composed as a page."""
    return compose_lightness(lightness, nearest_hint_ab(lightness, hints))


# ---- paint bucket --------------------------------------------------------------------------------


@dataclass(frozen=True)
class BucketFill:
    """A page's bucket fill: per pixel the hint (seed number) that fills it, -1 where none does."""

    owner: torch.Tensor  # (H, W) long
    seeds: Seeds

    def owners_up_to(self, count: int) -> torch.Tensor:
        """The owners had only the first `count` seeds been given (first-wins makes this exact)."""
        return torch.where(self.owner < count, self.owner, -1)

    def ab(self, count: int | None = None) -> torch.Tensor:
        """Scaled ab (1, 2, H, W): each filled pixel its hint's ab, zero (grey) elsewhere."""
        owner = self.owner if count is None else self.owners_up_to(count)
        if not len(self.seeds.rows):
            return torch.zeros(1, 2, *owner.shape, device=owner.device)
        ab = self.seeds.ab[owner.clamp_min(0)] * (owner >= 0)[..., None]
        return ab.permute(2, 0, 1)[None]


def bucket_fill(
    lightness: torch.Tensor, hints: PageHints | None, tolerance: float = BUCKET_TOLERANCE
) -> BucketFill:
    """Scaled L (1, 1, H, W) and the page's hints -> which hint fills each pixel (see the
    module)."""
    if tolerance < 0:
        raise ValueError(f"a bucket tolerance is a number of CIE L units >= 0, got {tolerance}")
    height, width = lightness.shape[-2:]
    device = lightness.device
    seeds = hint_seeds(hints, (height, width), device)
    cie_l = (lightness[0, 0].float() + 1.0) * L_SCALE
    none = len(seeds.rows)  # an owner number above every seed's: "no fill" until the end
    owner = torch.full((height, width), none, dtype=torch.long, device=device)
    if not none:
        return BucketFill(owner - 1, seeds)
    seed_l = cie_l[seeds.rows, seeds.cols]
    bands, band_of_seed = torch.unique(seed_l, return_inverse=True)
    for first in range(0, len(bands), _MASKS_PER_CHUNK):
        chunk = bands[first : first + _MASKS_PER_CHUNK]
        allowed = (cie_l[None] - chunk[:, None, None]).abs() <= tolerance
        labels = component_labels(allowed)  # (n, H, W): 0 off a band
        numbers = torch.nonzero((band_of_seed >= first) & (band_of_seed < first + len(chunk)))
        numbers = numbers.flatten()
        band = band_of_seed[numbers] - first
        seed_labels = labels[band, seeds.rows[numbers], seeds.cols[numbers]]
        # Each component's owner is the first seed in it (the smallest number); entry 0, off the
        # band, is nobody.
        table = torch.full((int(labels.max()) + 1,), none, dtype=torch.long, device=device)
        table.scatter_reduce_(0, seed_labels, numbers, reduce="amin")
        table[0] = none
        for band_labels in labels:
            band_owner = table.index_select(0, band_labels.flatten()).view(height, width)
            owner = torch.minimum(owner, band_owner)
    return BucketFill(torch.where(owner == none, -1, owner), seeds)


def component_labels(allowed: torch.Tensor) -> torch.Tensor:
    """Bool (N, H, W) -> (N, H, W) long: 0 on False pixels, and on True ones 1 + a label of its
    4-connected component (labels unique across the batch)."""
    starts = allowed.clone()
    starts[..., 1:] &= ~allowed[..., :-1]
    # Each True pixel's run number + 1 (runs counted across the batch), 0 on False pixels.
    run = torch.cumsum(starts.flatten(), 0).view(allowed.shape).masked_fill_(~allowed, 0)
    runs = int(run.max())
    # Runs touching vertically: one pair per stretch of touching columns (a stretch starts where
    # the pair of runs above and below changes).
    touching = allowed[:, :-1] & allowed[:, 1:]
    new_pair = touching.clone()
    new_pair[..., 1:] &= ~touching[..., :-1] | starts[:, :-1, 1:] | starts[:, 1:, 1:]
    upper, lower = run[:, :-1][new_pair], run[:, 1:][new_pair]
    root = torch.arange(runs + 1, device=allowed.device)  # entry 0: off every band, its own root
    while True:
        upper_root, lower_root = root[upper], root[lower]
        apart = upper_root != lower_root
        if not apart.any():
            break
        upper_root, lower_root = upper_root[apart], lower_root[apart]
        smaller = torch.minimum(upper_root, lower_root)
        root.scatter_reduce_(0, upper_root, smaller, reduce="amin")
        root.scatter_reduce_(0, lower_root, smaller, reduce="amin")
        while True:  # every run straight to its root
            jumped = root[root]
            if torch.equal(jumped, root):
                break
            root = jumped
    return root.index_select(0, run.flatten()).view(allowed.shape)


def paint_bucket_ab(
    lightness: torch.Tensor, hints: PageHints | None, tolerance: float = BUCKET_TOLERANCE
) -> torch.Tensor:
    """Scaled L (1, 1, H, W) -> scaled ab (1, 2, H, W) of the paint-bucket baseline."""
    return bucket_fill(lightness, hints, tolerance).ab()


def paint_bucket(
    lightness: torch.Tensor, hints: PageHints | None, tolerance: float = BUCKET_TOLERANCE
) -> torch.Tensor:
    """Scaled L (1, 1, H, W) -> RGB (1, 3, H, W): the paint-bucket baseline, composed as a page."""
    return compose_lightness(lightness, paint_bucket_ab(lightness, hints, tolerance))
