"""The metrics of a predicted colouring against the true page, per image.

Every predictor (the model and each baseline) is scored by the same function on the same
images: the prediction is the true L with the predicted ab -- or, from a full-colour generator,
its own predicted (L, a, b) -- shown as RGB the way the images are used. Crop mode clips to the
sRGB gamut, as training validation does; page mode shows it as mangacolor-colorize writes it
(`color.lightness_preserving_rgb`: an out-of-gamut pixel gives up chroma, never lightness), so it
scores the pages a reader would get.

    ab_l1          mean |ab - true ab| in Lab units, on the raw prediction (training's L1 term, or
                   its ab part for a full-colour generator)
    psnr           on RGB in [0, 1], dB, capped at metrics.PSNR_CAP_DB for identical images
    ssim           on RGB, kornia's SSIM (11-tap Gaussian window) averaged over channels and pixels
    delta_e_2000   mean CIEDE2000 between the Lab of the shown prediction and of the true page
    delta_e_2000_neutral, delta_e_2000_colour
                   the same mean over the pixels where the truth is neutral (chroma under
                   NEUTRAL_CHROMA: paper, ink, greys) and over those where it has colour. CIEDE2000
                   weighs a tint on a neutral pixel far more than the same change of a saturated
                   colour, and white paper is often half a drawing, so the split shows where a
                   colouring's error lies; a page with no such pixels has no score for that half
                   (the means are over the pages that have one)
    colourfulness  Hasler & Suesstrunk, of the prediction (the truth's is scored once per image)

For hints (issue 22), two more, each a mean CIEDE2000 over part of the page:
    delta_e_2000_hinted  inside the hinted squares (the hints' mask at the page's size): does the
                   colouring obey the user, with nothing pasted onto it
    delta_e_2000_ring    the ring: pixels whose truth is neutral (chroma under NEUTRAL_CHROMA)
                   within RING_REACH page pixels of a pixel with colour, where colour carried up
                   from the working size bleeds past a figure's outline onto the paper
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from kornia.color import rgb_to_lab

from mangacolor.color import (
    AB_SCALE,
    cie_lab,
    lightness_preserving_rgb,
    rgb_to_scaled_lab,
    scaled_lab_to_rgb,
)
from mangacolor.metrics import (
    ab_l1,
    colorfulness,
    delta_e_2000,
    masked_mean_delta_e_2000,
    neutral_ring,
    psnr,
    ssim,
)

NEUTRAL_CHROMA = (
    5.0  # Lab chroma under which a true pixel counts as neutral (about what reads as "no colour")
)
RING_REACH = (
    8  # page pixels: how far from a coloured pixel a neutral one counts as the ring (issue 22)
)


@dataclass(frozen=True)
class Metric:
    name: str
    label: str
    higher_is_better: bool
    partial: bool = False  # some pages have no score (NaN): means are over the pages that have one


METRICS = (
    Metric("ab_l1", "ab-L1 (Lab units)", higher_is_better=False),
    Metric("psnr", "PSNR (dB)", higher_is_better=True),
    Metric("ssim", "SSIM", higher_is_better=True),
    Metric("delta_e_2000", "CIEDE2000 dE00", higher_is_better=False),
    Metric(
        "delta_e_2000_neutral",
        "dE00 where the truth is neutral",
        higher_is_better=False,
        partial=True,
    ),
    Metric(
        "delta_e_2000_colour",
        "dE00 where the truth has colour",
        higher_is_better=False,
        partial=True,
    ),
    Metric("colourfulness", "colourfulness", higher_is_better=True),
)
METRIC_NAMES = tuple(metric.name for metric in METRICS)
RANKING_NAMES = tuple(
    metric.name for metric in METRICS if not metric.partial
)  # every page has a score


@dataclass(frozen=True)
class Truth:
    """The true images of a group, with what every prediction is compared against, computed once."""

    rgb: torch.Tensor  # (B, 3, H, W) in [0, 1]
    lightness: (
        torch.Tensor
    )  # scaled L, (B, 1, H, W): the generator's input and every prediction's L
    ab: torch.Tensor  # scaled ab, (B, 2, H, W)
    lab: torch.Tensor  # CIE Lab, (B, 3, H, W)

    @classmethod
    def from_rgb(cls, rgb: torch.Tensor) -> Truth:
        rgb = rgb.float().clamp(0.0, 1.0)
        lightness, ab = rgb_to_scaled_lab(rgb)
        return cls(rgb, lightness, ab, cie_lab(lightness, ab))

    def image(self, index: int) -> Truth:
        """The truth of one image of the group, as a group of one (views, no copies)."""
        return Truth(
            *(part[index : index + 1] for part in (self.rgb, self.lightness, self.ab, self.lab))
        )


# How each mode turns scaled (L, ab) into the RGB that is scored.
SHOWN_RGB: dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {
    "crop": scaled_lab_to_rgb,
    "page": lightness_preserving_rgb,
}


def score_prediction(
    truth: Truth,
    prediction: torch.Tensor,
    shown_rgb: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] = scaled_lab_to_rgb,
    regions: dict[str, torch.Tensor] | None = None,
) -> dict[str, torch.Tensor]:
    """Each metric per image, (B,) float32, for a prediction shown by `shown_rgb`: scaled ab
    (B, 2, H, W) on the true L, or a full-colour generator's scaled (L, a, b) (B, 3, H, W).
    `regions`: see `score_shown`."""
    pred_lightness = prediction[:, :1] if prediction.shape[1] == 3 else truth.lightness
    pred_ab = prediction[:, -2:]
    return score_shown(truth, shown_rgb(pred_lightness, pred_ab), pred_ab, regions)


def score_shown(
    truth: Truth,
    pred_rgb: torch.Tensor,
    pred_ab: torch.Tensor,
    regions: dict[str, torch.Tensor] | None = None,
) -> dict[str, torch.Tensor]:
    """Each metric per image for a prediction as shown, RGB (B, 3, H, W), and its raw scaled ab
    (ab_l1's), against `truth` of B images or of one for all B. regions: name -> mask (B or 1, 1,
    H, W) of 0/1: also the mean CIEDE2000 there, from the same per-pixel differences
    (`delta_e_2000_hinted`, `delta_e_2000_ring` without recomputing).

    On the CPU the images are scored one at a time: each metric is a chain of element-wise passes,
    and a page's intermediates (a few MB each) stay in the cache where a batch's stream through
    memory. The same values to float32 rounding (a mean sums in another order), 2.5x faster for
    CIEDE2000 and 2.8x for SSIM on 8 pages of 700 x 1000 (2-core EPYC; docs/benchmarks.md).
    """
    count = pred_rgb.shape[0]
    if pred_rgb.device.type != "cpu" or count == 1:
        return _score_images(truth, pred_rgb, pred_ab, regions or {})
    parts = [
        _score_images(
            truth.image(index) if truth.rgb.shape[0] > 1 else truth,
            pred_rgb[index : index + 1],
            pred_ab[index : index + 1],
            {
                name: mask[index : index + 1] if mask.shape[0] > 1 else mask
                for name, mask in (regions or {}).items()
            },
        )
        for index in range(count)
    ]
    return {name: torch.cat([part[name] for part in parts]) for name in parts[0]}


def _score_images(
    truth: Truth, pred_rgb: torch.Tensor, pred_ab: torch.Tensor, regions: dict[str, torch.Tensor]
) -> dict[str, torch.Tensor]:
    differences = delta_e_2000(rgb_to_lab(pred_rgb), truth.lab).flatten(1)
    # hypot, not .norm(dim=1): a quarter of the scoring time on a strided (B, 2, H, W) slice
    neutral = (torch.hypot(truth.lab[:, 1], truth.lab[:, 2]) < NEUTRAL_CHROMA).flatten(1).float()
    scores = {
        "ab_l1": ab_l1(pred_ab * AB_SCALE, truth.ab * AB_SCALE),
        "psnr": psnr(pred_rgb, truth.rgb),
        "ssim": ssim(pred_rgb, truth.rgb),
        "delta_e_2000": differences.mean(1),
        "delta_e_2000_neutral": masked_mean(differences, neutral),
        "delta_e_2000_colour": masked_mean(differences, 1.0 - neutral),
        "colourfulness": colorfulness(pred_rgb),
    }
    for name, mask in regions.items():
        scores[name] = masked_mean(differences, mask.to(differences.dtype).flatten(1))
    return scores


def masked_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Per row of (B, N) values, the mean where mask (0 or 1) is 1; NaN for a row with no such
    value."""
    return (values * mask).sum(1) / mask.sum(1)


