"""Colour whole pages of any size with a trained generator, composed with the scan as `compose`
says.

A page is coloured in four steps:
1. its lightness L is taken at full resolution (a colour page is reduced to its L);
2. L is resized to a working resolution (by default the training size on the shorter side, aspect
   kept), so the network sees drawings at the scale it learnt them; `short_side=None` works at the
   page's own size instead;
3. the network predicts (ab, or L, a and b for a full-colour generator) on tiles of the working L,
   reflect-padded to a multiple of `generator.multiple` (the padding is cropped away afterwards):
   an axis that fits is one tile; a longer axis (a webtoon strip) is cut into overlapping tiles
   whose predictions are blended with raised-cosine weights, so no seam shows where one tile
   hands over to the next (`mangacolor.inference.tiles`);
   A generator that takes colour hints (`generator.hints`) gets them beside L: each page's hints, in
   its own pixels, are rasterised at the working size (`PageHints.raster`), joined to L as
   `hint_input(L, color, mask)` and cut into the same tiles, so each tile of a tall strip gets the
   hints that fall in it; a page without hints gets empty maps (it is coloured automatically);
4. the prediction is enlarged to the page's size (bilinearly, or with `upsample="guided"` by joint
   bilateral upsampling guided by the page's own L, so colour stops at the lines:
   `mangacolor.inference.guided_upsample`) and composed with the page at full resolution
   (`mangacolor.inference.compose`): `lightness` recombines predicted ab with the page's own L, so
   line art and lettering stay exactly as sharp as the scan (where a colour falls outside sRGB,
   clipping would change L, so such a pixel gives up chroma instead); `ink` lays the predicted
   colour under the page's ink; `predicted` is the prediction alone; `auto` chooses per page.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from mangacolor.color import (
    rgb_to_scaled_lab,
    uint8_to_unit,
    unit_to_uint8,
)
from mangacolor.hints.marks import PageHints
from mangacolor.hints.raster import hint_input, no_hints
from mangacolor.inference.compose import (
    AUTO,
    CHROMA_RULE,
    INK,
    LIGHTNESS,
    PREDICTED,
    check_compose,
    choose,
    color_under_ink,
    compose_ink,
    compose_lightness,
    compose_predicted,
    descreen,
    is_chroma,
)
from mangacolor.inference.generator_file import predicted_channels, takes_hints
from mangacolor.inference.guided_upsample import check_upsample, guided_upsample
from mangacolor.inference.prediction import predict
from mangacolor.inference.tiles import AxisTiles, blend_tiles, cut_tiles, plan_tiles
from mangacolor.runtime.devices import resolve_precision


def working_size(height: int, width: int, short_side: int) -> tuple[int, int]:
    """(height, width) scaled so the shorter side is `short_side`, aspect kept."""
    scale = short_side / min(height, width)
    return max(1, round(height * scale)), max(1, round(width * scale))


def generator_predicts(generator: nn.Module) -> str:
    """What the generator predicts, "ab" or "lab": as `load_generator` recorded it, else from the
    network's output channels; a stand-in module with neither predicts ab."""
    predicts = getattr(generator, "predicts", None)
    if predicts is None and hasattr(generator, "out_channels"):
        predicts = predicted_channels(generator)
    return predicts or "ab"


@dataclass
class ColoredPage:
    """One page as colourised: what is written, and the predicted ab it was composed with (what
    ab_l1 scores)."""

    rgb: torch.Tensor  # (1, 3, H, W) in [0, 1], float32, on the colorizer's device
    ab: torch.Tensor  # (1, 2, H, W) predicted scaled ab (times `chroma`), enlarged to the page
    compose: str  # the mode used: lightness | ink | predicted


