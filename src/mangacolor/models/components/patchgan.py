"""The seed's PatchGAN discriminator: (L, ab) -> a map of real/fake logits, one per patch.

It judges a colouring given what the generator saw: the input page (1 channel) beside a colour
(ab: in_channels 3, the seed's; or a full-colour generator's L, a, b: in_channels 4).

With the seed's settings (channels 64-128-256-512-1024 at stride 2, then 1024 at stride 1,
batch norm after all but the first) a 512 x 512 input gives a 16 x 16 map and the network has
27,952,577 parameters as Keras counts them (norm statistics included). It returns logits: the
seed's sigmoid + BCE is BCE-with-logits, which stays stable under mixed precision.

`spectral_norm=True` divides each convolution's weight by its largest singular value (Miyato et
al. 2018, torch's parametrization: one power iteration per training forward, its vectors u and v
kept as buffers, so they are in checkpoints and a resume continues them). It keeps D 1-Lipschitz
per layer, so its gradients to G stay tame. Off, the network and its state dict are the seed's.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm as with_spectral_norm

from mangacolor.models.components.norms import init_pix2pix_weights, make_norm


class PatchDiscriminator(nn.Module):
    def __init__(
        self,
        channels: tuple[int, ...] = (64, 128, 256, 512, 1024),
        stride1_channels: int = 1024,
        norm: str = "batch",
        in_channels: int = 3,
        spectral_norm: bool = False,
    ):
        super().__init__()
        layers: list[nn.Module] = []
        previous = in_channels
        for i, ch in enumerate(channels):
            layers += [
                nn.Conv2d(previous, ch, 4, stride=2, padding=1),
                make_norm("none" if i == 0 else norm, ch),
                nn.LeakyReLU(0.2),
            ]
            previous = ch
        if stride1_channels:
            # Keras "same" padding at stride 1 with a 4x4 kernel pads 1 before and 2 after.
            layers += [
                nn.ZeroPad2d((1, 2, 1, 2)),
                nn.Conv2d(previous, stride1_channels, 4),
                make_norm(norm, stride1_channels),
                nn.LeakyReLU(0.2),
            ]
            previous = stride1_channels
        layers += [nn.ZeroPad2d((1, 2, 1, 2)), nn.Conv2d(previous, 1, 4)]
        self.net = nn.Sequential(*layers)
        init_pix2pix_weights(self)
        if spectral_norm:  # after the initialisation, which writes the weights it then normalises
            for layer in self.net:
                if isinstance(layer, nn.Conv2d):
                    with_spectral_norm(layer)

    def forward(self, inputs: torch.Tensor, color: torch.Tensor) -> torch.Tensor:
        """The generator's input (B, 1, H, W) and a colouring of it (B, in_channels - 1, H, W)."""
        return self.net(torch.cat([inputs, color], dim=1))
