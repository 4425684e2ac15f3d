"""Colourisation metrics as plain functions, shared by validation, mangacolor-eval and the bench.

Each takes a batch and returns one value per image (shape (B,)), so callers can average,
reduce across ranks, or write per-image tables. Pure: imports nothing of the package.
"""

from __future__ import annotations

import torch

# PSNR of identical images is infinite; we cap it so that means stay finite. 100 dB is far
# above anything an 8-bit image pair can show (one grey level of error gives 48 dB).
PSNR_CAP_DB = 100.0


def ab_l1(pred_ab: torch.Tensor, true_ab: torch.Tensor) -> torch.Tensor:
    """Mean absolute error over a and b, per image, in the units given (pass Lab units)."""
    return (pred_ab.float() - true_ab.float()).abs().flatten(1).mean(1)


def psnr(pred_rgb: torch.Tensor, true_rgb: torch.Tensor, max_val: float = 1.0) -> torch.Tensor:
    """Peak signal-to-noise ratio per image in dB, capped at PSNR_CAP_DB (identical images)."""
    mse = (pred_rgb.float() - true_rgb.float()).pow(2).flatten(1).mean(1)
    floor = max_val**2 * 10.0 ** (-PSNR_CAP_DB / 10.0)
    return 10.0 * torch.log10(max_val**2 / mse.clamp_min(floor))


def colourfulness(rgb: torch.Tensor) -> torch.Tensor:
    """Hasler & Suesstrunk (2003) colourfulness per image, RGB in [0, 1], on their 0-255 scale.

    About 0 for a grey image, 15 "slightly", 33 "moderately", 59 "quite", 82+ "highly colourful".
    """
    rgb = rgb.float() * 255.0
    red, green, blue = rgb[:, 0].flatten(1), rgb[:, 1].flatten(1), rgb[:, 2].flatten(1)
    rg = red - green
    yb = 0.5 * (red + green) - blue
    spread = torch.sqrt(rg.var(1, unbiased=False) + yb.var(1, unbiased=False))
    centre = torch.sqrt(rg.mean(1).pow(2) + yb.mean(1).pow(2))
    return spread + 0.3 * centre
