"""Carrying a predicted colour up from the working size to the page with the page as the guide.

Enlarged bilinearly, a prediction made at 64-256 px spreads every colour edge over one working
pixel, several page pixels: colour bleeds past a figure's outline onto the white paper around it.
The page's own lightness at full resolution still shows where each line is, so it can guide the
enlargement: the fast guided filter used for upsampling (He & Sun 2015, "Fast Guided Filter";
Wu et al. 2018, "Fast End-to-End Trainable Guided Filter"). At the working size, in every window
of (2 * radius + 1) working pixels, each colour channel is fitted as a linear function of the
lightness the network saw (q = a L + b, least squares with `eps` added to L's variance); the
coefficients, averaged over the windows and enlarged bilinearly, are applied to the page's own L
at full resolution. Where a window holds colour on one side of a line and paper on the other, the
fit says "lighter is less coloured", and the page's sharp L puts the edge where the line is.

Why not kornia's `guided_blur(subsample=...)`: it shrinks the guide by taking every n-th pixel,
which misses thin lines that the network's (antialiased) input shows as a grey; the coefficients
must be fitted against the very lightness the prediction was made from. The window means are
kornia's `box_blur`.

Units: L is taken as CIE L / 100 (0 ink .. 1 paper), so `eps` is in those units squared.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from kornia.filters import box_blur

from mangacolor.color import L_SCALE

UPSAMPLE_MODES = ("bilinear", "guided")
GUIDE_RADIUS = 1        # working pixels: the fit's window is 3 x 3 at the working size
GUIDE_EPS = 1e-4        # (L / 100)^2: a window whose L varies by under about 1 L unit stays smooth


def check_upsample(upsample: str) -> str:
    """The enlarging mode, or ValueError naming the choices."""
    if upsample not in UPSAMPLE_MODES:
        raise ValueError(f"upsample must be one of {', '.join(UPSAMPLE_MODES)}, got {upsample!r}")
    return upsample


def bilinear_upsample(color: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """(1, C, h, w) -> (1, C, H, W) bilinearly (align_corners=False), as the page has always been."""
    return F.interpolate(color, size=tuple(size), mode="bilinear", align_corners=False)


def guided_upsample(color: torch.Tensor, working_lightness: torch.Tensor, page_lightness: torch.Tensor,
                    radius: int = GUIDE_RADIUS, eps: float = GUIDE_EPS) -> torch.Tensor:
    """A prediction at the working size -> the page's size, following the page's lines.

    color: (1, C, h, w), any channels (scaled ab, or scaled L, a, b); working_lightness: the scaled L
    the network saw (1, 1, h, w); page_lightness: the page's scaled L (1, 1, H, W). Returns
    (1, C, H, W) float32. Equal sizes: the colour as it is.
    """
    size = tuple(page_lightness.shape[-2:])
    if tuple(color.shape[-2:]) == size:
        return color
    guide = _unit_lightness(working_lightness)
    color = color.float()
    window = (2 * radius + 1, 2 * radius + 1)
    blur = lambda x: box_blur(x, window, border_type="replicate")
    mean_guide = blur(guide)
    variance = blur(guide * guide) - mean_guide * mean_guide
    mean_color = blur(color)
    covariance = blur(guide * color) - mean_guide * mean_color
    slope = covariance / (variance + eps)
    offset = mean_color - slope * mean_guide
    slope, offset = blur(slope), blur(offset)
    return bilinear_upsample(slope, size) * _unit_lightness(page_lightness) + bilinear_upsample(offset, size)


def _unit_lightness(lightness: torch.Tensor) -> torch.Tensor:
    """Scaled L (L / 50 - 1) -> L / 100 in [0, 1], float32."""
    return (lightness.float() + 1.0) * (L_SCALE / 100.0)
