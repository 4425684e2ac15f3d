"""How a predicted colour page meets the scanned page: mangacolor-colorize's `compose` setting.

The generator predicts at the working resolution (a few hundred pixels on the shorter side); the
page is usually several times larger. Each mode says what of the result comes from the page at
its own resolution and what from the prediction, enlarged:

- `lightness`: the page's lightness L, exactly, with the predicted chroma (ab) enlarged. Right for
  continuous-tone grey scans, whose L is the picture's L, and the only choice for an ab-only
  generator. White paper and black ink stay white and black: Lab cannot hold colour there.
- `ink`: the predicted colour laid under the page's own ink, as a colourist's multiply layer:
      result = colour_under_ink (enlarged) x page grey
  in sRGB values, per channel (the layer blend an artist's multiply does). Ink black (0) stays
  black whatever lies under it, lines and lettering are exactly as sharp as the scan, and white
  paper (1) shows the colour under it.
  What goes under the ink is the prediction divided by the page as the network saw it (the
  page's grey at the working resolution: the network's own input):
      colour_under_ink = predicted RGB / max(page grey at working size, INK_FLOOR)
  The enlarged prediction carries its own soft copy of the page's lines and shading (it was
  predicted from a shrunk page); multiplying it by the page as it is would darken every shaded
  area twice and draw a dark halo, one working pixel wide, around every sharp line. Dividing
  first lifts the prediction's lightness exactly where it only repeats what the page's ink
  already shows: where the prediction has the page's own tone (shading, a soft line), the layer
  is the plain local colour and the page supplies the darkness once; where it is darker than the
  page (colour on white paper) the difference is the colour. Over a smooth area the result is the
  prediction itself. The division is not trusted where the page is nearly all ink at the working
  scale (grey below INK_FLOOR_FLATTEN): there the layer is flattened toward the local colour of
  the paper around it (a Gaussian average weighted by how much paper each working pixel shows),
  so a network whose soft lines are wider or darker than the page's own leaves no halo.
  Channels may exceed 1 before the multiply (a saturated colour under grey tone); the final
  colour is brought into sRGB keeping its luminance (`color.fit_to_gamut`).
- `predicted`: the network's colour page alone (its L, a and b), enlarged.

`descreen` (pixels, 0 = off): before composing, smooth the page's screentone into the shading it
stands for, so colour lies under even grey instead of dots (see `descreen`). Lines and lettering
are kept.

`auto` is chosen per page by `choose`: lightness for an ab-only generator; for a full-colour
generator `ink` on a black-and-white ink page (screentone, line art, flat tone) and `lightness`
on a continuous grey page, whose tones are already the picture's lightness (`page_kind`).

Pure torch; everything runs on the page's device in float32.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from kornia.filters import gaussian_blur2d

from mangacolor.color import (
    fit_to_gamut,
    grey_as_lightness,
    lightness_as_grey,
    lightness_preserving_rgb,
    linear_to_srgb_unbounded,
    luminance,
    srgb_to_linear,
)
from mangacolor.inference.page_kind import GREY, page_kind

AUTO, LIGHTNESS, INK, PREDICTED = "auto", "lightness", "ink", "predicted"
COMPOSE_MODES = (AUTO, LIGHTNESS, INK, PREDICTED)
NEEDS_FULL_COLOR = (INK, PREDICTED)

INK_FLOOR = 0.02          # page grey (0 ink .. 1 paper) the prediction is never divided by less than
FLATTEN_REACH = 2         # working pixels: a line's neighbourhood, where the layer leans on its surroundings
FLATTEN_SIGMA = 2.0       # working pixels: how far the surroundings it leans on reach
TRUST_POWER = 32          # how quickly trust falls as a line darkens a working pixel


def check_compose(compose: str, predicts: str, generator_name: str = "the generator") -> None:
    """A clear ValueError for an unknown mode, or a mode the generator cannot serve."""
    if compose not in COMPOSE_MODES:
        raise ValueError(f"compose must be one of {', '.join(COMPOSE_MODES)}, got {compose!r}")
    if compose in NEEDS_FULL_COLOR and predicts != "lab":
        raise ValueError(
            f"compose={compose} needs a full-colour generator (one that predicts L, a and b), but "
            f"{generator_name} predicts ab only (a and b for the page's own L): use compose=lightness "
            "or compose=auto with it, or a generator trained with full-colour output"
        )


def choose(compose: str, predicts: str, lightness: torch.Tensor) -> str:
    """The mode for one page: `compose` itself unless it is auto (see the module docstring)."""
    if compose != AUTO:
        return compose
    if predicts != "lab":
        return LIGHTNESS
    return LIGHTNESS if page_kind(lightness) == GREY else INK


def compose_lightness(lightness: torch.Tensor, ab: torch.Tensor) -> torch.Tensor:
    """The page's scaled L (1, 1, H, W) with predicted scaled ab at the same size -> RGB in [0, 1]."""
    return lightness_preserving_rgb(lightness, ab)


def compose_predicted(prediction: torch.Tensor) -> torch.Tensor:
    """Predicted scaled (L, a, b) (1, 3, H, W) at the page's size -> RGB in [0, 1]."""
    return lightness_preserving_rgb(prediction[:, :1], prediction[:, 1:])


