"""What a page is, before it is coloured: already in colour, black-and-white ink, or grey tones.

`is_color_page(rgb)`: a page already in colour (a colour insert in a volume) is left as it is by
mangacolor-colorize. A scan of a black-and-white page is never exactly grey: old paper yellows, a
scanner adds a slight cast, and both change with brightness (the paper takes the tint, black ink
hardly any). So each pixel's colour is measured after taking away its grey and the page's own
cast at that brightness, fitted over the whole page as a tint proportional to brightness plus a
constant (two numbers per channel, fitted on medians, so the few coloured pixels of a colour page
cannot pull the fit toward themselves); the page is in colour when more than
`COLOR_AREA` of it still shows colour. The page is first shrunk by area averaging (to at most
`COLOR_SIDE` pixels on its shorter side): a scanner's colour fringes along black lines (red on one
side, cyan on the other) average out, while a coloured area keeps its colour.

`page_kind(lightness)`: how a black-and-white page shows its tones.
- "ink": black ink on white paper, with mid-tones as screentone (dots, lines, hatching: black and
  white at the pixel scale, grey only on average) or as a few flat grey levels (digital tone);
  white paper there stands for every light colour, so the colour has to go under the ink;
- "grey": continuous grey tones (a grey scan or rendering of tonal art): the page's lightness is
  the picture's lightness, so only its colour is missing.
Measured on the page's own pixels (never a shrunk copy, which would average screentone into grey):
among pixels whose neighbourhood (5 x 5) is a mid-tone, those that are smooth (little variation
within the neighbourhood, unlike a screen) and not on one of a few flat levels (unlike digital
tone) count as continuous tone; the page is "grey" when they cover more than `GREY_AREA` of it.
A screen so fine and so blurred that its dots vary less than `SMOOTH_STD` within 5 x 5 pixels
reads as grey. A large page is measured on 128 blocks of 64 x 64 of its pixels spread evenly over it.

Pure torch; runs on the page's device.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

INK, GREY = "ink", "grey"

COLOR_SHRINK = 4  # pages are shrunk at least this many times (area averaging)...
COLOR_SIDE = 256  # ...and to at most this shorter side, before colour is measured
COLOR_CHROMA = 24.0  # a pixel shows colour when its channels differ by more than this (0-255)...
COLOR_AREA = 0.02  # ...and a page is in colour when more than this share of it does

WINDOW = 5  # neighbourhood (pixels) over which tone and texture are measured
EXTREME_SHARE = 0.002  # the paper and ink levels: the lightest and darkest 0.2 % of the page
MIN_CONTRAST = 30.0  # L units between paper and ink below which a page has no ink to speak of
TONE_MARGIN = (
    0.08  # a neighbourhood this share of the span from paper and from ink is a mid-tone...
)
TONE_MARGIN_MIN = (
    6.0  # ...and at least this many L units from each (scan noise on paper is not tone)
)
SMOOTH_STD = 0.08  # a neighbourhood varying less than this share of the paper-ink span is smooth
FLAT_LEVELS = 6  # digital tone uses a few flat levels: the most common 2-L bins of smooth tone
FLAT_SHARE = 0.8  # smooth tone that much on those levels is flat tone, not continuous
GREY_AREA = 0.15  # continuous tone over more than this share of the page makes it "grey"
BLOCK, SAMPLE_BLOCKS = 64, 128  # a large page is measured on this many blocks of its own pixels


def _percentile(
    values: torch.Tensor, q: float, low: float, high: float, bins: int = 512
) -> torch.Tensor:
    """The q-quantile of `values` in [low, high] from a histogram (torch.quantile refuses large inputs)."""
    histogram = torch.histc(values.float().flatten(), bins=bins, min=low, max=high)
    cumulative = histogram.cumsum(0) / histogram.sum().clamp_min(1.0)
    index = torch.searchsorted(cumulative, torch.tensor([q], device=values.device)).clamp(
        max=bins - 1
    )
    return low + (index.float() + 0.5) * (high - low) / bins


def color_share(rgb: torch.Tensor) -> float:
    """uint8 (or [0, 255] float) RGB (3, H, W) -> the share of the page that shows colour beyond
    its grey and its paper's cast (see the module docstring)."""
    image = rgb.float()[None]
    height, width = image.shape[-2:]
    scale = min(1.0 / COLOR_SHRINK, COLOR_SIDE / min(height, width))
    size = (max(1, round(height * scale)), max(1, round(width * scale)))
    image = F.interpolate(image, size=size, mode="area")
    # Then each pixel with its neighbours: a fringe's two sides (one red, one cyan) fall in one window.
    image = F.avg_pool2d(F.pad(image, (1, 1, 1, 1), mode="replicate"), 3, stride=1)
    pixels = image[0].flatten(1)  # (3, N)
    grey = pixels.mean(0, keepdim=True)  # (1, N)
    residual = pixels - grey  # each pixel's colour beyond its grey
    # The cast: residual = tint * grey + offset per channel, through the medians of the darker and
    # the brighter half of the page (yellowed paper: a tint growing with brightness; a scanner's
    # cast: an offset). A page of one brightness has only an offset.
    middle = grey.median()
    dark, bright = grey[0] <= middle, grey[0] > middle
    if bool(bright.any()) and bool(dark.any()):
        grey_dark, grey_bright = grey[0, dark].median(), grey[0, bright].median()
        res_dark, res_bright = (
            residual[:, dark].median(1).values,
            residual[:, bright].median(1).values,
        )
        tint = (res_bright - res_dark) / (grey_bright - grey_dark).clamp_min(1.0)
        offset = res_dark - tint * grey_dark
    else:
        tint, offset = torch.zeros(3, device=pixels.device), residual.median(1).values
    color = residual - tint[:, None] * grey - offset[:, None]
    chroma = color.amax(0) - color.amin(0)
    return float((chroma > COLOR_CHROMA).float().mean())


