"""Running a trained generator on pages of any size: padding to its multiple, autocast, cropping back.

Shared by mangacolor-colorize's tiles (`mangacolor.inference.page_colorizer`), mangacolor-eval's crops and
anything else that runs the generator, so that every caller pads and crops the same way. Knows
nothing of Lightning or of the data code.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from mangacolor.runtime.devices import autocast


def pad_to_multiple(images: torch.Tensor, multiple: int) -> torch.Tensor:
    """Reflect-pad (B, C, H, W) at the bottom and right up to multiples of `multiple`.

    Reflection continues the drawing's lines and tones into the margin, so the network sees no
    artificial edge. A pad wider than the image is done in steps (reflect needs pad < side);
    a side of one pixel can only be repeated.
    """
    height, width = images.shape[-2:]
    bottom, right = -height % multiple, -width % multiple
    while bottom or right:
        height, width = images.shape[-2:]
        if height == 1 or width == 1:
            return F.pad(images, (0, right, 0, bottom), mode="replicate")
        step_bottom, step_right = min(bottom, height - 1), min(right, width - 1)
        images = F.pad(images, (0, step_right, 0, step_bottom), mode="reflect")
        bottom, right = bottom - step_bottom, right - step_right
    return images


@torch.inference_mode()
def predict(generator: nn.Module, inputs: torch.Tensor, precision: str = "32-true") -> torch.Tensor:
    """Scaled input (B, Cin, H, W) of any size -> the generator's output (B, C, H, W), float32.

    Cin is 1 (the page's L) or, for a generator that takes hints, L with the hint colour and mask
    (`mangacolor.hints.raster.hint_input`).

    C is 2 (scaled ab) or 3 (scaled L, a, b) as the generator predicts (`generator.predicts`).
    The input is reflect-padded to the generator's multiple and the padding cropped from the
    output. `generator` must already be on the input's device and in eval mode.
    """
    height, width = inputs.shape[-2:]
    padded = pad_to_multiple(inputs, generator.multiple)
    with autocast(precision, inputs.device):
        fake = generator(padded)
    return fake[..., :height, :width].float()


def predict_ab(
    generator: nn.Module, lightness: torch.Tensor, precision: str = "32-true"
) -> torch.Tensor:
    """Scaled L (B, 1, H, W) -> predicted scaled ab (B, 2, H, W): the last two channels of `predict`."""
    return predict(generator, lightness, precision)[:, -2:]
