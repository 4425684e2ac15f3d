"""The renderers of the black-and-white page synthesis: ink, tone, screens, the three B&W styles and
the scan (`print_styles.print_windows` picks one per window and scans what it prints).

Each takes colour windows (B, 3, H, W), RGB in [0, 1] at their page's resolution, and draws every
random number from one `Draw`, in a fixed order and with fixed shapes whatever the settings (see
`print_styles.py`). Lengths (periods, widths, blur) are given at scan size and multiplied by each
window's `scales`; `largest_scale`, known on the host, sizes the kernels.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence

import torch
import torch.nn.functional as F
from kornia.filters import gaussian_blur2d

from mangacolor.color import lab_lightness
from mangacolor.data.halftone import SCREEN_FADE, screen_ink
from mangacolor.data.print_settings import (
    SCREEN_KINDS,
    LineSettings,
    PrintSettings,
    ScanSettings,
    Span,
    ToneSettings,
)

SHARPEST_SIGMA = 0.5  # px: the narrowest Gaussian that still tells a pixel from its neighbour
FILL_EDGE = (
    0.04  # lightness over which a solid black fades in, so its edge keeps the page's antialiasing
)
SKIP_BLUR = (
    0.3  # px: a scan blur whose largest sigma in the batch is under this changes nothing visible
)


class Draw:
    """Random numbers from one generator on one device, in the order they are asked for."""

    def __init__(self, generator: torch.Generator, device: torch.device):
        self.generator, self.device = generator, device

    def uniform(self, span: Span, *shape: int) -> torch.Tensor:
        u = torch.rand(shape, generator=self.generator, device=self.device)
        return span[0] + (span[1] - span[0]) * u

    def chance(self, probability: float, *shape: int) -> torch.Tensor:
        return torch.rand(shape, generator=self.generator, device=self.device) < probability

    def whole(self, span: tuple[int, int], *shape: int) -> torch.Tensor:
        """Integers uniform in [span[0], span[1]], inclusive."""
        u = torch.rand(shape, generator=self.generator, device=self.device)
        return (span[0] + (u * (span[1] - span[0] + 1)).floor()).clamp_max(span[1])

    def normal(self, *shape: int) -> torch.Tensor:
        return torch.randn(shape, generator=self.generator, device=self.device)


def _per_image(values: torch.Tensor) -> torch.Tensor:
    return values.view(-1, 1, 1, 1)


def blur(images: torch.Tensor, sigma: torch.Tensor, largest_sigma: float) -> torch.Tensor:
    """Each image blurred with its own Gaussian sigma (B,); `largest_sigma` bounds them on the
    host."""
    kernel = 2 * math.ceil(3.0 * largest_sigma) + 1
    sigma = sigma.clamp_min(1e-3)[:, None].expand(-1, 2).contiguous()
    return gaussian_blur2d(images, (kernel, kernel), sigma, border_type="replicate")


# ---- ink and tone --------------------------------------------------------------------------------
def tone(
    lightness: torch.Tensor, draw: Draw, settings: ToneSettings
) -> tuple[torch.Tensor, torch.Tensor]:
    """Lightness (B, 1, H, W) in [0, 1] -> (depth, fill): depth 0 on paper rising to 1 at the black
    point along a random tone curve; fill the solid black below the black point."""
    batch = lightness.shape[0]
    white = _per_image(draw.uniform(settings.white, batch))
    black = _per_image(draw.uniform(settings.black, batch))
    gamma = _per_image(draw.uniform(settings.gamma, batch))
    depth = ((white - lightness) / (white - black)).clamp(0.0, 1.0).pow(gamma)
    fill = ((black - lightness) / FILL_EDGE + 0.5).clamp(0.0, 1.0)
    return depth, fill


def line_ink(
    rgb: torch.Tensor,
    scales: torch.Tensor,
    largest_scale: float,
    draw: Draw,
    settings: LineSettings,
) -> torch.Tensor:
    """XDoG line extraction (Winnemoeller et al. 2012) on each RGB channel: ink (B, 1, H, W) in [0,
    1] on the dark side of every edge, colour edges of equal lightness included; none on flat
    areas."""
    batch = rgb.shape[0]
    sigma = draw.uniform(settings.sigma, batch) * scales
    k = draw.uniform(settings.k, batch)
    tau, epsilon, phi = (
        _per_image(draw.uniform(span, batch))
        for span in (settings.tau, settings.epsilon, settings.phi)
    )
    # A Gaussian under half a pixel is no filter at all: such a line is drawn at the narrowest width
    # a pixel shows, and lighter in proportion, as a scan averages a hairline into a pale pixel.
    width = sigma.clamp_min(SHARPEST_SIGMA)
    strength = _per_image(sigma / width)
    narrowest = max(settings.sigma[1] * largest_scale, SHARPEST_SIGMA)
    narrow = blur(rgb, width, narrowest)
    wide = blur(rgb, width * k, narrowest * settings.k[1])
    response = (narrow - tau * wide).amin(1, keepdim=True)
    return (-torch.tanh(phi * (response - epsilon))).clamp(0.0, 1.0) * strength


def ink_weight(
    ink: torch.Tensor, scales: torch.Tensor, draw: Draw, settings: ScanSettings
) -> torch.Tensor:
    """Lines and blacks spread (pen pressure, ink gain) or thin (a light scan) by a fraction of a
    pixel."""
    amount = _per_image((draw.uniform(settings.ink_weight, ink.shape[0]) * scales).clamp(-1.0, 1.0))
    spread = _extreme3(ink, torch.maximum) - ink
    thinned = ink - _extreme3(ink, torch.minimum)
    return torch.where(amount >= 0, ink + amount * spread, ink + amount * thinned)


def _extreme3(images: torch.Tensor, pick) -> torch.Tensor:
    """The maximum (or minimum) over each pixel's 3 x 3 neighbourhood, edges replicated: separable,
    and cheaper on a CPU than max_pool2d, which also computes where each maximum came from."""
    padded = F.pad(images, (1, 1, 1, 1), mode="replicate")
    rows = pick(pick(padded[..., :-2], padded[..., 1:-1]), padded[..., 2:])
    return pick(pick(rows[..., :-2, :], rows[..., 1:-1, :]), rows[..., 2:, :])


def color_regions(
    rgb: torch.Tensor, counts: torch.Tensor, valid: torch.Tensor, most: int, draw: Draw
) -> torch.Tensor:
    """Each pixel's region (B, 1, H, W): the nearest in RGB of `counts` (B,) colours picked at
    random pixels of the window's valid part (at most `most`), a one-pass segmentation by colour."""
    batch, _, height, width = rgb.shape
    spots = draw.uniform((0.0, 1.0), batch, most, 2)
    rows = (spots[..., 0] * valid[:, :1]).floor().long().clamp(0, height - 1)
    cols = (spots[..., 1] * valid[:, 1:]).floor().long().clamp(0, width - 1)
    references = rgb[torch.arange(batch, device=rgb.device)[:, None], :, rows, cols]  # (B, most, 3)
    best = torch.full((batch, 1, height, width), float("inf"), device=rgb.device)
    region = torch.zeros(batch, 1, height, width, dtype=torch.long, device=rgb.device)
    for k in range(most):
        distance = ((rgb - references[:, k, :, None, None]) ** 2).sum(1, keepdim=True)
        distance = torch.where(
            _per_image(counts) > k, distance, torch.full_like(distance, float("inf"))
        )
        closer = distance < best
        best = torch.where(closer, distance, best)
        region = torch.where(closer, torch.full_like(region, k), region)
    return region


