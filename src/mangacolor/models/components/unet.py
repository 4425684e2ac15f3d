"""The seed's U-Net generator: lightness L (B, 1, H, W) -> colour ab (B, 2, H, W) in [-1, 1].

With `out_channels=3` it is a full-colour generator: the B&W page (B, 1, H, W) -> scaled (L, a, b).

At depth 9, width 64 and 512 x 512 input it is exactly the seed's Keras network (67,001,346
trainable parameters): eight 4x4 stride-2 encoder blocks (C64 without norm, then C128, C256 and
C512s with norm, LeakyReLU 0.2), a C512 bottleneck (no norm, ReLU) down to 1 x 1, eight decoder
blocks (4x4 stride-2 transposed conv, norm, dropout in the first four, concatenation with the
mirrored encoder output, then ReLU -- which, as in the seed, also applies to the skip features),
and a 4x4 transposed conv to two channels with tanh. Every conv has a bias, as Keras' default.

H and W must be multiples of 2**depth; depth = log2(size) reaches 1 x 1 at the training size.

`upsample="resize"` replaces every 4x4 stride-2 transposed conv by a bilinear 2x enlargement and
a 3x3 conv (edge pixels repeated, not zeros, at the border). A transposed conv whose kernel (4) is
not a multiple of its stride (2) is uneven: every other output pixel gets a different mix of
weights, and a checkerboard shows through (Odena, Dumoulin and Olah, "Deconvolution and
Checkerboard Artifacts", Distill 2016). At a 64 px working size colourise enlarges that pattern
into stripes several page pixels wide, and zero padding draws a frame round each page. The last
block, which alone works at the full resolution, also sees the input there (the skip the other
levels have, which the seed's head lacks), so colours can follow the page's own edges. The seed's
`transposed` stays the default.

`hint_spread` (hint generators only, whose input is the page, the hint colour times the mask, and
the mask: `mangacolor.hints.raster.hint_input`) adds a fixed, weightless fill in front of the
network that carries every hint's colour over the image (`mangacolor.models.components.hint_fill`):
`true` the push-pull `HintSpread`, `"geodesic"` the `GeodesicFill` that follows the page's lines and
adds a nearness channel. Its output goes to the first and the last convolution beside the input.
With `"geodesic"` the last convolution also gives a copy gate g (a sigmoid, one channel more) and
the output's a, b are g x the fill's a, b + (1 - g) x G's own (its L, for a full-colour generator,
always G's own): where the user's colour holds (a region round a hint, up to its lines) G copies it
exactly instead of having to redraw it through tanh, which a small network trained for minutes
redraws with its hue shifted (docs/hints.md).

`copy_lightness` (a full-colour geodesic generator only) gives the head one more gate, for L: the
output's L is g_L x the fill's L + (1 - g_L) x G's own. A hint on a B&W page says "this pale pink,
lightness included", and there the page's grey is not the colour's lightness (a screentone's
coverage, white paper inside line art), so without it G must redraw every hint's L itself: on the
demo page G's own L was most of the error (docs/hints.md). Its own gate, not the chroma's, so G can
take a hint's hue while keeping its own shading.
`copy_lightness: relative` (needs `fill_cues`) copies, instead of the hint's L itself, the page's L
here moved by the hint's offset from the page where it lies: L_page + (L_hint - L_page at the hint).
A hint says "the page's grey there is this lightness"; carried as an offset it keeps the page's own
shading and lines, fixes a screentone's bias over the whole region (on a grey scan the offset is
about 0: the page's L is already right) and, where the fill carries a colour past a line into a
region of another tone (a brown book's dots reaching a grey torso, a dark frame's dot reaching the
white of an eye), it moves that region's L by the offset only instead of painting the hint's L
over it. Measured, it is nearer on the demo page and a little further on clip-art screentone
pages, so the recipes keep the absolute copy (docs/hints.md).

`fill_cues` (a geodesic generator only) has the fill say two things more about each pixel's
nearest hint: a far nearness that still counts the ink lines between them, and the page's grey
where the hint lies (`GeodesicFill`'s cues). With a hint's colour beside its page's grey, G can
read how the page turns colour into grey and carry the hint's lightness over the page's shading
to parts no dot touches; and it can tell a dot on a line thinner than a working pixel (its colour
far from the grey it lies on) from one on a region.
"""

from __future__ import annotations

import torch
from torch import nn

from mangacolor.models.components.hint_fill import CUE_CHANNELS, GeodesicFill, HintSpread
from mangacolor.models.components.norms import init_pix2pix_weights, make_norm

