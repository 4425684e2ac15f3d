"""Black-and-white pages a reader would hold, made from colour windows: the networks' input.

A printed manga page is black ink (lines, solid blacks) and halftone screens on white paper, scanned
to a greyscale JPEG. From an RGB window in [0, 1] at the page's own resolution this module makes such
a page in one of four styles and returns its lightness, scaled like the L the networks see (L/50 - 1):

- `plain`: the window's own lightness (the seed's input), untouched;
- `screentone`: ink lines and solid blacks, light areas left as paper, mid-tones as halftone screens
  (round or square clustered dots, line screens, cross-hatching) of random period, angle and tone
  curve; each window is cut into up to a few regions by colour, each with its own screen, as an
  artist pastes a different tone on hair, clothes and sky;
- `lines`: line art only, an XDoG ink extraction on white paper (sometimes with the solid blacks);
- `flat`: a few posterised grey levels plus ink lines, as digitally toned manga looks.
The last three get scan degradations on top: ink weight, paper tint and uneven lighting, blur, noise,
JPEG compression, and 8-bit levels.

Scale: periods, line widths and blur are given for a page scanned at `scan_short_side` pixels on its
short side (conf/data/pages.yaml gives the sources) and scaled to each page's own short side, so a
small page gets proportionally finer dots. Screens are drawn with area antialiasing and fade into
their tone as their period nears a pixel, as a scan of a fine screen does; a line narrower than a
pixel prints lighter. The caller synthesises at the page's native resolution and then shrinks the
result exactly as colourise shrinks a page (see `transforms.NativeWindows`).

Randomness: every draw comes from the caller's `torch.Generator` on the images' device, in a fixed
order and with fixed shapes whatever the settings, so a page is a function of (generator seed,
style, image). Training seeds it from (seed, rank, batch) (`runtime.seeding.PRINT_STREAM`) and
draws the styles on the host (`choose_styles`); validation and evaluation use `page_seed` and
`page_style`, functions of the page alone. Pure torch and kornia, batched: no Lightning.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from kornia.color import rgb_to_linear_rgb
from kornia.filters import gaussian_blur2d

from mangacolor.color import rgb_to_scaled_lab
from mangacolor.runtime.config_errors import ConfigError

STYLES = ("plain", "screentone", "lines", "flat")
SCREEN_KINDS = ("round", "square", "lines", "hatching")

SHARPEST_SIGMA = 0.5  # px: the narrowest Gaussian that still tells a pixel from its neighbour
# A screen's period in pixels where it starts fading into its tone, and where it is only tone: about
# where area sampling keeps 3/4 of a screen's contrast, and where only a faint moire would remain.
SCREEN_FADE = (2.5, 1.25)
FILL_EDGE = 0.04  # lightness over which a solid black fades in, so its edge keeps the page's antialiasing
SKIP_BLUR = 0.3  # px: a scan blur whose largest sigma in the batch is under this changes nothing visible

Span = tuple[float, float]


# ---- settings ------------------------------------------------------------------------------------
# Defaults are conf/data/pages.yaml's `printing` (tests/data/test_print_styles.py keeps them equal),
# so eval and scripts can call `print_page` without a config. Each field's metadata bounds its values.
def _span(default: Span, low: float | None = None, high: float | None = None, whole: bool = False):
    return field(default=default, metadata={"span": True, "low": low, "high": high, "whole": whole})


def _chance(default: float):
    return field(default=default, metadata={"low": 0.0, "high": 1.0})


@dataclass(frozen=True)
class ToneSettings:
    """Lightness (L/100) -> how much ink: shared by screentone, lines' fills and flat."""

    white: Span = _span((0.8, 0.95), 0.0, 1.0)  # lighter is left as paper
    black: Span = _span((0.08, 0.22), 0.0, 1.0)  # darker is solid ink
    gamma: Span = _span((0.6, 1.2), 0.05)  # tone curve between them