def _categorical(
    draw: Draw, probabilities: Mapping[str, float], names: Sequence[str], *shape: int
) -> torch.Tensor:
    """Indices into `names` drawn with the given probabilities (compared with Python numbers: a
    tensor of them would be one more upload to the device, which waits for it)."""
    weights = [probabilities.get(name, 0.0) for name in names]
    u = draw.uniform((0.0, 1.0), *shape) * sum(weights)
    bounds = [sum(weights[: i + 1]) for i in range(len(names) - 1)]
    index = torch.zeros(shape, dtype=torch.long, device=draw.device)
    for bound in bounds:
        index += (u >= bound).long()
    return index


# ---- the styles ----------------------------------------------------------------------------------
def render_screentone(
    rgb, scales, largest_scale, valid, draw: Draw, settings: PrintSettings
) -> torch.Tensor:
    depth, fill = tone(lab_lightness(rgb), draw, settings.tone)
    lines = line_ink(rgb, scales, largest_scale, draw, settings.lines)
    screen = settings.screentone
    batch, most = rgb.shape[0], screen.regions[1]
    counts = draw.whole(screen.regions, batch)
    region = color_regions(rgb, counts, valid, most, draw)
    kind = _categorical(draw, screen.kinds, SCREEN_KINDS, batch, most)
    period = draw.uniform(screen.period, batch, most) * scales[:, None]
    angle = torch.where(
        draw.chance(screen.angle_45, batch, most),
        torch.full((batch, most), math.pi / 4, device=draw.device),
        draw.uniform((0.0, math.pi / 2), batch, most),
    )
    phase = draw.uniform((0.0, 1.0), batch, most, 2)
    darkest = draw.uniform(screen.darkest, batch, most)
    stepped = draw.chance(screen.steps, batch, most)

    flat_region = region.flatten(1)

    def each_pixel(values: torch.Tensor) -> torch.Tensor:  # (B, most) per region -> (B, 1, H, W)
        return values.gather(1, flat_region).view_as(depth)

    coverage = depth * each_pixel(darkest)
    coverage = torch.where(
        each_pixel(stepped.float()) > 0, (coverage * 10.0).round() / 10.0, coverage
    )
    if screen.period[1] * largest_scale <= SCREEN_FADE[1]:
        dots = coverage  # every screen of the batch is finer than a pixel: it prints as its tone
    else:
        phases = torch.cat([each_pixel(phase[..., 0]), each_pixel(phase[..., 1])], dim=1)
        dots = screen_ink(coverage, each_pixel(kind), each_pixel(period), each_pixel(angle), phases)
    ink = ink_weight(torch.maximum(lines, fill), scales, draw, settings.scan)
    return _on_paper(torch.maximum(ink, dots), draw, settings.scan)


