"""The one model the studio holds, and what it makes: previews, full pages and colour layers.

Requests to the model are serialised by one lock (a second request waits rather than running a
second copy beside it). A preview request carries its tab's id and a sequence number; when it gets
the lock after a newer one from the same tab for the same page arrived, it is dropped unseen: a
user placing dots faster than the model colours gets the newest state, not a queue of stale ones.
"""

from __future__ import annotations

import threading
from collections.abc import Hashable

import torch
import torch.nn.functional as F
from torch import nn

from mangacolor.hints.marks import PageHints
from mangacolor.inference.generator_file import takes_hints
from mangacolor.inference.page_colorizer import PageColorizer


class ColorEngine:
    def __init__(
        self,
        generator: nn.Module,
        short_side: int | None,
        device: str = "cpu",
        precision: str = "32-true",
    ):
        self.generator = generator.eval().to(device)
        self.short_side = short_side
        self.device, self.precision = device, precision
        self.takes_hints = takes_hints(generator)
        self.lock = threading.Lock()
        self._latest: dict[Hashable, int] = {}  # (tab, page) -> the newest preview asked for
        self._latest_lock = threading.Lock()

    def color(
        self, rgb: torch.Tensor, hints: PageHints | None, compose: str, chroma: float
    ) -> torch.Tensor:
        """uint8 RGB (3, H, W) -> the coloured page, uint8 RGB at the same size. Hints are ignored
        by a model that takes none (the page then says so); ValueError for a bad compose or
        chroma."""
        colorizer = self._colorizer(compose, chroma)
        with self.lock:
            return self._color(colorizer, rgb, hints)

    def preview(
        self,
        key: Hashable,
        seq: int,
        rgb: torch.Tensor,
        hints: PageHints | None,
        compose: str,
        chroma: float,
        width: int,
    ) -> torch.Tensor | None:
        """The page coloured at `width` pixels across (never above its own), or None when a newer
        preview with the same key (a tab and a page) was asked for while this one waited."""
        with self._latest_lock:
            self._latest[key] = max(seq, self._latest.get(key, seq))
        factor = min(1.0, width / rgb.shape[-1])
        if factor < 1.0:
            rgb = shrink(rgb, factor)
            hints = hints.scaled(factor) if hints else hints
        colorizer = self._colorizer(compose, chroma)
        with self.lock:
            if seq < self._latest.get(key, seq):
                return None
            return self._color(colorizer, rgb, hints)

    def _colorizer(self, compose: str, chroma: float) -> PageColorizer:
        """The model with this request's compose and chroma (a light object: the network is
        shared); ValueError for a bad compose or chroma."""
        return PageColorizer(
            self.generator,
            self.short_side,
            device=self.device,
            precision=self.precision,
            compose=compose,
            chroma=chroma,
        )

    def _color(
        self, colorizer: PageColorizer, rgb: torch.Tensor, hints: PageHints | None
    ) -> torch.Tensor:
        if hints and self.takes_hints:
            return colorizer.color([rgb], hints=[hints])[0]
        return colorizer.color([rgb])[0]


def shrink(rgb: torch.Tensor, factor: float) -> torch.Tensor:
    """uint8 RGB (3, H, W) scaled by `factor` < 1, antialiased."""
    height, width = rgb.shape[-2:]
    size = (max(1, round(height * factor)), max(1, round(width * factor)))
    small = F.interpolate(
        rgb[None].float(), size=size, mode="bilinear", align_corners=False, antialias=True
    )
    return small[0].round().clamp(0, 255).to(torch.uint8)


def color_layer(page: torch.Tensor, colored: torch.Tensor) -> tuple[torch.Tensor, int]:
    """The colour alone, for artists who paint further: uint8 RGBA (4, H, W) that laid over the
    B&W page in Multiply mode gives the coloured page, transparent where the page stays as it is.

    Multiply only darkens, so a channel the colouring made lighter than the page (colour in a grey
    tone, kept at the page's lightness) cannot be given back exactly; returns the layer and the
    largest difference, in levels, between the page multiplied by it and the coloured page.
    """
    base, target = page.float(), colored.float()
    layer = torch.where(
        base > 0, (255.0 * target / base.clamp_min(1.0)).round(), torch.full_like(base, 255.0)
    )
    layer = layer.clamp(0, 255)
    changed = (target - base).abs().amax(dim=0, keepdim=True) > 0.5
    layer = torch.where(changed, layer, torch.full_like(layer, 255.0))
    alpha = changed.float() * 255.0
    multiplied = (layer * base / 255.0).round()
    error = int((multiplied - target).abs().max().item()) if target.numel() else 0
    return torch.cat([layer, alpha]).to(torch.uint8), error


def multiply(page: torch.Tensor, layer: torch.Tensor) -> torch.Tensor:
    """A paint program's Multiply: uint8 RGBA layer over uint8 RGB page -> uint8 RGB."""
    base, rgb, alpha = page.float(), layer[:3].float(), layer[3:].float() / 255.0
    return (base * (1 - alpha) + alpha * rgb * base / 255.0).round().clamp(0, 255).to(torch.uint8)