class PageColorizer:
    """Colours batches of uint8 RGB pages of any sizes with one generator.

    short_side: working resolution (shorter side, pixels); None predicts at each page's own size.
    tile / overlap: longest tile side and the blend width, in working pixels; `tile` is rounded down
    to a multiple of the generator's (at least one multiple).
    batch_size: tiles per forward pass; tiles of the same shape, from any pages, share a batch.
    precision: as Lightning names it; "auto" is bf16-mixed on a GPU that supports it, else 32-true.
    compose: auto | lightness | ink | predicted (see `mangacolor.inference.compose`); ink and
    predicted need a full-colour generator (ValueError otherwise).
    descreen: the coarsest screentone period to smooth into tone before composing, in page pixels;
    0 leaves the page as it is.
    chroma: colour strength, the predicted chroma (a and b) times this before composing, lightness
    and hue kept: 1 as predicted, 0 no colour at all, above 1 bolder.
    upsample: how the prediction is enlarged to the page: "bilinear" (as always), or "guided" by
    the page's own lightness so colour stops at the lines (`mangacolor.inference.guided_upsample`).
    `composed` counts the pages coloured in each mode.
    Hints (`color`, `color_lightness`, `predict_pages_ab`): one `PageHints` or None per page, in
    the page's own pixels; None (or no list) colours a page automatically. Hints for a generator
    without hint inputs raise ValueError.
    """

    def __init__(
        self,
        generator: nn.Module,
        short_side: int | None,
        tile: int = 1024,
        tile_overlap: int = 256,
        batch_size: int = 4,
        device: torch.device | str = "cpu",
        precision: str = "auto",
        compose: str = AUTO,
        descreen: int = 0,
        chroma: float = 1.0,
        upsample: str = "bilinear",
    ):
        self.device = torch.device(device)
        self.generator = generator.eval().to(self.device)
        self.multiple = int(generator.multiple)
        self.short_side = short_side
        self.tile = max(self.multiple, tile // self.multiple * self.multiple)
        if not 0 <= tile_overlap < self.tile:
            raise ValueError(
                f"tile overlap must be in [0, {self.tile}) for tiles of {self.tile}, got "
                f"{tile_overlap}"
            )
        self.tile_overlap = tile_overlap
        self.batch_size = batch_size
        self.precision = resolve_precision(precision, self.device)
        self.predicts = generator_predicts(generator)
        self.hints = takes_hints(generator)
        check_compose(compose, self.predicts)
        if descreen < 0:
            raise ValueError(
                f"descreen must be 0 (off) or a screen period in pixels, got {descreen}"
            )
        if not is_chroma(chroma):
            raise ValueError(f"chroma must be {CHROMA_RULE}, got {chroma}")
        self.compose, self.descreen, self.chroma = compose, int(descreen), float(chroma)
        self.upsample = check_upsample(upsample)
        self.composed: Counter[str] = Counter()

    @torch.inference_mode()
    def color(
        self, pages: list[torch.Tensor], hints: list[PageHints | None] | None = None
    ) -> list[torch.Tensor]:
        """uint8 RGB pages (3, H, W) -> coloured uint8 RGB pages (3, H, W) on the CPU, same
        sizes."""
        lightness = [
            rgb_to_scaled_lab(uint8_to_unit(page.to(self.device))[None])[0] for page in pages
        ]
        return [unit_to_uint8(page.rgb)[0].cpu() for page in self.color_lightness(lightness, hints)]

    @torch.inference_mode()
    def color_lightness(
        self, lightness: list[torch.Tensor], hints: list[PageHints | None] | None = None
    ) -> list[ColoredPage]:
        """Full-resolution scaled L (1, 1, H, W) per page -> each page coloured and composed.

        `color` writes exactly these RGB values (rounded to uint8); mangacolor-eval's page mode
        scores them.
        """
        hints = self._check_hints(hints, len(lightness))
        working = [self._to_working(page_l) for page_l in lightness]
        inputs = self._with_hints(lightness, working, hints)
        colored = []
        modes: dict[
            int, str
        ] = {}  # one choice per page: eval's hint sweep passes one page many times
        for full, work, prediction in zip(
            lightness, working, self._predict_working(inputs), strict=True
        ):
            prediction = self._strength(prediction)
            if id(full) not in modes:
                modes[id(full)] = choose(self.compose, self.predicts, full)
            mode = modes[id(full)]
            ab = self._enlarge(prediction[:, -2:], work, full)
            page = descreen(full, self.descreen) if self.descreen and mode != PREDICTED else full
            if mode == LIGHTNESS:
                rgb = compose_lightness(page, ab)
            elif mode == INK:
                rgb = compose_ink(
                    self._enlarge(color_under_ink(prediction, work), work, full), page
                )
            else:
                rgb = compose_predicted(self._enlarge(prediction, work, full))
            self.composed[mode] += 1
            colored.append(ColoredPage(rgb, ab, mode))
        return colored

    def _strength(self, prediction: torch.Tensor) -> torch.Tensor:
        """The prediction with its a and b (the last two channels) times `chroma`."""
        if self.chroma == 1.0:
            return prediction
        return torch.cat([prediction[:, :-2], prediction[:, -2:] * self.chroma], dim=1)

    @torch.inference_mode()
    def predict_pages_ab(
        self, lightness: list[torch.Tensor], hints: list[PageHints | None] | None = None
    ) -> list[torch.Tensor]:
        """Full-resolution scaled L (1, 1, H, W) per page -> predicted scaled ab (1, 2, H, W) per
        page."""
        hints = self._check_hints(hints, len(lightness))
        working = [self._to_working(page_l) for page_l in lightness]
        predictions = self._predict_working(self._with_hints(lightness, working, hints))
        return [
            self._enlarge(p[:, -2:], work, full)
            for p, work, full in zip(predictions, working, lightness, strict=True)
        ]

    def _check_hints(
        self, hints: list[PageHints | None] | None, pages: int
    ) -> list[PageHints | None]:
        """One entry per page (None: automatic); hints for a generator without hint inputs are
        refused."""
        if hints is None:
            return [None] * pages
        hints = list(hints)
        if len(hints) != pages:
            raise ValueError(
                f"hints for {len(hints)} pages given with {pages} pages: one entry (or None) a page"
            )
        if not self.hints and any(page_hints for page_hints in hints if page_hints is not None):
            raise ValueError(
                "this generator takes no hints (it was trained without hint inputs); "
                "colour its pages without hints, or use a generator trained with "
                "model.hints"
            )
        return hints

    def _with_hints(
        self,
        lightness: list[torch.Tensor],
        working: list[torch.Tensor],
        hints: list[PageHints | None],
    ) -> list[torch.Tensor]:
        """The generator's input per page at the working size: L alone for a generator without hint
        inputs (as before hints), else `hint_input(L, color, mask)` with each page's hints
        rasterised from its own pixels (empty maps for a page without any)."""
        if not self.hints:
            return working
        inputs = []
        for full, work, page_hints in zip(lightness, working, hints, strict=True):
            size = tuple(work.shape[-2:])
            if page_hints:
                page_size = tuple(full.shape[-2:])
                color, mask = page_hints.raster(page_size, size, self.predicts, self.device)
            else:
                color, mask = no_hints(1, *size, self.predicts, self.device)
            inputs.append(hint_input(work, color, mask))
        return inputs

    def _predict_working(self, working: list[torch.Tensor]) -> list[torch.Tensor]:
        """Working-size generator inputs (1, Cin, h, w) per page (scaled L, with the hint maps for a
        hint generator) -> the generator's output (1, C, h, w) per page.

        The tiles of all the pages are predicted together, so pages (or strips) that share a
        working size share forward passes.
        """
        plans = [self._plan(page_l) for page_l in working]
        tiles = [self._cut_tiles(page_l, plan) for page_l, plan in zip(working, plans, strict=True)]
        predictions = iter(self._predict_tiles([tile for page in tiles for tile in page]))
        return [
            self._blend([next(predictions) for _ in page], plan)
            for page, plan in zip(tiles, plans, strict=True)
        ]

    def _to_working(self, lightness: torch.Tensor) -> torch.Tensor:
        if self.short_side is None:
            return lightness
        height, width = lightness.shape[-2:]
        return self._resize(lightness, working_size(height, width, self.short_side))

    def _enlarge(
        self, prediction: torch.Tensor, working: torch.Tensor, full: torch.Tensor
    ) -> torch.Tensor:
        """A prediction at the working size (1, C, h, w) -> the page's size, as `upsample` says;
        `working` is the L the network saw, `full` the page's L."""
        if self.upsample == "guided":
            return guided_upsample(prediction, working, full)
        return self._resize(prediction, full.shape[-2:])

    @staticmethod
    def _resize(image: torch.Tensor, size) -> torch.Tensor:
        size = tuple(size)
        if tuple(image.shape[-2:]) == size:
            return image
        # Antialias only when shrinking (aspect is kept, so both sides go the same way); when
        # enlarging it changes nothing and costs time.
        shrinking = size[0] < image.shape[-2]
        return F.interpolate(
            image, size=size, mode="bilinear", align_corners=False, antialias=shrinking
        )

    def _plan(self, lightness: torch.Tensor) -> tuple[AxisTiles, AxisTiles]:
        return plan_tiles(lightness, self.tile, self.tile_overlap, self.multiple)

    def _cut_tiles(
        self, lightness: torch.Tensor, plan: tuple[AxisTiles, AxisTiles]
    ) -> list[torch.Tensor]:
        return cut_tiles(lightness, plan, self.multiple)

    def _blend(
        self, predictions: list[torch.Tensor], plan: tuple[AxisTiles, AxisTiles]
    ) -> torch.Tensor:
        """Tile predictions (in `_cut_tiles` order) -> one image, blended and cropped to the
        page."""
        return blend_tiles(predictions, plan, self.tile_overlap, self.device)

    def _predict_tiles(self, tiles: list[torch.Tensor]) -> list[torch.Tensor]:
        """Tiles (1, Cin, h, w) of any shapes -> the output (1, C, h, w) in float32, same-shape
        tiles batched."""
        by_shape: dict[tuple[int, int], list[int]] = defaultdict(list)
        for index, tile in enumerate(tiles):
            by_shape[tuple(tile.shape[-2:])].append(index)
        results: list[torch.Tensor | None] = [None] * len(tiles)
        for indices in by_shape.values():
            for first in range(0, len(indices), self.batch_size):
                chunk = indices[first : first + self.batch_size]
                output = predict(
                    self.generator, torch.cat([tiles[i] for i in chunk]), self.precision
                )
                for i, prediction in zip(chunk, output.split(1), strict=True):
                    results[i] = prediction
        return results