@dataclass(frozen=True)
class ScreenSettings:
    period: Span = _span((2.0, 5.2), 0.01)  # px at scan size
    angle_45: float = _chance(0.6)  # else uniform in [0, 90) degrees
    kinds: Mapping[str, float] = field(
        default_factory=lambda: {"round": 0.5, "square": 0.15, "lines": 0.2, "hatching": 0.15})
    regions: tuple[int, int] = _span((1, 4), 1, 16, whole=True)
    darkest: Span = _span((0.5, 0.7), 0.0, 1.0)  # ink coverage of the darkest tone before solid black
    steps: float = _chance(0.5)  # a region's tone in 10 % steps (a pasted tone sheet), else continuous


@dataclass(frozen=True)
class LineSettings:
    sigma: Span = _span((0.6, 1.6), 0.01)  # px at scan size: XDoG's narrow Gaussian, about a line's half-width
    k: Span = _span((1.6, 3.0), 1.01)  # wide Gaussian = k x sigma
    tau: Span = _span((0.97, 0.995), 0.0, 1.0)  # below 1, so flat areas never ink
    epsilon: Span = _span((-0.03, -0.005), -1.0, 0.0)  # edge response that starts a line
    phi: Span = _span((60.0, 200.0), 0.01)  # sharpness of the ink threshold
    fills: float = _chance(0.5)  # the lines style also prints solid blacks


@dataclass(frozen=True)
class FlatSettings:
    levels: tuple[int, int] = _span((2, 4), 1, 16, whole=True)  # grey levels besides paper
    darkest: Span = _span((0.45, 0.75), 0.0, 1.0)  # darkness of the darkest grey


@dataclass(frozen=True)
class ScanSettings:
    paper: Span = _span((0.9, 1.0), 0.0, 1.0)  # paper's grey value in the scan
    ink: Span = _span((0.0, 0.12), 0.0, 1.0)  # ink's
    shading: Span = _span((0.0, 0.04), 0.0, 0.5)  # uneven lighting, +- this fraction across the page
    blur: Span = _span((0.3, 1.2), 0.0)  # px at scan size
    noise: Span = _span((0.0, 0.02), 0.0, 1.0)  # grey levels (0..1) of sensor noise at scan size
    jpeg: float = _chance(0.6)
    jpeg_quality: Span = _span((55.0, 95.0), 1.0, 100.0)
    ink_weight: Span = _span((-0.5, 1.0), -1.0, 1.0)  # px at scan size: lines and blacks thinned (-), spread (+)


@dataclass(frozen=True)
class PrintSettings:
    scan_short_side: float = 1200.0  # px: the page size the lengths above are given for
    tone: ToneSettings = field(default_factory=ToneSettings)
    screentone: ScreenSettings = field(default_factory=ScreenSettings)
    lines: LineSettings = field(default_factory=LineSettings)
    flat: FlatSettings = field(default_factory=FlatSettings)
    scan: ScanSettings = field(default_factory=ScanSettings)

    @classmethod
    def from_config(cls, config: Mapping | None, name: str = "data.printing") -> PrintSettings:
        """Settings from a (partial) mapping such as the config's `data.printing`; what it leaves out
        keeps its default. A wrong key or value raises ConfigError naming it."""
        if config is None:
            return cls()
        _require(isinstance(config, Mapping), f"{name} must be a mapping, got {config!r}")
        sections = {f.name: f for f in dataclasses.fields(cls)}
        _require_known(config, sections, name)
        values = {}
        for key, value in config.items():
            if key == "scan_short_side":
                _require(_is_number(value) and value > 0, f"{name}.scan_short_side must be a positive number, "
                                                           f"got {value!r}")
                values[key] = float(value)
            else:
                values[key] = _section(sections[key].default_factory, value, f"{name}.{key}")
        settings = cls(**values)
        _require(settings.tone.black[1] < settings.tone.white[0],
                 f"{name}.tone: black {list(settings.tone.black)} must lie below white {list(settings.tone.white)}")
        return settings


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise ConfigError(message)


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _require_known(config: Mapping, known, name: str) -> None:
    unknown = sorted(str(k) for k in config if k not in known)
    _require(not unknown, f"{name}: unknown key(s) {', '.join(unknown)}; known: {', '.join(known)}")


