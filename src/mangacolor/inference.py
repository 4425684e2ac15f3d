"""Running a trained generator on pages of any size: device, precision, padding to its multiple.

Shared by mangacolor-colorize's tiles (`mangacolor.colouring`), mangacolor-eval's crops and
anything else that runs the generator, so that every caller pads and crops the same way. Knows
nothing of Lightning or of the data code.
"""

from __future__ import annotations

import contextlib

import torch
import torch.nn.functional as F
from torch import nn

PRECISIONS = ("auto", "32-true", "32", "bf16-mixed", "16-mixed")  # Lightning's names


def resolve_device(device: str) -> torch.device:
    """'auto' -> the first CUDA GPU when there is one, else the CPU; anything else as torch reads it."""
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    resolved = torch.device(str(device))
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} asked for, but this machine has no CUDA GPU (use device=auto or cpu)")
    return resolved


def resolve_precision(precision: str | int, device: torch.device) -> str:
    """'auto' -> bf16-mixed on a GPU that supports it, else 32-true (as training decides)."""
    precision = str(precision)
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    if precision != "auto":
        return precision
    bf16_ok = device.type == "cuda" and torch.cuda.is_bf16_supported()
    return "bf16-mixed" if bf16_ok else "32-true"


def autocast(precision: str, device: torch.device) -> contextlib.AbstractContextManager:
    """The autocast context for a resolved precision ('32-true' runs in float32 with no autocast)."""
    dtypes = {"bf16-mixed": torch.bfloat16, "16-mixed": torch.float16}
    if precision not in dtypes:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtypes[precision])


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
def predict_ab(generator: nn.Module, lightness: torch.Tensor, precision: str = "32-true") -> torch.Tensor:
    """Scaled L (B, 1, H, W) of any size -> predicted scaled ab (B, 2, H, W), float32.

    The input is reflect-padded to the generator's multiple and the padding cropped from the
    output. `generator` must already be on lightness's device and in eval mode.
    """
    height, width = lightness.shape[-2:]
    padded = pad_to_multiple(lightness, generator.multiple)
    with autocast(precision, lightness.device):
        fake = generator(padded)
    return fake[..., :height, :width].float()