def render_lines(
    rgb, scales, largest_scale, valid, draw: Draw, settings: PrintSettings
) -> torch.Tensor:
    _, fill = tone(lab_lightness(rgb), draw, settings.tone)
    lines = line_ink(rgb, scales, largest_scale, draw, settings.lines)
    fills = _per_image(draw.chance(settings.lines.fills, rgb.shape[0]).float())
    ink = ink_weight(torch.maximum(lines, fill * fills), scales, draw, settings.scan)
    return _on_paper(ink, draw, settings.scan)


def render_flat(
    rgb, scales, largest_scale, valid, draw: Draw, settings: PrintSettings
) -> torch.Tensor:
    depth, fill = tone(lab_lightness(rgb), draw, settings.tone)
    lines = line_ink(rgb, scales, largest_scale, draw, settings.lines)
    levels = _per_image(draw.whole(settings.flat.levels, rgb.shape[0]))
    darkest = _per_image(draw.uniform(settings.flat.darkest, rgb.shape[0]))
    greys = (depth * levels).round() / levels * darkest
    ink = ink_weight(torch.maximum(lines, fill), scales, draw, settings.scan)
    return _on_paper(torch.maximum(ink, greys), draw, settings.scan)


RENDERERS = {"screentone": render_screentone, "lines": render_lines, "flat": render_flat}


# ---- the scan ------------------------------------------------------------------------------------
def _on_paper(ink: torch.Tensor, draw: Draw, settings: ScanSettings) -> torch.Tensor:
    """Ink coverage -> grey values between the paper's and the ink's, lit a little unevenly."""
    batch, _, height, width = ink.shape
    paper = _per_image(draw.uniform(settings.paper, batch))
    dark = _per_image(draw.uniform(settings.ink, batch))
    amount = _per_image(draw.uniform(settings.shading, batch))
    light = F.interpolate(
        draw.uniform((-1.0, 1.0), batch, 1, 3, 3),
        size=(height, width),
        mode="bilinear",
        align_corners=True,
    )
    return (paper - (paper - dark) * ink) * (1.0 + amount * light)