def is_color_page(rgb: torch.Tensor) -> bool:
    """uint8 RGB (3, H, W) -> True for a page already in colour; a yellowed or slightly tinted scan
    of a black-and-white page is not."""
    return color_share(rgb) > COLOR_AREA


def _local_mean_std(lightness: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    pad = WINDOW // 2
    padded = F.pad(lightness, (pad, pad, pad, pad), mode="replicate")
    mean = F.avg_pool2d(padded, WINDOW, stride=1)
    square = F.avg_pool2d(padded * padded, WINDOW, stride=1)
    return mean, (square - mean * mean).clamp_min(0.0).sqrt()


def _sample_blocks(lightness: torch.Tensor) -> torch.Tensor:
    """(1, 1, H, W) -> the page itself, or for a large page SAMPLE_BLOCKS blocks of BLOCK x BLOCK
    pixels on an even grid over it, (N, 1, BLOCK, BLOCK): the statistics are shares of the page,
    which a few hundred thousand of its own pixels estimate well at a fraction of the cost."""
    height, width = lightness.shape[-2:]
    if height * width <= SAMPLE_BLOCKS * BLOCK * BLOCK or min(height, width) < BLOCK:
        return lightness
    rows = max(1, round((SAMPLE_BLOCKS * height / width) ** 0.5))
    cols = max(1, SAMPLE_BLOCKS // rows)
    ys = torch.linspace(0, height - BLOCK, rows).round().long().tolist()
    xs = torch.linspace(0, width - BLOCK, cols).round().long().tolist()
    return torch.cat([lightness[..., y : y + BLOCK, x : x + BLOCK] for y in ys for x in xs])


def continuous_tone_share(lightness: torch.Tensor) -> float:
    """Scaled L (1, 1, H, W) at the page's own size -> the share of the page in continuous grey tone."""
    lightness = (_sample_blocks(lightness).float() + 1.0) * 50.0
    # Paper and ink levels from the extremes, but not from the last few pixels (dust, a stray
    # mark); sparse line art has its ink in well under 1 % of the page.
    paper = _percentile(lightness, 1.0 - EXTREME_SHARE, 0.0, 100.0)
    ink = _percentile(lightness, EXTREME_SHARE, 0.0, 100.0)
    span = paper - ink
    if float(span) < MIN_CONTRAST:
        return 1.0  # no ink, no paper: nothing but tone (or a blank page)
    mean, std = _local_mean_std(lightness)
    margin = torch.clamp(TONE_MARGIN * span, min=TONE_MARGIN_MIN)
    mid = (mean > ink + margin) & (mean < paper - margin)
    smooth = mid & (std < SMOOTH_STD * span)
    smooth_values = lightness[smooth]
    if smooth_values.numel() == 0:
        return 0.0
    histogram = torch.histc(smooth_values, bins=50, min=0.0, max=100.0)
    flat = histogram.sort(descending=True).values[:FLAT_LEVELS].sum() / histogram.sum()
    if float(flat) >= FLAT_SHARE:
        return 0.0  # a few flat levels: digital tone, drawn like screentone
    return float(smooth_values.numel() / lightness.numel() * (1.0 - flat))


def page_kind(lightness: torch.Tensor) -> str:
    """Scaled L (1, 1, H, W) of a page at its own size -> INK ("ink") or GREY ("grey")."""
    return GREY if continuous_tone_share(lightness) > GREY_AREA else INK
