"""Colour hints a user might give, simulated from the true colour window: the generator's hint
inputs.

A user colouring a page drops a few dots (or short strokes) of colour where they know it: "this
shirt is this blue", "this stays white". From a batch of true colour windows at the training size
this module draws such hints and paints them with the one rasteriser (`mangacolor.hints.raster`),
as (color, mask) in the generator's output space: scaled ab for "ab" generators, scaled L, a, b for
"lab" ones; mask exactly 0 or 1. conf/data/pages.yaml's `hints` gives the ranges and their sources
(../shared/docs/hints.md):

- a share of the images gets no hint at all, so one model also colours automatically;
- the others get a count drawn from Zhang et al. 2017's geometric distribution given at least one
  hint, capped, or, for a share of them, a dense count uniform between `dense_from` and the cap
  (PaintsChainer's split: as many images with 16 hints or more as with 2 to 15), so the network
  meets the dense dots eval's 20 and 50 and a patient user give;
- each hint is a square of a side drawn in pixels of a page scanned at `data.printing`'s
  scan_short_side, scaled to the window's page and shrink like the print styles' features, never
  under one working pixel;
- most lie where the truth has colour (chroma above a threshold), the rest on neutral pixels
  (paper, grey, ink: "keep this white"), but only in a share of the images: the others' lie on
  colour alone, as eval's and most users' do, so that dots all on colour do not tell the network
  that a page has no paper;
- a share are short strokes: a few squares along a random walk, ended where the truth's colour
  departs from the stroke's (a user keeps a stroke inside one region) or at the window's edge;
- the colour is the truth's mean over the square, picked a little off the square (AlacGAN's shifted
  crop) and with a little noise: users never pick the exact truth.

Randomness: every draw comes from the caller's `torch.Generator` on the windows' device, in a fixed
order and with fixed shapes whatever the settings, so the hints are a function of (generator seed,
windows, scales). Training seeds it from (seed, rank, batch) (`runtime.seeding.HINTS_STREAM`);
validation from the page's key (`hints_page_seed`). Batched: no Python loop over images or squares,
and no host sync.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass

import torch

from mangacolor.color import AB_SCALE, L_SCALE, rgb_to_scaled_lab
from mangacolor.data.print_renderers import Draw
from mangacolor.data.print_settings import chance_field, settings_section, span_field
from mangacolor.data.print_styles import page_seed
from mangacolor.hints.raster import HINT_COLOR_CHANNELS, no_hints, paint_squares
from mangacolor.runtime.config_errors import require

Span = tuple[float, float]


@dataclass(frozen=True)
class HintSimulationSettings:
    """Defaults are conf/data/pages.yaml's `hints` (tests/data/test_hint_simulation.py keeps them
    equal); lengths in pixels of a page scanned at `data.printing.scan_short_side`."""

    enabled: bool = False
    predicts: str = "ab"  # the generator's output space, which the hint colour is given in
    none: float = chance_field(0.4)  # share of images without any hint
    mean_count: float = dataclasses.field(default=8.0, metadata={"low": 1.0, "high": 1024.0})
    most: int = 64  # cap on the hints of one image
    dense: float = chance_field(0.5)  # share of hinted images with a dense count
    dense_from: int = 16  # a dense count is uniform in [dense_from, most]
    size: Span = span_field((1.0, 27.0), 0.01)  # side of a hint's square, px at scan size
    neutral: float = chance_field(
        0.2
    )  # share of hints placed on neutral pixels rather than on colour
    # share of hinted images whose hints may lie on neutral pixels at all (the others' all on
    # colour, as eval's and most users' are); 1.0 gives every image its `neutral` share
    neutral_images: float = chance_field(0.25)
    chroma: float = dataclasses.field(default=10.0, metadata={"low": 0.0, "high": 150.0})
    strokes: float = chance_field(0.25)  # share of hints that are strokes rather than dots
    stroke_squares: tuple[int, int] = span_field((3, 8), 2, 64, whole=True)
    stroke_turn: float = dataclasses.field(default=30.0, metadata={"low": 0.0, "high": 180.0})
    stroke_tolerance: float = dataclasses.field(default=10.0, metadata={"low": 0.0, "high": 400.0})
    misplacement: float = dataclasses.field(default=1.0, metadata={"low": 0.0, "high": 16.0})
    lightness_noise: float = dataclasses.field(default=2.0, metadata={"low": 0.0, "high": 100.0})
    ab_noise: float = dataclasses.field(default=3.0, metadata={"low": 0.0, "high": 110.0})
    # Validation pages get exactly this many hints each (their draw fixed per page), so training
    # validation reports the colouring at 0 hints and at this count (issue 22: 0 and 10).
    val_count: int = 10

    @classmethod
    def from_config(
        cls, config: Mapping | None, name: str = "data.hints"
    ) -> HintSimulationSettings:
        """Settings from a (partial) mapping such as the config's `data.hints`; what it leaves out
        keeps its default; None is hints off. A wrong key or value raises ConfigError naming it."""
        if config is None:
            return cls()
        require(isinstance(config, Mapping), f"{name} must be a mapping, got {config!r}")
        values = dict(config)
        special = {}
        if "enabled" in values:
            enabled = values.pop("enabled")
            require(
                isinstance(enabled, bool), f"{name}.enabled must be true or false, got {enabled!r}"
            )
            special["enabled"] = enabled
        if "predicts" in values:
            predicts = values.pop("predicts")
            # It follows model.predicts, which the model checks itself: named here only when the
            # simulation is on and needs it.
            if special.get("enabled", False):
                require(
                    predicts in HINT_COLOR_CHANNELS,
                    f"{name}.predicts (it follows model.predicts) must be one of "
                    f"{', '.join(HINT_COLOR_CHANNELS)}, got {predicts!r}",
                )
                special["predicts"] = predicts
        # whole numbers, which the shared checks read as floats
        for key in ("most", "val_count", "dense_from"):
            if key in values:
                value = values.pop(key)
                require(
                    isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 1024,
                    f"{name}.{key} must be a whole number in [1, 1024], got {value!r}",
                )
                special[key] = value
        # The bounded numbers and ranges are checked as data.printing's are.
        settings = dataclasses.replace(settings_section(cls, values, name), **special)
        require(
            settings.mean_count <= settings.most,
            f"{name}.mean_count ({settings.mean_count}) must not exceed {name}.most "
            f"({settings.most})",
        )
        require(
            settings.dense_from <= settings.most,
            f"{name}.dense_from ({settings.dense_from}) must not exceed {name}.most "
            f"({settings.most})",
        )
        require(
            settings.val_count <= settings.most,
            f"{name}.val_count ({settings.val_count}) must not exceed {name}.most "
            f"({settings.most})",
        )
        return settings

    @property
    def continuation(self) -> float:
        """Zhang's geometric count: after each hint, another follows with this probability, so a
        hinted image holds `mean_count` hints on average before the cap."""
        return (self.mean_count - 1.0) / self.mean_count

    def expected_count(self) -> float:
        """The mean count of a hinted image, the cap `most` and the dense share included."""
        r = self.continuation
        sparse = float(self.most) if r >= 1.0 else (1.0 - r**self.most) / (1.0 - r)
        return (1.0 - self.dense) * sparse + self.dense * (self.dense_from + self.most) / 2.0


def hints_page_seed(key: str) -> int:
    """A validation page's hint draw from its key: its own, unrelated to its print draw's."""
    return page_seed(f"hints:{key}")


def hint_scales(
    short_sides: torch.Tensor, window_sides: torch.Tensor, size: int, scan_short_side: float
) -> torch.Tensor:
    """Working pixels per pixel at scan size, (B,): the page's scale (as the print styles scale
    their features) times the window's shrink to the training size."""
    return short_sides.to(torch.float32) / scan_short_side * size / window_sides.to(torch.float32)


