"""The best and worst k images by one metric, kept small on the CPU, for the PNG grids.

Each kept image is stored as its (L, true ab, prediction) preview, the prediction being ab or a
full-colour generator's (L, a, b); whole pages of different sizes are first fitted into a square
(white margins) so that they line up in one grid.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from mangacolor.inference.grids import comparison_grid


def fit_in_square(
    lightness: torch.Tensor, ab: torch.Tensor, fake: torch.Tensor, side: int
) -> torch.Tensor:
    """One image's scaled L, ab, prediction (C, h, w) -> (5 or 6, side, side), aspect kept, white margins."""
    stacked = torch.cat([lightness, ab, fake])[None].float()
    height, width = stacked.shape[-2:]
    scale = side / max(height, width)
    new_h, new_w = max(1, round(height * scale)), max(1, round(width * scale))
    resized = F.interpolate(
        stacked, size=(new_h, new_w), mode="bilinear", align_corners=False, antialias=scale < 1
    )[0]
    canvas = torch.zeros(stacked.shape[1], side, side)
    canvas[0] = 1.0  # scaled L of white; ab 0
    if fake.shape[0] == 3:
        canvas[3] = 1.0  # the prediction's own L
    top, left = (side - new_h) // 2, (side - new_w) // 2
    canvas[:, top : top + new_h, left : left + new_w] = resized
    return canvas


@dataclass(order=True)
class Kept:
    order: float  # ascending = the order shown: best first in `best`, worst first in `worst`
    value: float = field(compare=False)
    path: str = field(compare=False)
    preview: torch.Tensor = field(compare=False, repr=False)  # (5 or 6, h, w): L, ab, prediction


class ExtremeImages:
    """Keeps the k best and k worst images seen, by a metric where higher or lower is better."""

    def __init__(self, k: int, higher_is_better: bool, fit_side: int | None = None, shown_rgb=None):
        self.k, self.higher_is_better, self.fit_side = k, higher_is_better, fit_side
        self.shown_rgb = shown_rgb  # how the prediction column is drawn; None: as validation does
        self.kept: dict[str, list[Kept]] = {"best": [], "worst": []}

    def _order(self, value: float, which: str) -> float:
        badness = -value if self.higher_is_better else value
        return badness if which == "best" else -badness

    def _qualifies(self, which: str, order: float) -> bool:
        kept = self.kept[which]
        return len(kept) < self.k or order < kept[-1].order

    def add(
        self,
        values: list[float],
        paths: list[str],
        lightness: torch.Tensor,
        ab: torch.Tensor,
        fake: torch.Tensor,
    ) -> None:
        """One group of scored images: metric values, paths, and tensors (n, C, h, w) on any device."""
        if self.k == 0:
            return
        for i, (value, path) in enumerate(zip(values, paths, strict=True)):
            targets = [
                which for which in self.kept if self._qualifies(which, self._order(value, which))
            ]
            if not targets:
                continue
            preview = torch.cat([lightness[i], ab[i], fake[i]]).float().cpu()
            if self.fit_side:
                preview = fit_in_square(preview[:1], preview[1:3], preview[3:], self.fit_side)
            for which in targets:
                item = Kept(self._order(value, which), value, path, preview)
                self.kept[which] = sorted(self.kept[which] + [item])[: self.k]

    def ranked(self, which: str) -> list[tuple[str, float]]:
        """(path, metric value) of the kept images: best first for 'best', worst first for 'worst'."""
        return [(item.path, item.value) for item in self.kept[which]]

    def grid(self, which: str) -> torch.Tensor | None:
        """Three rows (input L, truth, prediction), one column per kept image; None when none kept."""
        kept = self.kept[which]
        if not kept:
            return None
        previews = torch.stack([item.preview for item in kept])
        extra = {"shown_rgb": self.shown_rgb} if self.shown_rgb is not None else {}
        return comparison_grid(
            previews[:, :1], previews[:, 1:3], previews[:, 3:], max_images=len(kept), **extra
        )
