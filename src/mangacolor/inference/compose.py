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
  prediction itself. Near lines on paper, where the division is only as good as the agreement
  of two soft copies of a line, and where the page is almost solid black, the layer's luminance
  is corrected (see `color_under_ink`). Channels may exceed 1 before the multiply (a saturated
  colour under grey tone); the final colour is brought into sRGB keeping its luminance
  (`color.fit_to_gamut`).
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

import math
from typing import Any

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
from mangacolor.runtime.config_errors import ConfigError, require

AUTO, LIGHTNESS, INK, PREDICTED = "auto", "lightness", "ink", "predicted"
COMPOSE_MODES = (AUTO, LIGHTNESS, INK, PREDICTED)
NEEDS_FULL_COLOR = (INK, PREDICTED)

INK_FLOOR = 0.02  # page grey (0 ink .. 1 paper) the prediction is never divided by less than
LAYER_CAP = 2.0  # the layer's luminance, at most twice white paper's (see color_under_ink)
PAPER_NEAR = 0.9  # a working pixel this light within FLATTEN_REACH of it: lines on paper around
FLATTEN_REACH = (
    2  # working pixels: a line's neighbourhood, where the layer leans on its surroundings
)
TRUST_POWER = (
    32  # how quickly trust falls as a line darkens a working pixel against the paper near it
)
FLATTEN_SIGMA = 2.0  # working pixels: how far the surroundings it leans on reach
SCREEN_PIECES = 6  # descreen: dots (or holes) within four periods that make a screen


# The page-composition settings colorize and eval share (`compose`, `descreen`, `chroma`), each
# rule said once here, in the words their errors use.
COMPOSE_RULE = f"one of {', '.join(COMPOSE_MODES)}"
DESCREEN_RULE = "0 (off) or a screen period of at least 2 pixels"
CHROMA_RULE = "a number >= 0 (1: as predicted, 0: no colour)"


def is_descreen(value) -> bool:
    """A descreen setting: a whole number, 0 (off) or a period of at least 2 pixels."""
    return isinstance(value, int) and not isinstance(value, bool) and (value == 0 or value >= 2)


def is_chroma(value) -> bool:
    """A colour strength (colorize's and eval's `chroma`): a finite number, at least 0."""
    return (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and math.isfinite(value)
        and value >= 0
    )


def chroma_value(value: Any) -> float:
    """A `chroma` setting as given on a command line (a number or a numeric string) as a float;
    ConfigError naming `chroma` otherwise. Its range is `is_chroma`'s to judge."""
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"chroma must be {CHROMA_RULE}, got {value!r}") from None


def check_composition(section: str, compose, descreen, chroma) -> None:
    """colorize's and eval's composition settings checked: a ConfigError naming the key, whose
    prefix is `section` ("" for colorize's top-level keys, "eval." for eval's)."""
    require(compose in COMPOSE_MODES, f"{section}compose must be {COMPOSE_RULE}, got {compose!r}")
    require(is_descreen(descreen), f"{section}descreen must be {DESCREEN_RULE}, got {descreen!r}")
    require(is_chroma(chroma), f"{section}chroma must be {CHROMA_RULE}, got {chroma!r}")


def check_compose(compose: str, predicts: str, generator_name: str = "the generator") -> None:
    """A clear ValueError for an unknown mode, or a mode the generator cannot serve."""
    if compose not in COMPOSE_MODES:
        raise ValueError(f"compose must be {COMPOSE_RULE}, got {compose!r}")
    if compose in NEEDS_FULL_COLOR and predicts != "lab":
        raise ValueError(
            f"compose={compose} needs a full-colour generator (one that predicts L, a and b), but "
            f"{generator_name} predicts ab only (a and b for the page's own L): use "
            "compose=lightness or compose=auto with it, or a generator trained with full-colour "
            "output"
        )


def choose(compose: str, predicts: str, lightness: torch.Tensor) -> str:
    """The mode for one page: `compose` itself unless it is auto (see the module docstring)."""
    if compose != AUTO:
        return compose
    if predicts != "lab":
        return LIGHTNESS
    return LIGHTNESS if page_kind(lightness) == GREY else INK


def compose_lightness(lightness: torch.Tensor, ab: torch.Tensor) -> torch.Tensor:
    """The page's scaled L (1, 1, H, W) with predicted scaled ab at the same size -> RGB in
    [0, 1]."""
    return lightness_preserving_rgb(lightness, ab)


