"""Colourisation metrics as plain functions, shared by validation, mangacolor-eval and the bench.

Each takes a batch and returns one value per image (shape (B,)), so callers can average,
reduce across ranks, or write per-image tables. Pure: imports nothing of the package.

Value ranges: RGB in [0, 1]; Lab in CIE units (L in [0, 100], a and b in about [-128, 127]).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from kornia.filters import get_gaussian_kernel1d

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


def colorfulness(rgb: torch.Tensor) -> torch.Tensor:
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


SSIM_WINDOW = 11  # Wang et al. (2004): an 11-tap Gaussian window, sigma 1.5
SSIM_SIGMA = 1.5


def ssim(
    pred_rgb: torch.Tensor, true_rgb: torch.Tensor, window_size: int = SSIM_WINDOW
) -> torch.Tensor:
    """Mean structural similarity per image (kornia's SSIM map, averaged over channels and pixels).

    RGB in [0, 1]; 1 for identical images. An image smaller than the window gets the largest odd
    window that fits, because reflect padding needs each side larger than half the window.
    """
    smallest_side = min(pred_rgb.shape[-2:])
    window = max(min(window_size, smallest_side if smallest_side % 2 else smallest_side - 1), 1)
    return ssim_map(pred_rgb.float(), true_rgb.float(), window).flatten(1).mean(1)


def ssim_map(pred: torch.Tensor, true: torch.Tensor, window: int) -> torch.Tensor:
    """kornia.metrics.ssim's map (reflect padding, Gaussian sigma 1.5, max_val 1, eps 1e-12), with
    each image padded once rather than each of the five moments before each of its two passes.

    Reflect padding commutes with the pointwise products and with a blur along the other axis, so
    the moments of the padded images, filtered without padding, are kornia's to rounding; on a
    full page the ten paddings cost as much as the filtering (a quarter of the hint sweep's time
    went to SSIM). Channels-last on the CPU, as kornia does, for oneDNN's depthwise convolutions.
    """
    radius, channels = window // 2, pred.shape[1]
    kernel = get_gaussian_kernel1d(window, SSIM_SIGMA, device=pred.device, dtype=pred.dtype)
    along_x = kernel.view(1, 1, 1, -1).expand(channels, 1, 1, -1)
    along_y = kernel.view(1, 1, -1, 1).expand(channels, 1, -1, 1)
    layout = torch.channels_last if pred.device.type == "cpu" else torch.contiguous_format

    def padded(image: torch.Tensor) -> torch.Tensor:
        if radius:
            image = F.pad(image, [radius] * 4, mode="reflect")
        return image.contiguous(memory_format=layout)

    def blur(image: torch.Tensor) -> torch.Tensor:
        return F.conv2d(F.conv2d(image, along_x, groups=channels), along_y, groups=channels)

    c1, c2, eps = 0.01**2, 0.03**2, 1e-12
    pred, true = padded(pred), padded(true)
    mu_pred, mu_true = blur(pred), blur(true)
    mu_both = mu_pred * mu_true
    mu_pred_sq, mu_true_sq = mu_pred.pow_(2), mu_true.pow_(2)
    var_pred = blur(pred * pred).sub_(mu_pred_sq)
    var_true = blur(true * true).sub_(mu_true_sq)
    denominator = mu_pred_sq.add_(mu_true_sq).add_(c1).mul_(var_pred.add_(var_true).add_(c2))
    covariance = blur(pred * true).sub_(mu_both)
    numerator = mu_both.mul_(2.0).add_(c1).mul_(covariance.mul_(2.0).add_(c2))
    return numerator.div_(denominator.add_(eps)).contiguous()


def delta_e_2000(lab1: torch.Tensor, lab2: torch.Tensor, dim: int = 1) -> torch.Tensor:
    """CIEDE2000 colour difference, element-wise over `dim` (which holds L, a, b), kL = kC = kH = 1.

    Follows Sharma, Wu and Dalal (2005), "The CIEDE2000 color-difference formula: implementation
    notes, supplementary test data, and mathematical observations", including their rules for
    hue angles when a chroma is zero and for the mean hue across the 0/360 degree seam. Returns
    lab1's shape without `dim`. Runs in float32 at least (in float64 when given float64).
    """
    dtype = torch.promote_types(lab1.dtype, torch.float32)
    l1, a1, b1 = lab1.to(dtype).unbind(dim)
    l2, a2, b2 = lab2.to(dtype).unbind(dim)
    pow25_7 = 25.0**7

    chroma_mean = (torch.hypot(a1, b1) + torch.hypot(a2, b2)) / 2
    g = 0.5 * (1 - torch.sqrt(chroma_mean**7 / (chroma_mean**7 + pow25_7)))
    a1p, a2p = (1 + g) * a1, (1 + g) * a2
    c1p, c2p = torch.hypot(a1p, b1), torch.hypot(a2p, b2)
    # atan2(0, 0) is 0 in torch, which is the paper's rule for a hue of zero chroma.
    h1p = torch.remainder(torch.atan2(b1, a1p), 2 * math.pi)
    h2p = torch.remainder(torch.atan2(b2, a2p), 2 * math.pi)
    chroma_product_zero = (c1p * c2p) == 0

    delta_lp = l2 - l1
    delta_cp = c2p - c1p
    dhp = h2p - h1p
    dhp = torch.where(
        dhp > math.pi, dhp - 2 * math.pi, torch.where(dhp < -math.pi, dhp + 2 * math.pi, dhp)
    )
    dhp = torch.where(chroma_product_zero, torch.zeros_like(dhp), dhp)
    delta_hp = 2 * torch.sqrt(c1p * c2p) * torch.sin(dhp / 2)

    lp_mean = (l1 + l2) / 2
    cp_mean = (c1p + c2p) / 2
    hue_sum = h1p + h2p
    hp_mean = torch.where(
        (h1p - h2p).abs() <= math.pi,
        hue_sum / 2,
        torch.where(
            hue_sum < 2 * math.pi, (hue_sum + 2 * math.pi) / 2, (hue_sum - 2 * math.pi) / 2
        ),
    )
    hp_mean = torch.where(chroma_product_zero, hue_sum, hp_mean)

    t = (
        1
        - 0.17 * torch.cos(hp_mean - math.radians(30))
        + 0.24 * torch.cos(2 * hp_mean)
        + 0.32 * torch.cos(3 * hp_mean + math.radians(6))
        - 0.20 * torch.cos(4 * hp_mean - math.radians(63))
    )
    delta_theta = math.radians(30) * torch.exp(-(((torch.rad2deg(hp_mean) - 275) / 25) ** 2))
    r_c = 2 * torch.sqrt(cp_mean**7 / (cp_mean**7 + pow25_7))
    s_l = 1 + 0.015 * (lp_mean - 50) ** 2 / torch.sqrt(20 + (lp_mean - 50) ** 2)
    s_c = 1 + 0.045 * cp_mean
    s_h = 1 + 0.015 * cp_mean * t
    r_t = -torch.sin(2 * delta_theta) * r_c

    lightness_term, chroma_term, hue_term = delta_lp / s_l, delta_cp / s_c, delta_hp / s_h
    squared = lightness_term**2 + chroma_term**2 + hue_term**2 + r_t * chroma_term * hue_term
    return torch.sqrt(squared.clamp_min(0))  # rounding can leave -1e-7 where the colours match


def mean_delta_e_2000(pred_lab: torch.Tensor, true_lab: torch.Tensor) -> torch.Tensor:
    """Mean CIEDE2000 over the pixels of each image; Lab images (B, 3, H, W) in CIE units."""
    return delta_e_2000(pred_lab, true_lab, dim=1).flatten(1).mean(1)


def masked_mean_delta_e_2000(
    pred_lab: torch.Tensor, true_lab: torch.Tensor, mask: torch.Tensor
) -> torch.Tensor:
    """Mean CIEDE2000 over the pixels where mask (B, 1, H, W), 0/1 or bool, is set, per image;
    NaN for an image with no such pixel. Lab images (B, 3, H, W) in CIE units."""
    differences = delta_e_2000(pred_lab, true_lab, dim=1).flatten(1)
    weights = mask.to(differences.dtype).flatten(1)
    return (differences * weights).sum(1) / weights.sum(1)


def neutral_ring(true_lab: torch.Tensor, neutral_chroma: float, reach: int) -> torch.Tensor:
    """Bool (B, 1, H, W): the pixels whose true chroma is under `neutral_chroma` (paper, ink, greys)
    and that lie within `reach` pixels (Euclidean, centre to centre) of a pixel with colour (chroma
    at least `neutral_chroma`): where colour bleeding past a figure's outline shows."""
    chroma = torch.hypot(true_lab[:, 1:2].float(), true_lab[:, 2:3].float())
    colored = (chroma >= neutral_chroma).float()
    near = torch.zeros_like(colored, dtype=torch.bool)
    # A disk as rows of different half-widths: per row offset, a horizontal max over the half-width
    # that row of the disk spans, shifted into place; separable work instead of a (2r+1)^2 kernel.
    padded = torch.nn.functional.pad(colored, (reach, reach, reach, reach))
    height, width = colored.shape[-2:]
    for dy in range(-reach, reach + 1):
        half = math.isqrt(reach * reach - dy * dy)
        rows = padded[..., reach + dy : reach + dy + height, :]
        spread = torch.nn.functional.max_pool2d(rows, (1, 2 * half + 1), stride=1, padding=0)
        near |= spread[..., reach - half : reach - half + width] > 0
    return near & (chroma < neutral_chroma)
