"""Stand-in generators whose predictions are known, and tiny real ones, for colouring tests.

A stand-in is an nn.Module with `multiple` and `predicts` ("lab": it returns scaled L, a, b as a
full-colour generator does), so `PageColorizer` treats it as a trained network.
"""

from __future__ import annotations

import torch
from kornia.filters import gaussian_blur2d
from torch import nn

from mangacolor.color import lightness_as_grey, rgb_to_scaled_lab
from mangacolor.models.components import UNetGenerator

SKIN = (
    0.96,
    0.78,
    0.64,
)  # a known colour for paper to take: light enough to show lines, clearly not grey


class KnownColor(nn.Module):
    """Predicts one known colour, shaded as the page it is shown: colour x the input's grey (in sRGB
    values). So its prediction carries the page's lines and tones, blurred as the network sees
    them, exactly like a well-trained full-colour network on line art and screentone.

    soften: a Gaussian sigma (working pixels) by which its copy of the lines is blurrier than its
    input (a network whose lines come out wider); flat: no copy of the page at all (the colour alone).
    """

    multiple = 16
    predicts = "lab"

    def __init__(self, rgb=SKIN, soften: float = 0.0, flat: bool = False):
        super().__init__()
        self.register_buffer("rgb", torch.tensor(rgb).view(1, 3, 1, 1))
        self.soften, self.flat = soften, flat

    def forward(self, lightness: torch.Tensor) -> torch.Tensor:
        grey = torch.ones_like(lightness) if self.flat else lightness_as_grey(lightness)
        if self.soften:
            side = 2 * round(3 * self.soften) + 1
            grey = gaussian_blur2d(
                grey, (side, side), (self.soften, self.soften), border_type="replicate"
            )
        scaled_l, ab = rgb_to_scaled_lab(self.rgb * grey)
        return torch.cat([scaled_l, ab], dim=1)


TINY = dict(depth=4, width=8, max_width=16)


def vivid_unet(out_channels: int = 2, seed: int = 0) -> UNetGenerator:
    """A tiny random U-Net whose head is scaled up, so it predicts strong (often out-of-gamut) colour;
    out_channels=3 makes it a full-colour generator."""
    torch.manual_seed(seed)
    generator = UNetGenerator(**TINY, out_channels=out_channels)
    with torch.no_grad():
        generator.head[0].weight.mul_(100.0)
        generator.head[0].bias.fill_(0.3)
    return generator.eval()