def _section(kind, config, name: str):
    _require(isinstance(config, Mapping), f"{name} must be a mapping, got {config!r}")
    fields = {f.name: f for f in dataclasses.fields(kind)}
    _require_known(config, fields, name)
    return kind(**{key: _value(fields[key], value, f"{name}.{key}") for key, value in config.items()})


def _value(spec: dataclasses.Field, value, name: str):
    if spec.name == "kinds":
        return _probabilities(value, SCREEN_KINDS, name)
    low, high = spec.metadata.get("low"), spec.metadata.get("high")
    bounds = f"[{low if low is not None else '-inf'}, {high if high is not None else 'inf'}]"
    if spec.metadata.get("span"):
        ok = (isinstance(value, Sequence) and not isinstance(value, str) and len(value) == 2
              and all(_is_number(v) for v in value) and value[0] <= value[1])
        _require(ok, f"{name} must be a range [low, high] of two numbers, low <= high, got {value!r}")
        whole = spec.metadata.get("whole")
        _require(not whole or all(float(v).is_integer() for v in value), f"{name} must be whole numbers, got {value!r}")
        inside = all((low is None or v >= low) and (high is None or v <= high) for v in value)
        _require(inside, f"{name} must lie in {bounds}, got {list(value)}")
        return tuple(int(v) if whole else float(v) for v in value)
    _require(_is_number(value) and low <= value <= high, f"{name} must be a number in {bounds}, got {value!r}")
    return float(value)


def _probabilities(config, names: Sequence[str], name: str) -> dict[str, float]:
    _require(isinstance(config, Mapping) and len(config) > 0,
             f"{name} must map names ({', '.join(names)}) to probabilities, got {config!r}")
    _require_known(config, names, name)
    for key, value in config.items():
        _require(_is_number(value) and value >= 0, f"{name}.{key} must be a number >= 0, got {value!r}")
    total = float(sum(config.values()))
    _require(total > 0, f"{name}: the probabilities sum to 0; give at least one a positive weight")
    return {str(key): float(value) / total for key, value in config.items()}


def style_probabilities(config: Mapping | None, name: str = "data.input_styles") -> dict[str, float]:
    """{style: probability} from the config's `data.input_styles` (weights, normalised to sum 1), in
    STYLES order, without the styles of weight 0. None means plain only."""
    if config is None:
        return {"plain": 1.0}
    weights = _probabilities(config, STYLES, name)
    return {style: weights[style] for style in STYLES if weights.get(style, 0.0) > 0}


# ---- which style, which draw ----------------------------------------------------------------------
def choose_styles(probabilities: Mapping[str, float], count: int, generator: torch.Generator) -> list[str]:
    """`count` styles drawn independently with the given probabilities, from a CPU generator: the
    styles decide which images each renderer gets, so they are known on the host without a sync."""
    names = list(probabilities)
    cumulative = torch.tensor(list(probabilities.values()), dtype=torch.float64).cumsum(0)
    draws = torch.rand(count, generator=generator, dtype=torch.float64) * cumulative[-1]
    return [names[min(int(i), len(names) - 1)] for i in torch.searchsorted(cumulative, draws, right=True)]


def _page_hash(key: str) -> bytes:
    return hashlib.sha256(key.encode("utf-8", "surrogateescape")).digest()


def page_seed(key: str) -> int:
    """A seed for one page's draw from its key (e.g. its path relative to its folder), in [0, 2**63)."""
    return int.from_bytes(_page_hash(key)[:8], "big") >> 1


def page_style(probabilities: Mapping[str, float], key: str) -> str:
    """One page's style from its key: each style of positive probability gets an equal share of the
    pages, so every style's validation metrics rest on about as many pages as the others'."""
    names = list(probabilities)
    return names[int.from_bytes(_page_hash(key)[8:16], "big") % len(names)]


# ---- the pages -------------------------------------------------------------------------------------
def print_page(rgb: torch.Tensor, style: str, seed: int, settings: PrintSettings | None = None) -> torch.Tensor:
    """Whole pages (B, 3, H, W), RGB in [0, 1], of the same size -> their B&W page in `style` drawn
    from `seed`, as scaled lightness (B, 1, H, W). For eval: a fixed seed (e.g. `page_seed` of the
    page's path) and a fixed style give the same page every time on the same kind of device (a CUDA
    generator draws other numbers than a CPU one)."""
    settings = settings or PrintSettings()
    generator = torch.Generator(device=rgb.device).manual_seed(seed)
    scale = min(rgb.shape[-2:]) / settings.scan_short_side
    scales = torch.full((rgb.shape[0],), scale, device=rgb.device)
    return print_windows(rgb, [style] * rgb.shape[0], scales, generator, settings, largest_scale=scale)