# What a generator predicts -> its output channels: "ab" is the seed's (the page's own L is kept),
# "lab" the whole colour page (for inputs that are not the page's lightness: ink, screentone).
OUTPUT_CHANNELS = {"ab": 2, "lab": 3}
RELATIVE = "relative"  # copy_lightness: the hint's offset from its page, not its L (see the module)
UPSAMPLES = ("transposed", "resize")
# hint_spread -> the channels its fill adds beside the input, given the hint colour's channels:
# none; the colour field; the colour field and the nearness.
HINT_SPREADS = {
    False: lambda colour: 0,
    True: lambda colour: colour,
    "geodesic": lambda colour: colour + 1,
}


def encoder_channels(depth: int, width: int, max_width: int) -> list[int]:
    """Output channels of each encoder level, the bottleneck last: 64, 128, 256, 512, 512, ..."""
    return [min(width * 2**level, max_width) for level in range(depth)]


class DownBlock(nn.Sequential):
    def __init__(self, in_ch: int, out_ch: int, norm: str, activation: nn.Module):
        super().__init__(
            nn.Conv2d(in_ch, out_ch, 4, stride=2, padding=1), make_norm(norm, out_ch), activation
        )


def upsampling_conv(in_ch: int, out_ch: int, upsample: str) -> nn.Module:
    """Twice the height and width: the seed's 4x4 stride-2 transposed conv, or a bilinear
    enlargement then a 3x3 conv (see the module docstring)."""
    if upsample == "transposed":
        return nn.ConvTranspose2d(in_ch, out_ch, 4, stride=2, padding=1)
    return nn.Sequential(
        nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False),
        nn.Conv2d(in_ch, out_ch, 3, padding=1, padding_mode="replicate"),
    )


class UpBlock(nn.Module):
    """Upsampling conv, norm, optional dropout, concat with the skip, then ReLU on both."""

    def __init__(
        self, in_ch: int, out_ch: int, norm: str, dropout: float, upsample: str = "transposed"
    ):
        super().__init__()
        self.up = nn.Sequential(
            upsampling_conv(in_ch, out_ch, upsample),
            make_norm(norm, out_ch),
            nn.Dropout(dropout) if dropout > 0 else nn.Identity(),
        )
        self.act = nn.ReLU()

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        return self.act(torch.cat([self.up(x), skip], dim=1))


def check_generator_options(
    depth: int,
    upsample: str,
    in_channels: int,
    out_channels: int,
    hint_spread: bool | str,
    copy_lightness: bool | str = False,
    fill_cues: bool = False,
) -> None:
    """Raise ValueError for a depth, upsampling or hint fill the generator cannot be built with."""
    if depth < 2:
        raise ValueError(f"generator depth must be >= 2, got {depth}")
    if upsample not in UPSAMPLES:
        raise ValueError(
            f"generator upsample must be one of {', '.join(UPSAMPLES)}, got {upsample!r}"
        )
    # The page (1 channel), the hint colour (in_channels - 2) and the mask (HINT_SPREADS: what
    # each fill adds).
    if hint_spread not in (False, True, "geodesic"):
        raise ValueError(
            f"generator hint_spread must be false, true or geodesic, got {hint_spread!r}"
        )
    if hint_spread == "geodesic" and in_channels - 2 != out_channels:
        raise ValueError(
            "generator hint_spread=geodesic copies the hint colour to the output: its hint colour "
            f"(in_channels - 2 = {in_channels - 2}) must have the output's {out_channels} channels"
        )
    if hint_spread and in_channels < 3:
        raise ValueError(
            f"generator hint_spread needs hint inputs (in_channels >= 3), got {in_channels}"
        )
    if copy_lightness and (hint_spread != "geodesic" or out_channels != 3):
        raise ValueError(
            "generator copy_lightness copies the hints' L: it needs hint_spread=geodesic and a "
            f"full-colour generator (model.predicts=lab), got hint_spread={hint_spread!r} and "
            f"{out_channels} output channels"
        )
    if copy_lightness not in (False, True, RELATIVE):
        raise ValueError(
            f"generator copy_lightness must be false, true or {RELATIVE}, got {copy_lightness!r}"
        )
    if copy_lightness == RELATIVE and not fill_cues:
        raise ValueError(
            "generator copy_lightness=relative moves the page's L by each hint's offset from the "
            "page where it lies, which the fill's cues give: it needs fill_cues=true"
        )
    if fill_cues and hint_spread != "geodesic":
        raise ValueError(
            "generator fill_cues are the geodesic fill's: it needs hint_spread=geodesic, got "
            f"hint_spread={hint_spread!r}"
        )


