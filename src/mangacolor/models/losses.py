"""One GAN loss with a mode string, as in BasicSR: vanilla (BCE), lsgan (MSE) or hinge; and G's
reconstruction term: the seed's L1, or a colour difference a reader would see (CIE94)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from mangacolor.color import AB_SCALE, L_SCALE

GAN_MODES = ("vanilla", "lsgan", "hinge")
RECONSTRUCTIONS = ("l1", "delta_e_94")


class GANLoss(nn.Module):
    """loss(prediction, target_is_real, for_discriminator) on raw discriminator outputs.

    vanilla: BCE with logits, the seed's sigmoid + BCE, stable under mixed precision.
    lsgan:   least squares towards 1 (real) and 0 (fake).
    hinge:   D: relu(1 - real) + relu(1 + fake); G: -mean(D(fake)).
    """

    def __init__(self, mode: str = "vanilla"):
        super().__init__()
        if mode not in GAN_MODES:
            raise ValueError(
                f"unknown GAN loss mode {mode!r}; choose one of {', '.join(GAN_MODES)}"
            )
        self.mode = mode

    def forward(
        self, prediction: torch.Tensor, target_is_real: bool, for_discriminator: bool = True
    ) -> torch.Tensor:
        prediction = prediction.float()
        if self.mode == "hinge":
            if not for_discriminator:
                return -prediction.mean()
            sign = -1.0 if target_is_real else 1.0
            return F.relu(1.0 + sign * prediction).mean()
        target = torch.full_like(prediction, 1.0 if target_is_real else 0.0)
        if self.mode == "vanilla":
            return F.binary_cross_entropy_with_logits(prediction, target)
        return F.mse_loss(prediction, target)

    def score(self, prediction: torch.Tensor) -> torch.Tensor:
        """Mean 'realness' for dashboards: probability for vanilla, raw output otherwise."""
        prediction = prediction.detach().float()
        return torch.sigmoid(prediction).mean() if self.mode == "vanilla" else prediction.mean()


def delta_e_94(fake: torch.Tensor, target: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """CIE94 colour difference per pixel (graphic-arts weights: kL = kC = kH = 1, K1 = 0.045,
    K2 = 0.015) between scaled predictions and targets (B, C, H, W), C = 2 (ab, on the same L) or
    3 (L, a, b); differentiable everywhere (eps keeps the square roots' gradients finite at 0).

        dE94 = sqrt(dL^2 + (dC / (1 + 0.045 C))^2 + (dH / (1 + 0.015 C))^2)

    with C the target's chroma, dC the difference of chromas, dH^2 = da^2 + db^2 - dC^2. CIEDE2000,
    which eval reports, refines this formula: both forgive a given change of a saturated colour far
    more than the same change near grey. The L1 term treats them alike, and under uncertainty
    settles on a colour between the candidates (the median), often a warm tint that CIEDE2000
    counts heavily on neutral and blue pixels. Returns (B, H, W) in CIE Lab units.
    """
    fake, target = fake.float(), target.float()
    fake_a, fake_b = fake[:, -2] * AB_SCALE, fake[:, -1] * AB_SCALE
    true_a, true_b = target[:, -2] * AB_SCALE, target[:, -1] * AB_SCALE
    true_chroma = torch.sqrt(true_a * true_a + true_b * true_b)
    fake_chroma = torch.sqrt(fake_a * fake_a + fake_b * fake_b + eps)
    delta_c = fake_chroma - true_chroma
    delta_h_squared = (
        (fake_a - true_a) ** 2 + (fake_b - true_b) ** 2 - delta_c * delta_c
    ).clamp_min(0.0)
    squared = (delta_c / (1.0 + 0.045 * true_chroma)) ** 2 + delta_h_squared / (
        1.0 + 0.015 * true_chroma
    ) ** 2
    if fake.shape[1] == 3:
        squared = squared + ((fake[:, 0] - target[:, 0]) * L_SCALE) ** 2
    return torch.sqrt(squared + eps)


def reconstruction_loss(kind: str, fake: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """G's reconstruction term, in the L1's units: "l1", mean |G(x) - y| over every predicted
    channel (the seed's); "delta_e_94", the mean CIE94 difference divided by AB_SCALE, so that a
    small error in a or b alone weighs about what it does in the L1 term and lambda_l1 keeps its
    meaning."""
    if kind == "l1":
        return F.l1_loss(fake.float(), target.float())
    return delta_e_94(fake, target).mean() / AB_SCALE