def print_windows(
    rgb: torch.Tensor, styles: Sequence[str], scales: torch.Tensor, generator: torch.Generator,
    settings: PrintSettings, valid: torch.Tensor | None = None, largest_scale: float | None = None,
) -> torch.Tensor:
    """Colour windows (B, 3, H, W), RGB in [0, 1] at their page's resolution -> the B&W page in each
    window's style as scaled lightness (B, 1, H, W), float32.

    scales: (B,) each window's page short side over `settings.scan_short_side`; valid: (B, 2) the
    (height, width) of each window's content from the top-left (padding beyond it is ignored where it
    matters), None for all of it; largest_scale: a bound on `scales` known on the host (kernel sizes
    come from it, so the device is never waited for), None to read it from `scales`.
    """
    if len(styles) != rgb.shape[0]:
        raise ValueError(f"{len(styles)} styles for {rgb.shape[0]} windows")
    unknown = sorted(set(styles) - set(STYLES))
    if unknown:
        raise ValueError(f"unknown input style(s) {', '.join(unknown)}; choose from {', '.join(STYLES)}")
    if largest_scale is None:
        largest_scale = float(scales.max()) if len(styles) else 1.0
    batch, _, height, width = rgb.shape
    if valid is None:
        valid = torch.stack([torch.full((batch,), height, device=rgb.device),
                             torch.full((batch,), width, device=rgb.device)], dim=1)
    with torch.autocast(device_type=rgb.device.type, enabled=False):
        rgb = rgb.float()
        out = torch.empty(batch, 1, height, width, device=rgb.device)
        draw = Draw(generator, rgb.device)
        for style in STYLES:
            chosen = [i for i, s in enumerate(styles) if s == style]
            if not chosen:
                continue
            index = device_index(chosen, rgb.device)
            windows = rgb.index_select(0, index)
            if style == "plain":
                out[index] = scaled_lightness(windows)
                continue
            grey = RENDERERS[style](windows, scales[index], largest_scale, valid[index], draw, settings)
            grey = scan(grey, scales[index], largest_scale, draw, settings.scan)
            out[index] = _grey_lightness(grey.device)[(grey * 255.0).round().long()]
    return out


def device_index(indices: Sequence[int], device: torch.device) -> torch.Tensor:
    """A host list of indices as a tensor on `device`, copied without waiting for the device (a plain
    copy to a GPU first waits for everything queued on it)."""
    index = torch.tensor(indices, dtype=torch.long)
    return index.pin_memory().to(device, non_blocking=True) if device.type == "cuda" else index.to(device)


def scaled_lightness(rgb: torch.Tensor) -> torch.Tensor:
    return rgb_to_scaled_lab(rgb)[0]


@functools.lru_cache(maxsize=8)
def _grey_lightness(device: torch.device) -> torch.Tensor:
    """Scaled L of each of the 256 grey levels of an 8-bit scan, (256,): `rgb_to_scaled_lab` of each
    level, computed once per device and looked up rather than computed for every pixel of every page."""
    levels = torch.arange(256, dtype=torch.float32, device=device) / 255.0
    return scaled_lightness(levels.view(1, 1, 1, 256).expand(1, 3, 1, 256))[0, 0, 0].contiguous()


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


def lab_lightness(rgb: torch.Tensor) -> torch.Tensor:
    """Lab's L / 100 (B, 1, H, W) of RGB in [0, 1]: kornia's rgb_to_lab's L alone (the same sRGB
    curve, luminance row and cube root), for about a third of the whole conversion's cost."""
    linear = rgb_to_linear_rgb(rgb)
    y = 0.212671 * linear[:, 0:1] + 0.715160 * linear[:, 1:2] + 0.072169 * linear[:, 2:3]
    f = torch.where(y > 0.008856, y.clamp_min(0.008856).pow(1.0 / 3.0), 7.787 * y + 4.0 / 29.0)
    return (116.0 * f - 16.0) / 100.0


