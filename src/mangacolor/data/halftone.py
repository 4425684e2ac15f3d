"""Halftone screens: the ink a screen of a given kind, period and angle prints for a coverage map.

Pure functions of their tensors (no random draws, no settings): the screentone renderer
(`print_renderers.render_screentone`) draws each region's screen and asks here for its ink. Every
screen is drawn with area antialiasing, and fades into its plain tone as its period nears a pixel,
as a scan of a fine screen does.
"""

from __future__ import annotations

import math

import torch

# A screen's period in pixels where it starts fading into its tone, and where it is only tone: about
# where area sampling keeps 3/4 of a screen's contrast, and where only a faint moire would remain.
SCREEN_FADE = (2.5, 1.25)


def round_dot(r: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Round dot's threshold: the area of a disc of radius r (cell units) inside its unit cell, so a
    coverage c inks exactly the fraction c of the cell; and its slope d(area)/dr."""
    inside = r <= 0.5
    # half-angle of each arc outside the cell
    cut = torch.acos((0.5 / r.clamp_min(0.5)).clamp(max=1.0))
    area = torch.where(
        inside,
        math.pi * r * r,
        math.pi * r * r - 4.0 * (r * r * cut - 0.5 * (r * r - 0.25).clamp_min(0.0).sqrt()),
    )
    slope = 2.0 * r * (math.pi - 4.0 * cut)
    return area.clamp(0.0, 1.0), slope


def coverage_ink(
    threshold: torch.Tensor, coverage: torch.Tensor, slope: torch.Tensor, period: torch.Tensor
) -> torch.Tensor:
    """Ink where the threshold lies under the coverage, antialiased over the threshold's change
    across one pixel, `step` (= slope per cell / period in px). A ramp of that width centred on the
    coverage keeps the mean ink of a uniform threshold except within step/2 of 0 and 1, where it
    would leave grey specks on paper and pinholes in black: there the coverage is pre-distorted by
    the inverse of that error, so 0 inks nothing, 1 everything, and the mean stays the coverage."""
    step = (slope / period).clamp_min(1e-3)
    half = (0.5 * step).clamp(max=0.5)
    low = 2.0 * (half * coverage).clamp_min(0.0).sqrt() - half
    high = 1.0 + half - 2.0 * (half * (1.0 - coverage)).clamp_min(0.0).sqrt()
    target = torch.where(coverage < half, low, torch.where(coverage > 1.0 - half, high, coverage))
    return ((target - threshold) / step + 0.5).clamp(0.0, 1.0)


def screen_ink(
    coverage: torch.Tensor,
    kind: torch.Tensor,
    period: torch.Tensor,
    angle: torch.Tensor,
    phase: torch.Tensor,
) -> torch.Tensor:
    """Halftone ink (B, 1, H, W) for a coverage map, with each pixel's own screen: kind (index into
    SCREEN_KINDS), period (px), angle (radians) and phase (B, 2, H, W) in cells."""
    height, width = coverage.shape[-2:]
    y = (torch.arange(height, device=coverage.device, dtype=torch.float32) + 0.5).view(1, 1, -1, 1)
    x = (torch.arange(width, device=coverage.device, dtype=torch.float32) + 0.5).view(1, 1, 1, -1)
    cos, sin = angle.cos(), angle.sin()
    u = (x * cos + y * sin) / period + phase[:, :1]
    v = (y * cos - x * sin) / period + phase[:, 1:]
    fu, fv = u - u.floor() - 0.5, v - v.floor() - 0.5  # position in the cell, [-0.5, 0.5)

    # Each kind's threshold (the fraction of its cell it inks below it) and its slope per cell,
    # picked per pixel, then one antialiased comparison; hatching adds a second line screen across
    # the first.
    round_area, round_slope = round_dot(torch.sqrt(fu * fu + fv * fv))
    # square dots: squares on a 45-degree screen, a checkerboard at 50 %
    diamond = fu.abs() + fv.abs()
    inner = diamond <= 0.5
    square_area = torch.where(inner, 2.0 * diamond * diamond, 1.0 - 2.0 * (1.0 - diamond) ** 2)
    square_slope = 4.0 * torch.where(inner, diamond, 1.0 - diamond)
    across = 2.0 * fu.abs()  # line screens: uniform across the cell, slope 2
    threshold = torch.where(kind == 0, round_area, torch.where(kind == 1, square_area, across))
    slope = torch.where(
        kind == 0, round_slope, torch.where(kind == 1, square_slope, torch.full_like(across, 2.0))
    )
    hatched = kind == 3
    # two crossed screens together ink `coverage`
    each = 1.0 - (1.0 - coverage).clamp_min(0.0).sqrt()
    ink = coverage_ink(threshold, torch.where(hatched, each, coverage), slope, period)
    crossing = coverage_ink(2.0 * fv.abs(), each, torch.full_like(across, 2.0), period)
    ink = torch.where(hatched, 1.0 - (1.0 - ink) * (1.0 - crossing), ink)
    # Dots under about two pixels cannot be drawn; a scan of them shows their tone.
    fade = ((SCREEN_FADE[0] - period) / (SCREEN_FADE[0] - SCREEN_FADE[1])).clamp(0.0, 1.0)
    return ink + (coverage - ink) * fade