def constant_ab(ab: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """A prediction of one colour everywhere: scaled (a, b) of shape (2,) -> like's shape
    (B, 2, H, W).

    `ab` should already be on like's device in float32 (the runner moves each baseline there once);
    otherwise it is copied on every call."""
    return ab.to(like.device, torch.float32).view(1, 2, 1, 1).expand_as(like)


def delta_e_2000_hinted(
    pred_rgb: torch.Tensor, truth: Truth, hint_mask: torch.Tensor
) -> torch.Tensor:
    """Mean CIEDE2000 inside the hinted squares, per image: pred RGB (B, 3, H, W) as shown, the
    hints' mask (B, 1, H, W) at the same size (`PageHints.raster(size, size, ...)`); NaN without
    hints."""
    return masked_mean_delta_e_2000(rgb_to_lab(pred_rgb.float()), truth.lab, hint_mask)


def delta_e_2000_ring(pred_rgb: torch.Tensor, truth: Truth) -> torch.Tensor:
    """Mean CIEDE2000 on the ring (see the module), per image; NaN for a page without one."""
    ring = neutral_ring(truth.lab, NEUTRAL_CHROMA, RING_REACH)
    return masked_mean_delta_e_2000(rgb_to_lab(pred_rgb.float()), truth.lab, ring)
