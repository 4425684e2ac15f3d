"""Fixed, weightless layers that carry the hint colours over the image for a hint generator
(`model.generator.hint_spread`, docs/hints.md).

A dot is one working pixel. Without a fill the network must learn to move its colour across a
region through every level, which a small network trained for minutes on a CPU does not (measured:
docs/hints.md); with one, G only decides where the carried colour stops. Two fills:

- `HintSpread` (`hint_spread: true`, the first): a push-pull fill. Each pixel takes the mean hint
  colour at the finest of `levels` halvings whose cell holds a hint. Blind to the page: two hints in
  one coarse cell are mixed into a colour neither has, and a grey hint (colour 0) looks exactly like
  no hint at all (0 too).
- `GeodesicFill` (`hint_spread: geodesic`): each pixel takes the colour of its geodesically nearest
  hint, where a step costs 1 plus `EDGE_COST` times the change in the page's lightness, so a path
  that crosses an ink line is long and the fill mostly stops at the lines, as a paint bucket does.
  Beside the colour it gives a nearness channel, exp(-distance / REACH) (1 at a hint, 0 with no
  hint on the image), so G can tell "grey here" from "nothing said here" and knows how far to trust
  the carried colour.
  With `cues` it gives two channels more about that nearest hint: a far nearness,
  exp(-distance / FAR_REACH), which still tells one ink line crossed from three (the near one is 0
  past any line), and the page's own lightness where the hint lies. A hint's colour against its
  page's grey says how that page turns colour into grey (a screentone's coverage, a grey scan's
  exact L) and whether the dot covers more than a thin line at the working size (a dark dot on a
  working pixel that is mostly face); G sees it beside the page's grey everywhere the hint reaches.

The geodesic distance is found with directional sweeps: along a row, the best distance from the
left is d[i] = C[i] + min_{k <= i}(d[k] - C[k]) with C the running sum of step costs, one running
minimum; sweeping right, left, down and up, `GEODESIC_ROUNDS` times, follows every path with
up to about 4 * rounds turns (the raster-scan idea of distance transforms, Borgefors 1986). Cost
per image: 4 * rounds running minima of log2(side) steps each, whatever the hint count.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

EDGE_COST = 60.0  # steps per unit of scaled L (2 = black to white): an ink line costs 60-120 steps
REACH = 8.0  # working pixels: nearness e^-1 this far from the nearest hint (64 px: 8 of it)
FAR_REACH = 64.0  # steps: the far nearness, e^-1 a page's width or about one ink line away
CUE_CHANNELS = 2  # what `cues` adds to the output: the far nearness and the page's L at the hint
GEODESIC_ROUNDS = 3  # sweeps in all four directions; enough for the shapes of a 64 px page
_FAR = 1.0e6  # the distance of a pixel no hint reaches (no hint on the image)
_LONGEST = 4096  # working pixels: the longest side an exported fill scans whole


class HintSpread(nn.Module):
    """The page (B, 1, H, W; unused: this fill is blind to it), hint colour times mask
    (B, C, H, W) and mask (B, 1, H, W) -> a dense colour field (B, C, H, W): at each pixel the mean
    hint colour at the finest of `levels` halvings whose cell holds a hint, enlarged bilinearly
    between scales (a push-pull fill); zero where the image has no hint at all. H and W must be
    multiples of 2**levels. No weights: the same in every checkpoint and export. It takes what
    `GeodesicFill` takes, so the generator calls either alike."""

    def __init__(self, levels: int):
        super().__init__()
        self.levels = levels

    def forward(
        self, lightness: torch.Tensor, color: torch.Tensor, mask: torch.Tensor
    ) -> torch.Tensor:
        pyramid = [(color, mask)]
        for _ in range(self.levels):
            color, mask = F.avg_pool2d(color, 2), F.avg_pool2d(mask, 2)
            pyramid.append((color, mask))
        field = color / mask.clamp_min(1e-6)  # the coarsest: one cell per 2**levels pixels
        for color, mask in reversed(pyramid[:-1]):
            field = F.interpolate(field, scale_factor=2, mode="bilinear", align_corners=False)
            field = torch.where(mask > 0, color / mask.clamp_min(1e-6), field)
        return field


class GeodesicFill(nn.Module):
    """The page's scaled L (B, 1, H, W), hint colour times mask (B, C, H, W) and mask (B, 1, H, W)
    -> (B, C + 1, H, W): the colour of each pixel's geodesically nearest hint (zero with no hint)
    and the nearness exp(-distance / reach); with `cues` (B, C + 3, H, W): and the far nearness
    and the page's L at that hint (zero with no hint). See the module. No weights."""

    def __init__(
        self,
        edge_cost: float = EDGE_COST,
        reach: float = REACH,
        rounds: int = GEODESIC_ROUNDS,
        cues: bool = False,
    ):
        super().__init__()
        self.edge_cost, self.reach, self.rounds, self.cues = edge_cost, reach, rounds, cues

    @torch.no_grad()
    def forward(
        self, lightness: torch.Tensor, color: torch.Tensor, mask: torch.Tensor
    ) -> torch.Tensor:
        lightness, color = lightness.float(), color.float()
        distance = torch.where(mask > 0, 0.0, _FAR).float()
        # What each pixel takes from its nearest hint: the colour, and with cues the page's L there
        payload = torch.cat([color, lightness], dim=1) if self.cues else color
        for _ in range(self.rounds):
            for dim in (-1, -2):  # along rows, then along columns
                for reverse in (False, True):
                    distance, payload = _sweep(
                        lightness, distance, payload, dim, reverse, self.edge_cost
                    )
        carried = payload * (distance < _FAR / 2).float()  # zero where no hint reaches
        nearness = torch.exp(-distance / self.reach)
        if not self.cues:
            return torch.cat([carried, nearness], dim=1)
        color, page_at_hint = carried.split([color.shape[1], 1], dim=1)
        return torch.cat([color, nearness, torch.exp(-distance / FAR_REACH), page_at_hint], dim=1)