def blur(images: torch.Tensor, sigma: torch.Tensor, largest_sigma: float) -> torch.Tensor:
    """Each image blurred with its own Gaussian sigma (B,); `largest_sigma` bounds them on the host."""
    kernel = 2 * math.ceil(3.0 * largest_sigma) + 1
    sigma = sigma.clamp_min(1e-3)[:, None].expand(-1, 2).contiguous()
    return gaussian_blur2d(images, (kernel, kernel), sigma, border_type="replicate")


# ---- ink and tone ---------------------------------------------------------------------------------
def tone(lightness: torch.Tensor, draw: Draw, settings: ToneSettings) -> tuple[torch.Tensor, torch.Tensor]:
    """Lightness (B, 1, H, W) in [0, 1] -> (depth, fill): depth 0 on paper rising to 1 at the black
    point along a random tone curve; fill the solid black below the black point."""
    batch = lightness.shape[0]
    white = _per_image(draw.uniform(settings.white, batch))
    black = _per_image(draw.uniform(settings.black, batch))
    gamma = _per_image(draw.uniform(settings.gamma, batch))
    depth = ((white - lightness) / (white - black)).clamp(0.0, 1.0).pow(gamma)
    fill = ((black - lightness) / FILL_EDGE + 0.5).clamp(0.0, 1.0)
    return depth, fill


def line_ink(rgb: torch.Tensor, scales: torch.Tensor, largest_scale: float, draw: Draw,
             settings: LineSettings) -> torch.Tensor:
    """XDoG line extraction (Winnemoeller et al. 2012) on each RGB channel: ink (B, 1, H, W) in [0, 1]
    on the dark side of every edge, colour edges of equal lightness included; none on flat areas."""
    batch = rgb.shape[0]
    sigma = draw.uniform(settings.sigma, batch) * scales
    k = draw.uniform(settings.k, batch)
    tau, epsilon, phi = (_per_image(draw.uniform(span, batch))
                         for span in (settings.tau, settings.epsilon, settings.phi))
    # A Gaussian under half a pixel is no filter at all: such a line is drawn at the narrowest width
    # a pixel shows, and lighter in proportion, as a scan averages a hairline into a pale pixel.
    width = sigma.clamp_min(SHARPEST_SIGMA)
    strength = _per_image(sigma / width)
    narrowest = max(settings.sigma[1] * largest_scale, SHARPEST_SIGMA)
    narrow = blur(rgb, width, narrowest)
    wide = blur(rgb, width * k, narrowest * settings.k[1])
    response = (narrow - tau * wide).amin(1, keepdim=True)
    return (-torch.tanh(phi * (response - epsilon))).clamp(0.0, 1.0) * strength


def ink_weight(ink: torch.Tensor, scales: torch.Tensor, draw: Draw, settings: ScanSettings) -> torch.Tensor:
    """Lines and blacks spread (pen pressure, ink gain) or thin (a light scan) by a fraction of a pixel."""
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