def compose_predicted(prediction: torch.Tensor) -> torch.Tensor:
    """Predicted scaled (L, a, b) (1, 3, H, W) at the page's size -> RGB in [0, 1]."""
    return lightness_preserving_rgb(prediction[:, :1], prediction[:, 1:])


def color_under_ink(prediction: torch.Tensor, working_lightness: torch.Tensor) -> torch.Tensor:
    """Predicted scaled (L, a, b) and the network's input L, both at the working size ->
    the colour layer to lay under the page's ink (1, 3, h, w), sRGB values that may exceed 1.

    The prediction divided by the page's grey as the network saw it, channel by channel, so that
    the page's own ink and tone, multiplied back in, give the prediction again (see the module
    docstring). Two corrections, both of the layer's luminance only (its hue and saturation stay
    its own, so the colours on the two sides of a line do not run into each other):
    - the luminance is capped at LAYER_CAP times white paper's: enough for a saturated colour
      under a mid-grey tone to keep its own lightness, while a working pixel the page shows as
      almost solid black (where the division means little) cannot light up the paper beside it;
    - near lines on paper the division pits the prediction's soft copy of a line against the
      page's: two dark values whose ratio is only as good as their agreement, so a network drawing
      its lines wider or narrower than the page's would leave a dark or light halo. Where paper is
      near (a working pixel within FLATTEN_REACH at least PAPER_NEAR light), each working pixel is
      trusted as far as it is as light as that paper (to the power TRUST_POWER: a line that
      darkens it by a few percent already halves the trust), and an untrusted one takes the
      Gaussian average (FLATTEN_SIGMA) of the luminance around it, weighted by that trust. Inside
      tone away from paper every pixel is trusted: the shading there is the page's, not a line's.
    """
    predicted_rgb = lightness_preserving_rgb(prediction[:, :1], prediction[:, 1:])
    page_grey = lightness_as_grey(working_lightness)
    linear = srgb_to_linear(predicted_rgb / page_grey.clamp_min(INK_FLOOR))
    own = luminance(linear)
    capped = own.clamp(max=LAYER_CAP)
    reach = 2 * FLATTEN_REACH + 1
    lightest_near = F.max_pool2d(
        F.pad(page_grey, (FLATTEN_REACH,) * 4, mode="replicate"), reach, stride=1
    )
    relative = (page_grey / lightest_near.clamp_min(INK_FLOOR)).clamp(0.0, 1.0)
    trust = torch.where(
        lightest_near >= PAPER_NEAR, relative.pow(TRUST_POWER), torch.ones_like(relative)
    )
    kernel = 2 * round(3 * FLATTEN_SIGMA) + 1

    def blur(x: torch.Tensor) -> torch.Tensor:
        return gaussian_blur2d(
            x, (kernel, kernel), (FLATTEN_SIGMA, FLATTEN_SIGMA), border_type="replicate"
        )

    weight = trust + 1e-4  # where nothing near is trusted, a plain average
    surroundings = blur(capped * weight) / blur(weight)
    flattened = trust * capped + (1.0 - trust) * surroundings
    return linear_to_srgb_unbounded(linear * (flattened / own.clamp_min(1e-6)))


def compose_ink(layer: torch.Tensor, lightness: torch.Tensor) -> torch.Tensor:
    """The colour layer enlarged to the page's size (1, 3, H, W) and the page's scaled L
    (1, 1, H, W) -> RGB in [0, 1]: the layer multiplied by the page's grey, brought into sRGB."""
    return fit_to_gamut(layer * lightness_as_grey(lightness))


# ---- descreen -----------------------------------------------------------------------------------


def _in_large_component(mask: torch.Tensor, limit: int) -> torch.Tensor:
    """True where a pixel of `mask` (bool (H, W)) belongs to a 4-connected component reaching
    `limit` pixels or more across or down: each pixel gathers the bounding box of the component
    pixels within `limit` steps of it, so a dot of a screen (or a hole in a dark one) stays small
    while a line, a letter or a solid black is seen to be large from every pixel of it."""
    height, width = mask.shape[-2:]
    far = height + width
    dtype = torch.int16 if far < 2**15 else torch.int32  # half the memory traffic on any usual page
    ys = torch.arange(height, device=mask.device, dtype=dtype)[:, None].expand(height, width)
    xs = torch.arange(width, device=mask.device, dtype=dtype)[None, :].expand(height, width)
    # Top, -bottom, left, -right of the box, each kept as a minimum; `far` off the mask.
    box = torch.where(mask, torch.stack([ys, -ys, xs, -xs]), far)
    for _ in range(limit):
        padded = F.pad(box, (1, 1, 1, 1), value=far)
        grown = torch.minimum(
            torch.minimum(padded[:, :-2, 1:-1], padded[:, 2:, 1:-1]),
            torch.minimum(padded[:, 1:-1, :-2], padded[:, 1:-1, 2:]),
        )
        grown = torch.where(
            mask, torch.minimum(box, grown), far
        )  # nothing flows through pixels off the mask
        if torch.equal(grown, box):
            break
        box = grown
    return mask & (((-box[1] - box[0]) >= limit) | ((-box[3] - box[2]) >= limit))