def _sweep(
    lightness: torch.Tensor,
    distance: torch.Tensor,
    color: torch.Tensor,
    dim: int,
    reverse: bool,
    edge_cost: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One directional pass: each pixel's distance becomes the least of its own and any earlier
    pixel's along `dim` (later, with reverse) plus the path's cost, its colour that pixel's."""
    if reverse:
        lightness, distance, color = (t.flip(dim) for t in (lightness, distance, color))
    steps = 1.0 + edge_cost * (lightness - _shifted(lightness, 1, dim, 0.0)).abs()
    cumulative = steps.cumsum(dim) - steps.narrow(dim, 0, 1)  # the first pixel has no step before
    best, carried = _running_min(distance - cumulative, color, dim)
    reached = best + cumulative
    nearer = reached < distance
    distance = torch.where(nearer, reached, distance)
    color = torch.where(nearer, carried, color)
    if reverse:
        distance, color = distance.flip(dim), color.flip(dim)
    return distance, color


def _running_min(
    values: torch.Tensor, payload: torch.Tensor, dim: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """The running minimum of values (B, 1, H, W) along `dim` and the payload (B, C, H, W) where
    it was found. A doubling scan of shifts and minima, not torch.cummin: ONNX has no cumulative
    minimum, and the same code must run in the exported model. Tracing (export) takes the steps
    for the longest side _LONGEST allows; beyond the side's length a step changes nothing."""
    length = values.shape[dim]
    longest = _LONGEST if torch.compiler.is_compiling() else length
    shift = 1
    while shift < longest:
        earlier = _shifted(values, shift, dim, _FAR * 4)
        better = earlier < values
        values = torch.where(better, earlier, values)
        payload = torch.where(better, _shifted(payload, shift, dim, 0.0), payload)
        shift *= 2
    return values, payload


def _shifted(tensor: torch.Tensor, shift: int, dim: int, fill: float) -> torch.Tensor:
    """tensor moved `shift` places along dim (-1 or -2) towards the end, `fill` coming in."""
    length = tensor.shape[dim]
    padding = (shift, 0) if dim == -1 else (0, 0, shift, 0)
    return F.pad(tensor, padding, value=fill).narrow(dim, 0, length)
