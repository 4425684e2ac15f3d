"""Comparison pictures of a generator's output: input, truth and prediction side by side.

Used by training's validation grids (`callbacks.image_grid`) and eval's best/worst grids.
"""

from __future__ import annotations

import torch
from torchvision.utils import make_grid

from mangacolor.color import lightness_as_rgb, scaled_lab_to_rgb


def comparison_grid(lightness: torch.Tensor, ab: torch.Tensor, fake_ab: torch.Tensor, max_images: int = 8,
                    shown_rgb=scaled_lab_to_rgb) -> torch.Tensor:
    """Three rows (input L, real, generated) of up to max_images columns, RGB in [0, 1].

    `shown_rgb` turns the generated (L, ab) into the RGB a reader sees (colourise's lightness-
    preserving gamut mapping for whole pages; plain clipping, as in validation, by default).
    """
    n = min(max_images, lightness.shape[0])
    lightness, ab, fake_ab = lightness[:n].float(), ab[:n].float(), fake_ab[:n].float()
    rows = [lightness_as_rgb(lightness), scaled_lab_to_rgb(lightness, ab), shown_rgb(lightness, fake_ab)]
    return make_grid(torch.cat(rows).cpu(), nrow=n, padding=2, pad_value=1.0)