class UNetGenerator(nn.Module):
    def __init__(
        self,
        depth: int = 9,
        width: int = 64,
        max_width: int = 512,
        norm: str = "batch",
        dropout: float = 0.5,
        dropout_blocks: int = 4,
        in_channels: int = 1,
        out_channels: int = 2,
        upsample: str = "transposed",
        hint_spread: bool | str = False,
        copy_lightness: bool | str = False,
        fill_cues: bool = False,
    ):
        super().__init__()
        check_generator_options(
            depth, upsample, in_channels, out_channels, hint_spread, copy_lightness, fill_cues
        )
        self.depth, self.upsample = depth, upsample
        self.in_channels, self.out_channels = in_channels, out_channels
        self.spread = {True: HintSpread(depth), "geodesic": GeodesicFill(cues=fill_cues)}.get(
            hint_spread
        )
        seen = (
            in_channels
            + HINT_SPREADS[hint_spread](in_channels - 2)
            + (CUE_CHANNELS if fill_cues else 0)
        )
        channels = encoder_channels(depth, width, max_width)
        self.down = nn.ModuleList()
        previous = seen
        for level, ch in enumerate(channels):
            first, bottleneck = level == 0, level == depth - 1
            self.down.append(
                DownBlock(
                    previous,
                    ch,
                    norm="none" if first or bottleneck else norm,
                    activation=nn.ReLU() if bottleneck else nn.LeakyReLU(0.2),
                )
            )
            previous = ch
        # Decoder block j mirrors encoder level depth-2-j and concatenates with its output.
        self.up = nn.ModuleList()
        for j, skip_ch in enumerate(reversed(channels[:-1])):
            self.up.append(
                UpBlock(previous, skip_ch, norm, dropout if j < dropout_blocks else 0.0, upsample)
            )
            previous = 2 * skip_ch
        # The geodesic fill's head also gives a copy gate (one more channel, see the module), and
        # with copy_lightness a second one for L.
        self.gated, self.copy_lightness = hint_spread == "geodesic", bool(copy_lightness)
        self.relative_lightness = copy_lightness == RELATIVE
        head_out = out_channels + int(self.gated) + int(self.copy_lightness)
        last = nn.Identity() if self.gated else nn.Tanh()  # the gated head squashes in forward
        if upsample == "transposed":
            self.head = nn.Sequential(
                nn.ConvTranspose2d(previous, head_out, 4, stride=2, padding=1), last
            )
        else:  # enlarged, then one conv over it and the input at full resolution
            self.head_up = nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False)
            self.head = nn.Sequential(
                nn.Conv2d(previous + seen, head_out, 3, padding=1, padding_mode="replicate"), last
            )
        init_pix2pix_weights(self)

    @property
    def multiple(self) -> int:
        """Height and width must be multiples of this."""
        return 2**self.depth

    def _fill(self, inputs: torch.Tensor) -> torch.Tensor:
        page, color, mask = inputs[:, :1], inputs[:, 1:-1], inputs[:, -1:]
        return self.spread(page, color, mask).to(inputs.dtype)

    def forward(self, lightness: torch.Tensor) -> torch.Tensor:
        height, width = lightness.shape[-2:]
        if height % self.multiple or width % self.multiple:
            raise ValueError(
                f"generator input {height}x{width} is not a multiple of 2**depth = {self.multiple}"
            )
        if self.spread is not None:  # the page, hint colour x mask, mask -> and the carried colour
            lightness = torch.cat([lightness, self._fill(lightness)], dim=1)
        skips = []
        x = lightness
        for block in self.down:
            x = block(x)
            skips.append(x)
        for block, skip in zip(self.up, reversed(skips[:-1]), strict=True):
            x = block(x, skip)
        if self.upsample == "resize":
            x = self.head(torch.cat([self.head_up(x), lightness], dim=1))
        else:
            x = self.head(x)
        if not self.gated:
            return x
        # The fill's chroma where the gate opens, G's own elsewhere; L (of a full-colour generator)
        # likewise through its own gate with copy_lightness, else always G's own.
        out = self.out_channels
        carried = lightness[:, self.in_channels : self.in_channels + out]
        own = torch.tanh(x[:, :out])
        gate = torch.sigmoid(x[:, out : out + 1])
        chroma = gate * carried[:, -2:] + (1.0 - gate) * own[:, -2:]
        if not self.copy_lightness:
            return torch.cat([own[:, :-2], chroma], dim=1)
        lightness_gate = torch.sigmoid(x[:, out + 1 : out + 2])
        carried_lightness = carried[:, :1]
        if self.relative_lightness:  # the page's L moved by the hint's offset from its page
            page_at_hint = lightness[:, -1:]  # the fill's last cue
            carried_lightness = (lightness[:, :1] + carried_lightness - page_at_hint).clamp(-1, 1)
        own_lightness = lightness_gate * carried_lightness + (1.0 - lightness_gate) * own[:, :1]
        return torch.cat([own_lightness, chroma], dim=1)