def scan(
    grey: torch.Tensor,
    scales: torch.Tensor,
    largest_scale: float,
    draw: Draw,
    settings: ScanSettings,
) -> torch.Tensor:
    """A printed page's grey values (B, 1, H, W) -> as scanned: blurred, noisy, JPEG-compressed,
    8-bit."""
    batch = grey.shape[0]
    sigma = draw.uniform(settings.blur, batch) * scales
    # averaged when shrunk
    noise = _per_image(draw.uniform(settings.noise, batch) * scales.clamp(max=1.0))
    field_ = draw.normal(*grey.shape)
    compress = _per_image(draw.chance(settings.jpeg, batch))
    quality = draw.uniform(settings.jpeg_quality, batch).round()
    if settings.blur[1] * largest_scale >= SKIP_BLUR:
        grey = blur(grey, sigma, settings.blur[1] * largest_scale)
    grey = (grey + noise * field_).clamp(0.0, 1.0)
    if settings.jpeg > 0:
        grey = torch.where(compress, jpeg_grey(grey, quality), grey)
    return (grey * 255.0).round() / 255.0


# The IJG's (libjpeg's) luminance quantisation table, ITU T.81 Annex K, and its quality scaling.
_LUMINANCE_TABLE = (
    16,
    11,
    10,
    16,
    24,
    40,
    51,
    61,
    12,
    12,
    14,
    19,
    26,
    58,
    60,
    55,
    14,
    13,
    16,
    24,
    40,
    57,
    69,
    56,
    14,
    17,
    22,
    29,
    51,
    87,
    80,
    62,
    18,
    22,
    37,
    56,
    68,
    109,
    103,
    77,
    24,
    35,
    55,
    64,
    81,
    104,
    113,
    92,
    49,
    64,
    78,
    87,
    103,
    121,
    120,
    101,
    72,
    92,
    95,
    98,
    112,
    100,
    103,
    99,
)


@functools.lru_cache(maxsize=8)
def _luminance_table(device: torch.device) -> torch.Tensor:
    """(1, 8, 8) on `device`, uploaded once per device rather than on every batch."""
    return torch.tensor(_LUMINANCE_TABLE, dtype=torch.float32).view(1, 8, 8).to(device)


def jpeg_grey(grey: torch.Tensor, quality: torch.Tensor) -> torch.Tensor:
    """Greyscale images (B, 1, H, W) in [0, 1] through a baseline JPEG at each image's quality (B,)
    in [1, 100]: 8 x 8 DCT, libjpeg's quantisation, inverse DCT (the blocking and ringing of a scan
    saved as JPEG; a grey scan has no chroma to subsample)."""
    batch, _, height, width = grey.shape
    pad_h, pad_w = -height % 8, -width % 8
    padded = F.pad(grey, (0, pad_w, 0, pad_h), mode="replicate") if pad_h or pad_w else grey
    rows, cols = padded.shape[-2] // 8, padded.shape[-1] // 8
    n = torch.arange(8, device=grey.device, dtype=torch.float32)
    dct = torch.cos(math.pi * (2 * n[None, :] + 1) * n[:, None] / 16) * torch.where(
        n[:, None] == 0, math.sqrt(1 / 8), math.sqrt(2 / 8)
    )
    quality = quality.clamp(1.0, 100.0)
    scaling = torch.where(quality < 50, 5000.0 / quality, 200.0 - 2.0 * quality)
    base = _luminance_table(grey.device)
    table = (
        ((base * scaling.view(-1, 1, 1) + 50.0) / 100.0)
        .floor()
        .clamp(1.0, 255.0)
        .view(batch, 1, 1, 8, 8)
    )
    blocks = (
        (padded * 255.0).round().sub(128.0).view(batch, rows, 8, cols, 8).permute(0, 1, 3, 2, 4)
    )
    coefficients = dct @ blocks @ dct.T
    restored = dct.T @ ((coefficients / table).round() * table) @ dct
    out = (restored + 128.0).permute(0, 1, 3, 2, 4).reshape(batch, 1, rows * 8, cols * 8) / 255.0
    return out[..., :height, :width].clamp(0.0, 1.0)
