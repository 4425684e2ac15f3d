"""Black-and-white pages a reader would hold, made from colour windows: the networks' input.

A printed manga page is black ink (lines, solid blacks) and halftone screens on white paper, scanned
to a greyscale JPEG. From an RGB window in [0, 1] at the page's own resolution this module makes
such a page in one of four styles and returns its lightness, scaled like the L the networks see
(L/50 - 1):

- `plain`: the window's own lightness (the seed's input), untouched;
- `screentone`: ink lines and solid blacks, light areas left as paper, mid-tones as halftone screens
  (round or square clustered dots, line screens, cross-hatching) of random period, angle and tone
  curve; each window is cut into up to a few regions by colour, each with its own screen, as an
  artist pastes a different tone on hair, clothes and sky;
- `lines`: line art only, an XDoG ink extraction on white paper (sometimes with the solid blacks);
- `flat`: a few posterised grey levels plus ink lines, as digitally toned manga looks.
The last three get scan degradations on top: ink weight, paper tint and uneven lighting, blur,
noise, JPEG compression, and 8-bit levels.

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

This module picks each window's style and draw and runs the renderers; the settings and their
checks are `print_settings.py`, the renderers and the scan `print_renderers.py`.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Mapping, Sequence

import torch

from mangacolor.color import rgb_to_scaled_lab
from mangacolor.data.print_renderers import RENDERERS, Draw, scan
from mangacolor.data.print_settings import PrintSettings
from mangacolor.styles import PLAIN, STYLES


# ---- which style, which draw ---------------------------------------------------------------------
def choose_styles(
    probabilities: Mapping[str, float], count: int, generator: torch.Generator
) -> list[str]:
    """`count` styles drawn independently with the given probabilities, from a CPU generator: the
    styles decide which images each renderer gets, so they are known on the host without a sync."""
    names = list(probabilities)
    cumulative = torch.tensor(list(probabilities.values()), dtype=torch.float64).cumsum(0)
    draws = torch.rand(count, generator=generator, dtype=torch.float64) * cumulative[-1]
    return [
        names[min(int(i), len(names) - 1)]
        for i in torch.searchsorted(cumulative, draws, right=True)
    ]


def _page_hash(key: str) -> bytes:
    return hashlib.sha256(key.encode("utf-8", "surrogateescape")).digest()


def page_seed(key: str) -> int:
    """A seed for one page's draw from its key (e.g. its path relative to its folder), in
    [0, 2**63)."""
    return int.from_bytes(_page_hash(key)[:8], "big") >> 1


def page_style(probabilities: Mapping[str, float], key: str) -> str:
    """One page's style from its key: each style of positive probability gets an equal share of the
    pages, so every style's validation metrics rest on about as many pages as the others'."""
    names = list(probabilities)
    return names[int.from_bytes(_page_hash(key)[8:16], "big") % len(names)]


# ---- the pages -----------------------------------------------------------------------------------
def print_page(
    rgb: torch.Tensor, style: str, seed: int, settings: PrintSettings | None = None
) -> torch.Tensor:
    """Whole pages (B, 3, H, W), RGB in [0, 1], of the same size -> their B&W page in `style` drawn
    from `seed`, as scaled lightness (B, 1, H, W). For eval: a fixed seed (e.g. `page_seed` of the
    page's path) and a fixed style give the same page every time on the same kind of device (a CUDA
    generator draws other numbers than a CPU one)."""
    settings = settings or PrintSettings()
    generator = torch.Generator(device=rgb.device).manual_seed(seed)
    scale = min(rgb.shape[-2:]) / settings.scan_short_side
    scales = torch.full((rgb.shape[0],), scale, device=rgb.device)
    return print_windows(
        rgb, [style] * rgb.shape[0], scales, generator, settings, largest_scale=scale
    )


def print_windows(
    rgb: torch.Tensor,
    styles: Sequence[str],
    scales: torch.Tensor,
    generator: torch.Generator,
    settings: PrintSettings,
    valid: torch.Tensor | None = None,
    largest_scale: float | None = None,
) -> torch.Tensor:
    """Colour windows (B, 3, H, W), RGB in [0, 1] at their page's resolution -> the B&W page in each
    window's style as scaled lightness (B, 1, H, W), float32.

    scales: (B,) each window's page short side over `settings.scan_short_side`; valid: (B, 2) the
    (height, width) of each window's content from the top-left (padding beyond it is ignored where
    it matters), None for all of it; largest_scale: a bound on `scales` known on the host (kernel
    sizes come from it, so the device is never waited for), None to read it from `scales`.
    """
    if len(styles) != rgb.shape[0]:
        raise ValueError(f"{len(styles)} styles for {rgb.shape[0]} windows")
    unknown = sorted(set(styles) - set(STYLES))
    if unknown:
        raise ValueError(
            f"unknown input style(s) {', '.join(unknown)}; choose from {', '.join(STYLES)}"
        )
    if largest_scale is None:
        largest_scale = float(scales.max()) if len(styles) else 1.0
    batch, _, height, width = rgb.shape
    if valid is None:
        valid = torch.stack(
            [
                torch.full((batch,), height, device=rgb.device),
                torch.full((batch,), width, device=rgb.device),
            ],
            dim=1,
        )
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
            if style == PLAIN:
                out[index] = scaled_lightness(windows)
                continue
            grey = RENDERERS[style](
                windows, scales[index], largest_scale, valid[index], draw, settings
            )
            grey = scan(grey, scales[index], largest_scale, draw, settings.scan)
            out[index] = _grey_lightness(grey.device)[(grey * 255.0).round().long()]
    return out


def device_index(indices: Sequence[int], device: torch.device) -> torch.Tensor:
    """A host list of indices as a tensor on `device`, copied without waiting for the device (a
    plain copy to a GPU first waits for everything queued on it)."""
    index = torch.tensor(indices, dtype=torch.long)
    return (
        index.pin_memory().to(device, non_blocking=True)
        if device.type == "cuda"
        else index.to(device)
    )


def scaled_lightness(rgb: torch.Tensor) -> torch.Tensor:
    return rgb_to_scaled_lab(rgb)[0]


@functools.lru_cache(maxsize=8)
def _grey_lightness(device: torch.device) -> torch.Tensor:
    """Scaled L of each of the 256 grey levels of an 8-bit scan, (256,): `rgb_to_scaled_lab` of each
    level, computed once per device and looked up rather than computed for every pixel of every
    page."""
    levels = torch.arange(256, dtype=torch.float32, device=device) / 255.0
    return scaled_lightness(levels.view(1, 1, 1, 256).expand(1, 3, 1, 256))[0, 0, 0].contiguous()
