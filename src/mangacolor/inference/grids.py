"""Comparison pictures of a generator's output: input, truth and prediction side by side.

Used by training's validation grids (`callbacks.image_grid`) and eval's best/worst grids.
"""

from __future__ import annotations

import torch
from torchvision.utils import make_grid

from mangacolor.color import lightness_as_rgb, scaled_lab_to_rgb


def comparison_grid(
    lightness: torch.Tensor,
    ab: torch.Tensor,
    fake: torch.Tensor,
    max_images: int = 8,
    shown_rgb=scaled_lab_to_rgb,
    inputs: torch.Tensor | None = None,
) -> torch.Tensor:
    """Three rows (input, real, generated) of up to max_images columns, RGB in [0, 1].

    lightness and ab are the true page's, scaled. `fake` is the generator's output: ab (2 channels,
    shown on the true L) or a full-colour generator's (L, a, b) (3 channels, shown with its own L).
    `inputs` is the B&W page the generator saw (scaled like L; the true L when not given).
    `shown_rgb` turns the generated (L, ab) into the RGB a reader sees (colourise's lightness-
    preserving gamut mapping for whole pages; plain clipping, as in validation, by default).
    """
    n = min(max_images, lightness.shape[0])
    lightness, ab, fake = lightness[:n].float(), ab[:n].float(), fake[:n].float()
    inputs = lightness if inputs is None else inputs[:n].float()
    fake_lightness = fake[:, :1] if fake.shape[1] == 3 else lightness
    rows = [
        lightness_as_rgb(inputs),
        scaled_lab_to_rgb(lightness, ab),
        shown_rgb(fake_lightness, fake[:, -2:]),
    ]
    return make_grid(torch.cat(rows).cpu(), nrow=n, padding=2, pad_value=1.0)