# ---- screens --------------------------------------------------------------------------------------
def _round_dot(r: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Round dot's threshold: the area of a disc of radius r (cell units) inside its unit cell, so a
    coverage c inks exactly the fraction c of the cell; and its slope d(area)/dr."""
    inside = r <= 0.5
    cut = torch.acos((0.5 / r.clamp_min(0.5)).clamp(max=1.0))  # half-angle of each arc outside the cell
    area = torch.where(inside, math.pi * r * r,
                       math.pi * r * r - 4.0 * (r * r * cut - 0.5 * (r * r - 0.25).clamp_min(0.0).sqrt()))
    slope = 2.0 * r * (math.pi - 4.0 * cut)
    return area.clamp(0.0, 1.0), slope


def _coverage_ink(threshold: torch.Tensor, coverage: torch.Tensor, slope: torch.Tensor,
                  period: torch.Tensor) -> torch.Tensor:
    """Ink where the threshold lies under the coverage, antialiased over the threshold's change across
    one pixel, `step` (= slope per cell / period in px). A ramp of that width centred on the coverage
    keeps the mean ink of a uniform threshold except within step/2 of 0 and 1, where it would leave
    grey specks on paper and pinholes in black: there the coverage is pre-distorted by the inverse of
    that error, so 0 inks nothing, 1 everything, and the mean stays the coverage."""
    step = (slope / period).clamp_min(1e-3)
    half = (0.5 * step).clamp(max=0.5)
    low = 2.0 * (half * coverage).clamp_min(0.0).sqrt() - half
    high = 1.0 + half - 2.0 * (half * (1.0 - coverage)).clamp_min(0.0).sqrt()
    target = torch.where(coverage < half, low, torch.where(coverage > 1.0 - half, high, coverage))
    return ((target - threshold) / step + 0.5).clamp(0.0, 1.0)


def screen_ink(coverage: torch.Tensor, kind: torch.Tensor, period: torch.Tensor, angle: torch.Tensor,
               phase: torch.Tensor) -> torch.Tensor:
    """Halftone ink (B, 1, H, W) for a coverage map, with each pixel's own screen: kind (index into
    SCREEN_KINDS), period (px), angle (radians) and phase (B, 2, H, W) in cells."""
    height, width = coverage.shape[-2:]
    y = (torch.arange(height, device=coverage.device, dtype=torch.float32) + 0.5).view(1, 1, -1, 1)
    x = (torch.arange(width, device=coverage.device, dtype=torch.float32) + 0.5).view(1, 1, 1, -1)
    cos, sin = angle.cos(), angle.sin()
    u = (x * cos + y * sin) / period + phase[:, :1]
    v = (y * cos - x * sin) / period + phase[:, 1:]
    fu, fv = u - u.floor() - 0.5, v - v.floor() - 0.5  # position in the cell, [-0.5, 0.5)

    # Each kind's threshold (the fraction of its cell it inks below it) and its slope per cell, picked
    # per pixel, then one antialiased comparison; hatching adds a second line screen across the first.
    round_area, round_slope = _round_dot(torch.sqrt(fu * fu + fv * fv))
    diamond = fu.abs() + fv.abs()  # square dots: squares on a 45-degree screen, a checkerboard at 50 %
    inner = diamond <= 0.5
    square_area = torch.where(inner, 2.0 * diamond * diamond, 1.0 - 2.0 * (1.0 - diamond) ** 2)
    square_slope = 4.0 * torch.where(inner, diamond, 1.0 - diamond)
    across = 2.0 * fu.abs()  # line screens: uniform across the cell, slope 2
    threshold = torch.where(kind == 0, round_area, torch.where(kind == 1, square_area, across))
    slope = torch.where(kind == 0, round_slope, torch.where(kind == 1, square_slope, torch.full_like(across, 2.0)))
    hatched = kind == 3
    each = 1.0 - (1.0 - coverage).clamp_min(0.0).sqrt()  # two crossed screens together ink `coverage`
    ink = _coverage_ink(threshold, torch.where(hatched, each, coverage), slope, period)
    crossing = _coverage_ink(2.0 * fv.abs(), each, torch.full_like(across, 2.0), period)
    ink = torch.where(hatched, 1.0 - (1.0 - ink) * (1.0 - crossing), ink)
    # Dots under about two pixels cannot be drawn; a scan of them shows their tone.
    fade = ((SCREEN_FADE[0] - period) / (SCREEN_FADE[0] - SCREEN_FADE[1])).clamp(0.0, 1.0)
    return ink + (coverage - ink) * fade


def color_regions(rgb: torch.Tensor, counts: torch.Tensor, valid: torch.Tensor, most: int,
                   draw: Draw) -> torch.Tensor:
    """Each pixel's region (B, 1, H, W): the nearest in RGB of `counts` (B,) colours picked at random
    pixels of the window's valid part (at most `most`), a one-pass segmentation by colour."""
    batch, _, height, width = rgb.shape
    spots = draw.uniform((0.0, 1.0), batch, most, 2)
    rows = (spots[..., 0] * valid[:, :1]).floor().long().clamp(0, height - 1)
    cols = (spots[..., 1] * valid[:, 1:]).floor().long().clamp(0, width - 1)
    references = rgb[torch.arange(batch, device=rgb.device)[:, None], :, rows, cols]  # (B, most, 3)
    best = torch.full((batch, 1, height, width), float("inf"), device=rgb.device)
    region = torch.zeros(batch, 1, height, width, dtype=torch.long, device=rgb.device)
    for k in range(most):
        distance = ((rgb - references[:, k, :, None, None]) ** 2).sum(1, keepdim=True)
        distance = torch.where(_per_image(counts) > k, distance, torch.full_like(distance, float("inf")))
        closer = distance < best
        best = torch.where(closer, distance, best)
        region = torch.where(closer, torch.full_like(region, k), region)
    return region