def largest_hint_scale(
    padded_short_side: int, window: int, size: int, scan_short_side: float
) -> float:
    """A bound on `hint_scales` known on the host: a page's short side is at most the padded
    batch's, its window side min(window, short side)."""
    return max(size / scan_short_side, padded_short_side * size / (scan_short_side * window))


# ---- the draw ------------------------------------------------------------------------------------
@dataclass
class _Hints:
    """One draw: for each image b, hint n and stroke square k (B, N, K)."""

    rows: torch.Tensor  # top row of each square, long
    cols: torch.Tensor  # left column, long
    sides: torch.Tensor  # (B, N) side in working pixels, long
    active: torch.Tensor  # (B, N, K) bool: the square is painted
    color: torch.Tensor  # (B, N, 3) scaled L, a, b of each hint


def simulate_hints(
    rgb: torch.Tensor,
    scales: torch.Tensor,
    largest_scale: float,
    generator: torch.Generator,
    settings: HintSimulationSettings,
    counts: torch.Tensor | None = None,
    lab: torch.Tensor | None = None,
    valid: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """True colour windows (B, 3, H, W), RGB in [0, 1] -> (color (B, C, H, W), mask (B, 1, H, W))
    in `settings.predicts`' space (C = 2 for ab, 3 for lab), float32, at the windows' size: the
    training size, or the pages' own resolution (`window_inputs.native_hints`, which then shrinks
    them as the rasteriser shrinks a painted layer).

    scales: (B,) working pixels per pixel at scan size (`hint_scales`); largest_scale: a bound on
    them known on the host (`largest_hint_scale`); counts: (B,) hints per image instead of drawn
    ones (for validation at a fixed count), the rest of the draw unchanged; lab: the windows' scaled
    L, a, b (B, 3, H, W) where the caller has them (the Lab conversion is most of the cost on a
    CPU); valid: (B,) long, window b lies in its top-left valid[b] x valid[b] pixels (native
    windows of smaller pages), and every hint is drawn inside it; None: the whole image.
    """
    if lab is None:
        lab = torch.cat(rgb_to_scaled_lab(rgb), dim=1)
    draw = Draw(generator, rgb.device)
    height, width = rgb.shape[-2:]
    largest_side = min(max(1, round(settings.size[1] * largest_scale)), height, width)
    hints = draw_hints(lab.float(), scales, largest_side, draw, settings, counts, valid)
    channels = HINT_COLOR_CHANNELS[settings.predicts]
    color, mask = no_hints(rgb.shape[0], height, width, settings.predicts, rgb.device)
    batch, most, squares = hints.active.shape
    # Every square, dots' unused stroke squares and hints past an image's count included, so the
    # shapes stay fixed (no wait for the device): an unpainted square gets a side of 0.
    sides = (hints.sides[..., None] * hints.active).reshape(-1)
    image = torch.arange(batch, device=rgb.device).repeat_interleave(most * squares)
    values = hints.color[:, :, None, -channels:].expand(
        -1, -1, squares, -1
    )  # ab: the last two of L, a, b
    paint_squares(
        color,
        mask,
        image,
        hints.rows.reshape(-1),
        hints.cols.reshape(-1),
        sides,
        sides,
        values.reshape(-1, channels),
        max_side=largest_side,
    )
    return color, mask


def draw_hints(
    lab: torch.Tensor,
    scales: torch.Tensor,
    largest_side: int,
    draw: Draw,
    settings: HintSimulationSettings,
    counts: torch.Tensor | None = None,
    valid: torch.Tensor | None = None,
) -> _Hints:
    """The hints of windows `lab` (B, 3, H, W) in scaled Lab: every number drawn, in a fixed
    order; inside each window's valid[b] x valid[b] top-left pixels where `valid` is given."""
    batch, _, height, width = lab.shape
    if valid is not None:  # per image, broadcast over (B, N, K)
        height = width = valid.view(batch, 1, 1)
    most, squares = settings.most, settings.stroke_squares[1]
    hinted = draw.chance(1.0 - settings.none, batch)
    drawn = _geometric_counts(draw.uniform((0.0, 1.0), batch), settings)
    on_neutral = draw.chance(settings.neutral, batch, most)
    where = draw.uniform((0.0, 1.0), batch, most)
    side = draw.uniform(settings.size, batch, most) * scales[:, None]
    stroke = draw.chance(settings.strokes, batch, most)
    length = draw.whole(settings.stroke_squares, batch, most)
    heading = draw.uniform((0.0, 2.0 * math.pi), batch, most, 1)
    turn = math.radians(settings.stroke_turn)
    turns = draw.uniform((-turn, turn), batch, most, squares - 1)
    shift = draw.uniform((-settings.misplacement, settings.misplacement), batch, most, 2)
    noise = draw.uniform((-1.0, 1.0), batch, most, 3)
    # Drawn last, so the draws before them are what they were before dense counts existed.
    dense = draw.chance(settings.dense, batch)
    dense_counts = draw.whole((settings.dense_from, most), batch).long()
    # Drawn after those, so with neutral_images 1 every draw is what it was before the option.
    on_neutral = on_neutral & draw.chance(settings.neutral_images, batch)[:, None]
    if counts is None:
        counts = torch.where(
            hinted, torch.where(dense, dense_counts, drawn), torch.zeros_like(drawn)
        )

    sides = side.round().clamp(1, largest_side).long()
    centre = _positions(lab, where, on_neutral, settings.chroma, valid)  # (B, N, 2) row, column
    # Each stroke square one side further along a heading that wanders by up to stroke_turn a step.
    angles = torch.cat([heading, heading + turns.cumsum(-1)], dim=-1)[..., :-1]  # (B, N, K - 1)
    steps = torch.stack([angles.sin(), angles.cos()], dim=-1) * sides[..., None, None]
    steps = torch.cat([torch.zeros_like(steps[:, :, :1]), steps], dim=2)
    path = centre[:, :, None, :].float() + steps.cumsum(2)  # (B, N, K, 2)
    inside = (
        (path[..., 0] >= 0) & (path[..., 0] < height) & (path[..., 1] >= 0) & (path[..., 1] < width)
    )
    rows, cols = _top_left(path.round().long(), sides[..., None], height, width)
    means = _square_means(
        lab, rows, cols, sides[..., None].expand_as(rows), largest_side
    )  # (B, N, K, 3)
    # A stroke ends where its square's colour departs from its first square's, or leaves the window.
    same = _lab_distance(means, means[:, :, :1]) <= settings.stroke_tolerance
    k = torch.arange(squares, device=lab.device)
    keeps = (same & inside).long().cumprod(-1).bool()
    active = (k == 0) | (stroke[..., None] & (k < length[..., None]) & keeps)
    active = active & (torch.arange(most, device=lab.device) < counts[:, None])[..., None]

    color = _picked_colors(lab, centre, sides, shift, noise, largest_side, settings, valid)
    return _Hints(rows, cols, sides, active, color)


def _picked_colors(
    lab: torch.Tensor,
    centre: torch.Tensor,
    sides: torch.Tensor,
    shift: torch.Tensor,
    noise: torch.Tensor,
    largest_side: int,
    settings: HintSimulationSettings,
    valid: torch.Tensor | None = None,
) -> torch.Tensor:
    """(B, N, 3) scaled Lab: each hint's colour from the numbers `draw_hints` drew for it."""
    batch, _, height, width = lab.shape
    if valid is not None:
        height = width = valid.view(batch, 1)
    # The colour a user picks: the truth's mean over a square a little off the first one, plus
    # noise.
    offset = (shift * sides[..., None]).round().long()
    picked_rows, picked_cols = _top_left(centre + offset, sides, height, width)
    color = _square_means(
        lab, picked_rows[..., None], picked_cols[..., None], sides[..., None], largest_side
    )[:, :, 0]
    noise = torch.cat(
        [
            noise[..., :1] * (settings.lightness_noise / L_SCALE),
            noise[..., 1:] * (settings.ab_noise / AB_SCALE),
        ],
        dim=-1,
    )
    return (color + noise).clamp(-1.0, 1.0)


def _geometric_counts(u: torch.Tensor, settings: HintSimulationSettings) -> torch.Tensor:
    """1 + a geometric number (Zhang's: another hint follows with probability `continuation`),
    capped at `most`, by inverting its distribution: P(count > k) = continuation ** k."""
    r = settings.continuation
    if r <= 0.0:
        return torch.ones_like(u, dtype=torch.long)
    extra = (torch.log1p(-u) / math.log(r)).floor().clamp(0, settings.most - 1)
    return 1 + extra.long()


def _positions(
    lab: torch.Tensor,
    where: torch.Tensor,
    on_neutral: torch.Tensor,
    chroma: float,
    valid: torch.Tensor | None = None,
) -> torch.Tensor:
    """(B, N, 2) pixels, uniform among those whose chroma reaches `chroma` (or, where `on_neutral`,
    among those under it); among all pixels when an image has none of the kind. With `valid`
    (B,), only pixels of each image's top-left valid[b] x valid[b] square are drawn."""
    batch, _, height, width = lab.shape
    a, b = lab[:, 1].flatten(1), lab[:, 2].flatten(1)
    colored = torch.addcmul(a * a, b, b) >= (chroma / AB_SCALE) ** 2  # (B, HW)
    # int32 counts (a window has far fewer than 2**31 pixels): half the memory traffic of int64
    if valid is None:  # every pixel: the running count of pixels is 1, 2, ..., HW
        counted_inside = torch.arange(
            1, height * width + 1, device=lab.device, dtype=torch.int32
        ).repeat(batch, 1)  # contiguous, as searchsorted wants its boundaries
    else:
        rows = torch.arange(height, device=lab.device)[:, None] < valid.view(batch, 1, 1)
        cols = torch.arange(width, device=lab.device)[None, :] < valid.view(batch, 1, 1)
        inside = (rows & cols).flatten(1)
        colored = colored & inside
        counted_inside = inside.to(torch.int32).cumsum(1, dtype=torch.int32)
    counted_colored = colored.to(torch.int32).cumsum(1, dtype=torch.int32)
    counted_neutral = counted_inside - counted_colored
    anywhere = _pick(counted_inside, where, height * width)
    picks = []
    for counted in (counted_colored, counted_neutral):
        picks.append(
            torch.where(counted[:, -1:] > 0, _pick(counted, where, height * width), anywhere)
        )
    flat = torch.where(on_neutral, picks[1], picks[0])
    return torch.stack([flat // width, flat % width], dim=-1)


def _pick(counted: torch.Tensor, where: torch.Tensor, pixels: int) -> torch.Tensor:
    """(B, N) flat indices: the pixel at fraction `where` of each image's counted ones (counted:
    (B, HW) running counts of the candidate pixels)."""
    total = counted[:, -1:]
    target = (where * total).floor().to(torch.int32).clamp_max(total - 1).clamp_min(0)
    return torch.searchsorted(counted, target, right=True).clamp_max(pixels - 1)


def _top_left(centre: torch.Tensor, sides: torch.Tensor, height: int, width: int):
    """Top-left (row, column) of squares of `sides` centred on `centre` (..., 2), kept inside."""
    start = centre - ((sides - 1) // 2)[..., None]
    rows = torch.minimum(start[..., 0].clamp_min(0), height - sides)
    cols = torch.minimum(start[..., 1].clamp_min(0), width - sides)
    return rows, cols


def _square_means(
    lab: torch.Tensor,
    rows: torch.Tensor,
    cols: torch.Tensor,
    sides: torch.Tensor,
    largest_side: int,
) -> torch.Tensor:
    """The mean of `lab` (B, C, H, W) over each square (rows, cols, sides: (B, ...)) -> (B, ..., C):
    each square's pixels gathered from a largest_side x largest_side patch, those past its side
    weighted 0."""
    batch, channels, height, width = lab.shape
    shape = rows.shape
    offsets = torch.arange(largest_side, device=lab.device)
    rows, cols, sides = (
        rows.reshape(batch, -1, 1),
        cols.reshape(batch, -1, 1),
        sides.reshape(batch, -1, 1),
    )
    within = offsets < sides  # (B, M, P)
    patch_rows = (rows + offsets).clamp_max(height - 1)
    patch_cols = (cols + offsets).clamp_max(width - 1)
    index = patch_rows[..., :, None] * width + patch_cols[..., None, :]  # (B, M, P, P)
    weight = (within[..., :, None] & within[..., None, :]).float()
    values = lab.flatten(2).gather(2, index.flatten(1)[:, None].expand(-1, channels, -1))
    values = values.view(batch, channels, *index.shape[1:])  # (B, C, M, P, P)
    sums = (values * weight[:, None]).sum((-2, -1))
    means = sums / weight.sum((-2, -1))[:, None]
    return means.permute(0, 2, 1).reshape(*shape, channels)


def _lab_distance(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Euclidean distance (CIE76) in Lab units between scaled Lab colours (..., 3)."""
    difference = a - b  # Python numbers, not a tensor: no upload to the device per batch
    return (
        (difference[..., 0] * L_SCALE).square() + (difference[..., 1:] * AB_SCALE).square().sum(-1)
    ).sqrt()
