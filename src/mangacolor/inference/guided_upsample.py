"""Carrying a predicted colour up from the working size to the page with the page as the guide.

Enlarged bilinearly, a prediction made at 64-256 px spreads every colour edge over one working
pixel, several page pixels: colour bleeds past a figure's outline onto the paper around it. The
page's own lightness at full resolution still shows where each line is, so it guides the
enlargement: joint bilateral upsampling (Kopf et al. 2007) on bilinear's own taps. Each page pixel
takes the mean colour of the working pixels bilinear would mix for it, each weighted by its
bilinear (tent) weight times a Gaussian of the difference between the page pixel's own L at full
resolution and the L the network saw at that working pixel (GUIDE_SIGMA_RANGE, CIE L units). A
paper pixel beside a line takes its colour from the working pixels that are paper too, not from
the figure's across the line; where L is even, the result is bilinear's exactly.

Measured (the truth's own ab through the working size and back, clip-art val pages, dE00):
  working 64 px (40 pages):  ring 1.88 bilinear -> 1.52 guided, whole page 0.80 -> 0.58
  working 256 px (20 pages): ring 0.70 -> 0.65, whole page 0.21 -> 0.21
(the ring: neutral true pixels within 8 px of colour, `evaluation.scoring.delta_e_2000_ring`).
Tried and worse: a guided filter (He et al., kornia's `guided_blur`, coefficients fitted at the
working size): one linear model of colour against L per window cannot fit colour | ink | paper
and overshoots (paper beside a synthetic line 6.7 dE00 against bilinear's 3.9); a wider tent
(support 2, a 4 x 4 neighbourhood) wins at 64 px but blurs at 256 px (whole page 0.21 -> 0.29).
On an ink line thinner than a working pixel no tap matches its L, and the running log-sum-exp
gives it the colours nearest it in L (colour under the ink, as a colourist lays it).

Pure torch on the prediction's device: (2 * support)^2 passes over the page.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from mangacolor.color import L_SCALE

UPSAMPLE_MODES = ("bilinear", "guided")
GUIDE_SUPPORT = 1  # working pixels: the tent's half-width (1: bilinear's own 2 x 2 taps)
GUIDE_SIGMA_RANGE = 8.0  # CIE L units: paper (L 90-100) and a mid tone (L 60) weigh e^-7 apart


def check_upsample(upsample: str) -> str:
    """The enlarging mode, or ValueError naming the choices."""
    if upsample not in UPSAMPLE_MODES:
        raise ValueError(f"upsample must be one of {', '.join(UPSAMPLE_MODES)}, got {upsample!r}")
    return upsample


def bilinear_upsample(color: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """(1, C, h, w) -> (1, C, H, W) bilinearly (align_corners=False), as pages always were."""
    return F.interpolate(color, size=tuple(size), mode="bilinear", align_corners=False)


def guided_upsample(
    color: torch.Tensor,
    working_lightness: torch.Tensor,
    page_lightness: torch.Tensor,
    support: int = GUIDE_SUPPORT,
    sigma_range: float = GUIDE_SIGMA_RANGE,
) -> torch.Tensor:
    """A prediction at the working size -> the page's size, following the page's lines (see the
    module).

    color: (1, C, h, w), any channels (scaled ab, scaled L, a, b, or a colour layer);
    working_lightness: the scaled L the network saw (1, 1, h, w); page_lightness: the page's scaled
    L (1, 1, H, W). Returns (1, C, H, W) float32; at equal sizes, the colour as it is.
    """
    size = tuple(page_lightness.shape[-2:])
    if tuple(color.shape[-2:]) == size:
        return color
    color = color.float()
    page_l = (page_lightness.float() + 1.0) * L_SCALE
    work_l = (working_lightness.float() + 1.0) * L_SCALE
    rows = _taps(size[0], color.shape[-2], support, color.device)
    cols = _taps(size[1], color.shape[-1], support, color.device)
    best = torch.full_like(page_l, float("-inf"))
    total = torch.zeros_like(page_l)
    weighted = torch.zeros(1, color.shape[1], *size, device=color.device)
    for row_index, row_log in rows:
        for col_index, col_log in cols:
            near_l = work_l.index_select(-2, row_index).index_select(-1, col_index)
            near_color = color.index_select(-2, row_index).index_select(-1, col_index)
            range_log = -((page_l - near_l) ** 2) / (2 * sigma_range**2)
            log_weight = row_log[:, None] + col_log[None, :] + range_log
            # A running log-sum-exp: a page pixel whose L matches no working pixel near it (ink
            # thinner than a working pixel) still gets the colours nearest it in L, not 0 / 0.
            new_best = torch.maximum(best, log_weight)
            keep = torch.exp(best - new_best).nan_to_num(0.0)  # -inf - -inf: nothing kept yet
            weight = torch.exp(log_weight - new_best).nan_to_num(0.0)
            total = total * keep + weight
            weighted = weighted * keep + weight * near_color
            best = new_best
    return weighted / total


def _taps(page: int, working: int, support: int, device) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Along one axis, per tap: each page pixel's working pixel (page,) long and the log of its
    tent weight (page,): the 2 * support working pixels around the page pixel's position
    (align_corners=False, clamped to the image as bilinear clamps it), weighted 1 - distance /
    support. With support 1 these are exactly bilinear's two taps and weights."""
    position = (
        (torch.arange(page, device=device, dtype=torch.float32) + 0.5) * (working / page) - 0.5
    ).clamp(0, working - 1)
    base = position.floor()
    taps = []
    for offset in range(1 - support, support + 1):
        index = (base + offset).clamp(0, working - 1)
        tent = (1.0 - (position - (base + offset)).abs() / support).clamp_min(0.0)
        taps.append((index.long(), tent.log()))
    return taps