def _categorical(draw: Draw, probabilities: Mapping[str, float], names: Sequence[str], *shape: int) -> torch.Tensor:
    """Indices into `names` drawn with the given probabilities (compared with Python numbers: a
    tensor of them would be one more upload to the device, which waits for it)."""
    weights = [probabilities.get(name, 0.0) for name in names]
    u = draw.uniform((0.0, 1.0), *shape) * sum(weights)
    bounds = [sum(weights[:i + 1]) for i in range(len(names) - 1)]
    index = torch.zeros(shape, dtype=torch.long, device=draw.device)
    for bound in bounds:
        index += (u >= bound).long()
    return index


# ---- the styles -----------------------------------------------------------------------------------
def render_screentone(rgb, scales, largest_scale, valid, draw: Draw, settings: PrintSettings) -> torch.Tensor:
    depth, fill = tone(lab_lightness(rgb), draw, settings.tone)
    lines = line_ink(rgb, scales, largest_scale, draw, settings.lines)
    screen = settings.screentone
    batch, most = rgb.shape[0], screen.regions[1]
    counts = draw.whole(screen.regions, batch)
    region = color_regions(rgb, counts, valid, most, draw)
    kind = _categorical(draw, screen.kinds, SCREEN_KINDS, batch, most)
    period = draw.uniform(screen.period, batch, most) * scales[:, None]
    angle = torch.where(draw.chance(screen.angle_45, batch, most), torch.full((batch, most), math.pi / 4,
                        device=draw.device), draw.uniform((0.0, math.pi / 2), batch, most))
    phase = draw.uniform((0.0, 1.0), batch, most, 2)
    darkest = draw.uniform(screen.darkest, batch, most)
    stepped = draw.chance(screen.steps, batch, most)

    flat_region = region.flatten(1)

    def each_pixel(values: torch.Tensor) -> torch.Tensor:  # (B, most) per region -> (B, 1, H, W)
        return values.gather(1, flat_region).view_as(depth)

    coverage = depth * each_pixel(darkest)
    coverage = torch.where(each_pixel(stepped.float()) > 0, (coverage * 10.0).round() / 10.0, coverage)
    if screen.period[1] * largest_scale <= SCREEN_FADE[1]:
        dots = coverage  # every screen of the batch is finer than a pixel: it prints as its tone
    else:
        phases = torch.cat([each_pixel(phase[..., 0]), each_pixel(phase[..., 1])], dim=1)
        dots = screen_ink(coverage, each_pixel(kind), each_pixel(period), each_pixel(angle), phases)
    ink = ink_weight(torch.maximum(lines, fill), scales, draw, settings.scan)
    return _on_paper(torch.maximum(ink, dots), draw, settings.scan)


def render_lines(rgb, scales, largest_scale, valid, draw: Draw, settings: PrintSettings) -> torch.Tensor:
    _, fill = tone(lab_lightness(rgb), draw, settings.tone)
    lines = line_ink(rgb, scales, largest_scale, draw, settings.lines)
    fills = _per_image(draw.chance(settings.lines.fills, rgb.shape[0]).float())
    ink = ink_weight(torch.maximum(lines, fill * fills), scales, draw, settings.scan)
    return _on_paper(ink, draw, settings.scan)