def color_under_ink(prediction: torch.Tensor, working_lightness: torch.Tensor) -> torch.Tensor:
    """Predicted scaled (L, a, b) and the network's input L, both at the working size ->
    the colour layer to lay under the page's ink (1, 3, h, w), sRGB values that may exceed 1."""
    predicted_rgb = lightness_preserving_rgb(prediction[:, :1], prediction[:, 1:])
    page_grey = lightness_as_grey(working_lightness)
    layer = predicted_rgb / page_grey.clamp_min(INK_FLOOR)
    # Near a line the division pits the prediction's soft copy of the line against the page's: two
    # dark values whose ratio is only as good as their agreement, so a network drawing its lines
    # wider or narrower than the page's would leave a dark or light halo. There the layer's
    # luminance leans on the paper around it: each working pixel is trusted as far as it is as
    # light as the lightest page within FLATTEN_REACH of it (1 on paper and inside even tone, less
    # where a line darkens it), and an untrusted one takes a Gaussian average of the luminance
    # around it weighted by that trust. Only the luminance: its hue and saturation stay its own,
    # so the colours on the two sides of a line do not run into each other.
    reach = 2 * FLATTEN_REACH + 1
    lightest_near = F.max_pool2d(F.pad(page_grey, (FLATTEN_REACH,) * 4, mode="replicate"), reach, stride=1)
    trust = (page_grey / lightest_near.clamp_min(INK_FLOOR)).clamp(0.0, 1.0).pow(TRUST_POWER)
    kernel = 2 * round(3 * FLATTEN_SIGMA) + 1
    blur = lambda x: gaussian_blur2d(x, (kernel, kernel), (FLATTEN_SIGMA, FLATTEN_SIGMA), border_type="replicate")
    linear = srgb_to_linear(layer)
    own = luminance(linear)
    surroundings = blur(own * trust) / blur(trust).clamp_min(1e-6)
    flattened = trust * own + (1.0 - trust) * surroundings
    return linear_to_srgb_unbounded(linear * (flattened / own.clamp_min(1e-6)))


def compose_ink(layer: torch.Tensor, lightness: torch.Tensor) -> torch.Tensor:
    """The colour layer enlarged to the page's size (1, 3, H, W) and the page's scaled L (1, 1, H, W)
    -> RGB in [0, 1]: the layer multiplied by the page's grey, brought into sRGB."""
    return fit_to_gamut(layer * lightness_as_grey(lightness))


# ---- descreen -----------------------------------------------------------------------------------


def _shifted(mask: torch.Tensor, step: int, dy: int, dx: int) -> torch.Tensor:
    """A bool mask moved by step * (dy, dx) pixels (a pixel reads the one step * (dy, dx) after
    it), False where that falls outside the image."""
    height, width = mask.shape[-2:]
    oy, ox = step * dy, step * dx
    out = torch.zeros_like(mask)
    if height > abs(oy) and width > abs(ox):
        out[..., max(0, -oy):height - max(0, oy), max(0, -ox):width - max(0, ox)] = \
            mask[..., max(0, oy):height - max(0, -oy), max(0, ox):width - max(0, -ox)]
    return out


def _all_along(mask: torch.Tensor, length: int, dy: int, dx: int) -> torch.Tensor:
    """True where `mask` holds at this pixel and the next length - 1 along (dy, dx); doubling the
    window each step, so a run of n costs about log2(n) shifts."""
    covered, span = mask, 1
    while 2 * span <= length:
        covered = covered & _shifted(covered, span, dy, dx)
        span *= 2
    if span < length:
        covered = covered & _shifted(covered, length - span, dy, dx)
    return covered


def _any_along(mask: torch.Tensor, length: int, dy: int, dx: int) -> torch.Tensor:
    """True where `mask` holds at this pixel or one of the previous length - 1 along (dy, dx)."""
    covered, span = mask, 1
    while 2 * span <= length:
        covered = covered | _shifted(covered, -span, dy, dx)
        span *= 2
    if span < length:
        covered = covered | _shifted(covered, span - length, dy, dx)
    return covered


def _in_long_run(dark: torch.Tensor, length: int) -> torch.Tensor:
    """Dark pixels (bool) that belong to a straight run of at least `length` dark pixels across,
    down or along either diagonal: a morphological opening by a line in each direction."""
    kept = torch.zeros_like(dark)
    for dy, dx in ((0, 1), (1, 0), (1, 1), (1, -1)):
        kept |= _any_along(_all_along(dark, length, dy, dx), length, dy, dx)
    return kept


def descreen(lightness: torch.Tensor, period: int) -> torch.Tensor:
    """Scaled L (1, 1, H, W) -> the same page with its screentone smoothed into even tone.

    `period`: the coarsest screen to remove, in page pixels (a screen's dot spacing; a few pixels on
    a page scanned at 1000-1600 px). Ink that lies in straight runs longer than two periods in some
    direction (lines, lettering, solid blacks, hatching) is kept as it is, grown by a pixel to keep
    its anti-aliased edge; every other pixel becomes the average of the non-line pixels around it
    (a Gaussian of sigma period / 2, which leaves under 1 % of a screen's pattern), so the tone
    under a line is not darkened by the line.
    """
    if period < 2:
        return lightness
    grey = lightness_as_grey(lightness)
    line = _in_long_run(grey < 0.5, 2 * period + 1).float()
    line = F.max_pool2d(line, 3, stride=1, padding=1)
    sigma = period / 2
    kernel = 2 * round(3 * sigma) + 1
    border = "reflect" if min(grey.shape[-2:]) > kernel // 2 else "replicate"
    blur = lambda x: gaussian_blur2d(x, (kernel, kernel), (sigma, sigma), border_type=border)
    # Averaged as grey values, as the multiply composes them and as a reader's eye blends dots.
    open_area = 1.0 - line
    weight = blur(open_area)
    tone = grey_as_lightness(blur(grey * open_area) / weight.clamp_min(1e-6))
    # Far from any open pixel (inside solid black) there is no tone to take: keep the page there.
    return torch.where((line > 0) | (weight <= 1e-3), lightness, tone)