def _pieces_near(mask: torch.Tensor, window: int) -> torch.Tensor:
    """How many 4-connected pieces of `mask` (bool (H, W)) lie in the window x window square around
    each pixel, for pieces without holes of their own (screen dots, the holes of a dark screen):
    their Euler number, summed from the 2 x 2 patterns each contributes (Gray's bit quads), so a
    piece counts once however it is shaped. Float (H, W)."""
    padded = F.pad(mask.float()[None, None], (1, 1, 1, 1))
    a, b = padded[..., :-1, :-1], padded[..., :-1, 1:]
    c, d = padded[..., 1:, :-1], padded[..., 1:, 1:]
    count = a + b + c + d
    diagonal = ((count == 2) & (a == d)).float()  # two set pixels meeting at a corner only
    euler = ((count == 1).float() - (count == 3).float() + 2.0 * diagonal) / 4.0
    return (
        F.avg_pool2d(euler, window, stride=1, padding=window // 2, count_include_pad=True)[
            0, 0, :-1, :-1
        ]
        * window
        * window
    )


def descreen(lightness: torch.Tensor, period: int) -> torch.Tensor:
    """Scaled L (1, 1, H, W) -> the same page with its screentone smoothed into even tone.

    `period`: the coarsest screen to remove, in page pixels (a screen's dot spacing: a few pixels
    on a page scanned at 1000-1600 px). A screen is told from drawn ink by size and number: its
    dots (and, in a dark screen, the paper holes between merged dots) are 4-connected pieces
    smaller than 2 * period + 2 pixels across, many of them together (at least SCREEN_PIECES
    within a square of four periods), while lines, lettering and solid blacks are larger pieces,
    and the dot of an i, a comma or the counter of an o stand alone. Drawn ink is kept exactly as
    it is; every other pixel (paper, screen dots, and the ink net around the holes of a dark
    screen) becomes the average grey of the pixels around it that are not kept ink (a Gaussian
    of sigma period / 2, which leaves under 1 % of a screen's pattern), so the tone beside a
    line is not darkened by the line.
    """
    if period < 2:
        return lightness
    grey = lightness_as_grey(lightness)
    ink = grey[0, 0] < 0.5
    limit, window = 2 * period + 2, 4 * period + 1
    dots = ink & ~_in_large_component(ink, limit)
    holes = ~ink & ~_in_large_component(~ink, limit)
    screen_dots = dots & (_pieces_near(dots, window) >= SCREEN_PIECES)
    screen_holes = holes & (_pieces_near(holes, window) >= SCREEN_PIECES)
    net = (
        F.max_pool2d(screen_holes[None, None].float(), 2 * period + 1, stride=1, padding=period)[
            0, 0
        ]
        > 0
    )
    drawn = (ink & ~screen_dots & ~net)[None, None].float()
    drawn = (
        F.max_pool2d(drawn, 3, stride=1, padding=1) * (grey < 0.9).float()
    )  # with its anti-aliased edge
    sigma = period / 2
    kernel = 2 * round(3 * sigma) + 1
    border = "reflect" if min(grey.shape[-2:]) > kernel // 2 else "replicate"

    def blur(x: torch.Tensor) -> torch.Tensor:
        return gaussian_blur2d(x, (kernel, kernel), (sigma, sigma), border_type=border)

    # Averaged as grey values, as the multiply composes them and as a reader's eye blends dots.
    open_area = 1.0 - drawn
    weight = blur(open_area)
    tone = grey_as_lightness(blur(grey * open_area) / weight.clamp_min(1e-6))
    # Far from any open pixel (inside solid black) there is no tone to take: keep the page there.
    return torch.where((drawn > 0) | (weight <= 1e-3), lightness, tone)