def render_flat(rgb, scales, largest_scale, valid, draw: Draw, settings: PrintSettings) -> torch.Tensor:
    depth, fill = tone(lab_lightness(rgb), draw, settings.tone)
    lines = line_ink(rgb, scales, largest_scale, draw, settings.lines)
    levels = _per_image(draw.whole(settings.flat.levels, rgb.shape[0]))
    darkest = _per_image(draw.uniform(settings.flat.darkest, rgb.shape[0]))
    greys = (depth * levels).round() / levels * darkest
    ink = ink_weight(torch.maximum(lines, fill), scales, draw, settings.scan)
    return _on_paper(torch.maximum(ink, greys), draw, settings.scan)


RENDERERS = {"screentone": render_screentone, "lines": render_lines, "flat": render_flat}


# ---- the scan ---------------------------------------------------------------------------------------
def _on_paper(ink: torch.Tensor, draw: Draw, settings: ScanSettings) -> torch.Tensor:
    """Ink coverage -> grey values between the paper's and the ink's, lit a little unevenly."""
    batch, _, height, width = ink.shape
    paper = _per_image(draw.uniform(settings.paper, batch))
    dark = _per_image(draw.uniform(settings.ink, batch))
    amount = _per_image(draw.uniform(settings.shading, batch))
    light = F.interpolate(draw.uniform((-1.0, 1.0), batch, 1, 3, 3), size=(height, width), mode="bilinear",
                          align_corners=True)
    return (paper - (paper - dark) * ink) * (1.0 + amount * light)


def scan(grey: torch.Tensor, scales: torch.Tensor, largest_scale: float, draw: Draw,
         settings: ScanSettings) -> torch.Tensor:
    """A printed page's grey values (B, 1, H, W) -> as scanned: blurred, noisy, JPEG-compressed, 8-bit."""
    batch = grey.shape[0]
    sigma = draw.uniform(settings.blur, batch) * scales
    noise = _per_image(draw.uniform(settings.noise, batch) * scales.clamp(max=1.0))  # averaged when shrunk
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
    16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55,
    14, 13, 16, 24, 40, 57, 69, 56, 14, 17, 22, 29, 51, 87, 80, 62,
    18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
    49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99,
)


@functools.lru_cache(maxsize=8)
def _luminance_table(device: torch.device) -> torch.Tensor:
    """(1, 8, 8) on `device`, uploaded once per device rather than on every batch."""
    return torch.tensor(_LUMINANCE_TABLE, dtype=torch.float32).view(1, 8, 8).to(device)


def jpeg_grey(grey: torch.Tensor, quality: torch.Tensor) -> torch.Tensor:
    """Greyscale images (B, 1, H, W) in [0, 1] through a baseline JPEG at each image's quality (B,) in
    [1, 100]: 8 x 8 DCT, libjpeg's quantisation, inverse DCT (the blocking and ringing of a scan saved
    as JPEG; a grey scan has no chroma to subsample)."""
    batch, _, height, width = grey.shape
    pad_h, pad_w = -height % 8, -width % 8
    padded = F.pad(grey, (0, pad_w, 0, pad_h), mode="replicate") if pad_h or pad_w else grey
    rows, cols = padded.shape[-2] // 8, padded.shape[-1] // 8
    n = torch.arange(8, device=grey.device, dtype=torch.float32)
    dct = torch.cos(math.pi * (2 * n[None, :] + 1) * n[:, None] / 16) * torch.where(
        n[:, None] == 0, math.sqrt(1 / 8), math.sqrt(2 / 8))
    quality = quality.clamp(1.0, 100.0)
    scaling = torch.where(quality < 50, 5000.0 / quality, 200.0 - 2.0 * quality)
    base = _luminance_table(grey.device)
    table = ((base * scaling.view(-1, 1, 1) + 50.0) / 100.0).floor().clamp(1.0, 255.0).view(batch, 1, 1, 8, 8)
    blocks = (padded * 255.0).round().sub(128.0).view(batch, rows, 8, cols, 8).permute(0, 1, 3, 2, 4)
    coefficients = dct @ blocks @ dct.T
    restored = dct.T @ ((coefficients / table).round() * table) @ dct
    out = (restored + 128.0).permute(0, 1, 3, 2, 4).reshape(batch, 1, rows * 8, cols * 8) / 255.0
    return out[..., :height, :width].clamp(0.0, 1.0)
