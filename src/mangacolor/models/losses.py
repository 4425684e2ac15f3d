"""One GAN loss with a mode string, as in BasicSR: vanilla (BCE), lsgan (MSE) or hinge."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

GAN_MODES = ("vanilla", "lsgan", "hinge")


class GANLoss(nn.Module):
    """loss(prediction, target_is_real, for_discriminator) on raw discriminator outputs.

    vanilla: BCE with logits, the seed's sigmoid + BCE, stable under mixed precision.
    lsgan:   least squares towards 1 (real) and 0 (fake).
    hinge:   D: relu(1 - real) + relu(1 + fake); G: -mean(D(fake)).
    """

    def __init__(self, mode: str = "vanilla"):
        super().__init__()
        if mode not in GAN_MODES:
            raise ValueError(f"unknown GAN loss mode {mode!r}; choose one of {', '.join(GAN_MODES)}")
        self.mode = mode

    def forward(self, prediction: torch.Tensor, target_is_real: bool, for_discriminator: bool = True) -> torch.Tensor:
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
