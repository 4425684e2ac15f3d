"""CIE Lab conversions and the scaling the networks see.

The networks work on Lab scaled to [-1, 1] (the convention of pytorch-CycleGAN-and-pix2pix):

    L_scaled  = L / 50 - 1        L in [0, 100]
    ab_scaled = ab / 110          a, b in about [-110, 110] for sRGB colours

kornia's Lab has L in [0, 100] and a, b in about [-128, 127] (sRGB reaches about -86..98 in a
and -108..95 in b, so /110 keeps every displayable colour inside [-1, 1] with no clipping).
The maths always runs in float32, also under bf16/fp16 autocast: Lab's cube roots and the
sRGB gamma lose visible precision in half precision.

`cie_lab` undoes the scaling into CIE Lab (L in [0, 100]) for the colour-difference metrics, and
`lab_lightness` is Lab's L alone, for what needs only the lightness of a colour page.

Also `lightness_preserving_rgb`, which brings an out-of-gamut prediction into sRGB without
moving its lightness (colourising keeps the scan's L exactly).

Pure functions: this module imports nothing of the package.
"""

from __future__ import annotations

import torch
from kornia.color import lab_to_rgb, linear_rgb_to_rgb, rgb_to_lab, rgb_to_linear_rgb

L_SCALE = 50.0
AB_SCALE = 110.0


def _float32(x: torch.Tensor) -> torch.Tensor:
    return x if x.dtype == torch.float32 else x.float()


def rgb_to_scaled_lab(rgb: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """RGB in [0, 1], shape (B, 3, H, W) -> (L, ab) scaled to [-1, 1]: (B, 1, H, W), (B, 2, H, W)."""
    with torch.autocast(device_type=rgb.device.type, enabled=False):
        lab = rgb_to_lab(_float32(rgb).clamp(0.0, 1.0))
    return lab[:, :1] / L_SCALE - 1.0, lab[:, 1:] / AB_SCALE


def scaled_lab_to_rgb(lightness: torch.Tensor, ab: torch.Tensor) -> torch.Tensor:
    """(L, ab) scaled to [-1, 1] -> RGB in [0, 1], float32, clipped to the sRGB gamut."""
    with torch.autocast(device_type=lightness.device.type, enabled=False):
        lab = torch.cat([(_float32(lightness) + 1.0) * L_SCALE, _float32(ab) * AB_SCALE], dim=1)
        return lab_to_rgb(lab, clip=True)


def cie_lab(lightness: torch.Tensor, ab: torch.Tensor) -> torch.Tensor:
    """Scaled L (B, 1, H, W) and ab (B, 2, H, W) -> CIE Lab (B, 3, H, W), float32."""
    return torch.cat([(lightness.float() + 1.0) * L_SCALE, ab.float() * AB_SCALE], dim=1)


def uint8_to_unit(image: torch.Tensor) -> torch.Tensor:
    """uint8 in [0, 255] -> float32 in [0, 1]."""
    return image.float().div_(255.0)


def unit_to_uint8(image: torch.Tensor) -> torch.Tensor:
    """float in [0, 1] -> uint8 in [0, 255], rounded."""
    return image.float().clamp(0.0, 1.0).mul(255.0).round().to(torch.uint8)


def lightness_as_rgb(lightness: torch.Tensor) -> torch.Tensor:
    """Scaled L -> the grey RGB image a reader sees (ab = 0)."""
    return scaled_lab_to_rgb(lightness, torch.zeros_like(lightness).expand(-1, 2, -1, -1))


# Relative luminance Y of linear sRGB, the row of kornia's rgb_to_xyz that Lab's L is computed from.
# Python numbers, not a tensor: a tensor built per call is one more host-to-GPU upload per page.
_LUMINANCE = (0.212671, 0.715160, 0.072169)


def _luminance_of_lightness(lightness: torch.Tensor) -> torch.Tensor:
    """Scaled L -> the luminance Y in [0, 1] it stands for: the inverse of Lab's L = 116 f(Y) - 16,
    with kornia's constants (f is a cube root above (6/29)^3, linear below)."""
    f = ((_float32(lightness) + 1.0) * L_SCALE + 16.0) / 116.0
    return torch.where(f > 0.2068966, f.pow(3), (f - 4.0 / 29.0) / 7.787).clamp(0.0, 1.0)


def lightness_preserving_rgb(lightness: torch.Tensor, ab: torch.Tensor) -> torch.Tensor:
    """Scaled (L, ab) -> RGB in [0, 1] (B, 3, H, W) with exactly the given L.

    Clipping an out-of-gamut colour to sRGB changes its lightness: a tint predicted on white paper
    comes back darker, one on black ink lighter, and line art loses contrast. L depends only on the
    luminance Y, which is linear in linear RGB, so each clipped pixel is mixed with white (if it came
    out too dark) or black (too light) in exactly the proportion that restores its Y: the result is
    in gamut, keeps roughly its hue, and loses only the chroma that could not be shown.
    """
    rgb = scaled_lab_to_rgb(lightness, ab)
    # Only a pixel that clipping touched (a channel at exactly 0 or 1) can have moved. Every pixel
    # is computed and torch.where keeps the others as they were: gathering the clipped ones
    # (nonzero) would make the host wait for the GPU on every page.
    clipped = ((rgb == 0.0) | (rgb == 1.0)).any(dim=1, keepdim=True)
    linear = rgb_to_linear_rgb(rgb)
    y = sum(linear[:, channel : channel + 1] * weight for channel, weight in enumerate(_LUMINANCE))
    y_target = _luminance_of_lightness(lightness)
    towards_white = linear + (1.0 - linear) * ((y_target - y) / (1.0 - y).clamp_min(1e-12)).clamp(
        0.0, 1.0
    )
    towards_black = linear * (y_target / y.clamp_min(1e-12)).clamp(0.0, 1.0)
    mapped = linear_rgb_to_rgb(torch.where(y < y_target, towards_white, towards_black)).clamp(
        0.0, 1.0
    )
    return torch.where(clipped, mapped, rgb)


# ---- composing a colour page with a scanned page's own ink (mangacolor-colorize compose=ink) --------


def srgb_to_linear(rgb: torch.Tensor) -> torch.Tensor:
    """sRGB-encoded values -> linear light, extended beyond [0, 1]: the power curve above the
    linear toe continues past 1, so a value that will have to be brought into gamut keeps the
    luminance it asks for (kornia's `rgb_to_linear_rgb` is the same curve, for values in range)."""
    rgb = _float32(rgb)
    return torch.where(
        rgb > 0.04045, ((rgb.clamp_min(0.04045) + 0.055) / 1.055).pow(2.4), rgb / 12.92
    )


def linear_to_srgb(linear: torch.Tensor) -> torch.Tensor:
    """Linear light in [0, 1] -> sRGB-encoded values in [0, 1] (the inverse of `srgb_to_linear`)."""
    linear = _float32(linear).clamp(0.0, 1.0)
    return torch.where(
        linear > 0.0031308,
        1.055 * linear.clamp_min(0.0031308).pow(1.0 / 2.4) - 0.055,
        12.92 * linear,
    )


def linear_to_srgb_unbounded(linear: torch.Tensor) -> torch.Tensor:
    """Linear light >= 0, possibly above 1 -> sRGB-encoded values, above 1 where the light is: the
    inverse of `srgb_to_linear` over its whole range (for colours still to be brought into gamut)."""
    linear = _float32(linear).clamp_min(0.0)
    return torch.where(
        linear > 0.0031308,
        1.055 * linear.clamp_min(0.0031308).pow(1.0 / 2.4) - 0.055,
        12.92 * linear,
    )


def luminance(linear: torch.Tensor) -> torch.Tensor:
    """Linear RGB (B, 3, H, W) -> relative luminance Y (B, 1, H, W), the Y that Lab's L is computed from."""
    return sum(
        linear[:, channel : channel + 1] * weight for channel, weight in enumerate(_LUMINANCE)
    )


def _lab_f(y: torch.Tensor) -> torch.Tensor:
    """Lab's f of the luminance Y, kornia's constants: a cube root above (6/29)^3, linear below."""
    return torch.where(y > 0.008856, y.clamp_min(0.008856).pow(1.0 / 3.0), 7.787 * y + 4.0 / 29.0)


def lab_lightness(rgb: torch.Tensor) -> torch.Tensor:
    """Lab's L / 100 (B, 1, H, W), in [0, 1], of RGB in [0, 1] (B, 3, H, W): kornia's rgb_to_lab's L
    alone (the same sRGB curve, luminance row and cube root), for about a third of its cost."""
    return (116.0 * _lab_f(luminance(rgb_to_linear_rgb(rgb))) - 16.0) / 100.0


def lightness_as_grey(lightness: torch.Tensor) -> torch.Tensor:
    """Scaled L (B, 1, H, W) -> the sRGB-encoded grey value in [0, 1] a reader sees for it: 0 for
    black ink, 1 for white paper; the one channel of `lightness_as_rgb`."""
    return linear_to_srgb(_luminance_of_lightness(lightness))


def fit_to_gamut(rgb: torch.Tensor) -> torch.Tensor:
    """sRGB-encoded (B, 3, H, W), possibly outside [0, 1] -> in [0, 1] with the luminance it asked
    for (capped at white's), as `lightness_preserving_rgb` does for a Lab colour: a clipped pixel
    is mixed with white (if clipping left it too dark) or black (too light) until its luminance is
    back, so it gives up chroma, never lightness. Pixels already in gamut are returned as they are.
    """
    rgb = _float32(rgb)
    linear = srgb_to_linear(rgb)
    y_target = luminance(linear).clamp(0.0, 1.0)
    clipped = linear.clamp(0.0, 1.0)
    y = luminance(clipped)
    towards_white = clipped + (1.0 - clipped) * ((y_target - y) / (1.0 - y).clamp_min(1e-12)).clamp(
        0.0, 1.0
    )
    towards_black = clipped * (y_target / y.clamp_min(1e-12)).clamp(0.0, 1.0)
    mapped = linear_to_srgb(torch.where(y < y_target, towards_white, towards_black))
    outside = ((rgb < 0.0) | (rgb > 1.0)).any(dim=1, keepdim=True)
    return torch.where(outside, mapped, rgb)


def grey_as_lightness(grey: torch.Tensor) -> torch.Tensor:
    """sRGB-encoded grey in [0, 1] (B, 1, H, W) -> scaled L: the inverse of `lightness_as_grey`."""
    y = srgb_to_linear(_float32(grey).clamp(0.0, 1.0))
    return (116.0 * _lab_f(y) - 16.0) / L_SCALE - 1.0
