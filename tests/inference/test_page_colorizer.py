"""Page colouring: working size, padding, tiling and blending, lightness kept, batching."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from torch import nn

from mangacolor.color import rgb_to_scaled_lab
from mangacolor.inference.generator_file import load_generator
from mangacolor.inference.page_colorizer import PageColorizer, working_size
from mangacolor.inference.tiles import blend_ramp, plan_axis, tile_weights
from mangacolor.models.components import UNetGenerator


def tiny_generator(vivid: bool = False, seed: int = 0) -> UNetGenerator:
    """A small random U-Net; `vivid` scales its head so it predicts strong, often out-of-gamut
    colour."""
    torch.manual_seed(seed)
    generator = UNetGenerator(depth=4, width=8, max_width=16)
    if vivid:
        with torch.no_grad():
            generator.head[0].weight.mul_(100.0)
            generator.head[0].bias.fill_(0.3)
    return generator.eval()


def random_page(height: int, width: int, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (3, height, width), dtype=torch.uint8, generator=generator)


def lab_lightness(page: torch.Tensor) -> torch.Tensor:
    return (rgb_to_scaled_lab(page[None].float() / 255)[0] + 1) * 50


class TileConstant(nn.Module):
    """Worst case for seams: each tile gets one flat colour, its mean lightness, unlike its
    neighbours'."""

    multiple = 16

    def __init__(self):
        super().__init__()
        self.calls: list[tuple[int, ...]] = []

    def forward(self, lightness: torch.Tensor) -> torch.Tensor:
        self.calls.append(tuple(lightness.shape))
        mean = lightness.mean(dim=(1, 2, 3), keepdim=True)
        return mean.expand(-1, 2, *lightness.shape[-2:]).clone()


def test_working_size_puts_the_training_size_on_the_shorter_side():
    assert working_size(1152, 800, 256) == (369, 256)
    assert working_size(800, 12000, 256) == (256, 3840)
    assert working_size(7, 5, 256) == (358, 256)


def test_an_axis_that_fits_is_one_tile_padded_to_the_multiple():
    axis = plan_axis(37, tile=64, tile_overlap=16, multiple=16)
    assert (axis.padded, axis.length, axis.starts) == (48, 48, (0,))


@pytest.mark.parametrize("size", [65, 100, 300, 1000, 1777])
def test_a_long_axis_is_covered_by_tiles_overlapping_by_at_least_the_overlap(size):
    axis = plan_axis(size, tile=64, tile_overlap=16, multiple=16)
    assert axis.padded == -(-size // 16) * 16 and axis.length == 64 and axis.starts[0] == 0
    assert axis.starts[-1] + axis.length == axis.padded
    assert all(b - a <= 64 - 16 for a, b in zip(axis.starts, axis.starts[1:], strict=False))


def test_the_cosine_ramp_is_a_partition_of_unity():
    ramp = blend_ramp(16)
    assert torch.allclose(ramp + ramp.flip(0), torch.ones(16))
    assert ramp.min() > 0 and ramp.max() < 1


def test_tile_weights_fade_only_at_shared_edges_and_cover_every_pixel():
    axis = plan_axis(300, tile=64, tile_overlap=16, multiple=16)
    weights = tile_weights(axis, 16)
    total = torch.zeros(axis.padded)
    for start, weight in zip(axis.starts, weights, strict=True):
        total[start : start + axis.length] += weight
    assert weights[0][0] == 1 and weights[-1][-1] == 1  # the strip's own ends are not faded
    assert weights[0][-1] < 0.01 and weights[1][0] < 0.01
    assert total.min() > 0.99


@pytest.mark.parametrize("short_side", [16, None])
def test_pages_of_odd_sizes_come_back_at_their_size_with_their_lightness(short_side):
    colorizer = PageColorizer(
        tiny_generator(vivid=True), short_side=short_side, tile=64, tile_overlap=16
    )
    pages = [
        random_page(37, 23, 1),
        random_page(7, 5, 2),
        random_page(1, 1, 3),
        random_page(90, 31, 4),
    ]
    colored = colorizer.color(pages)
    for page, result in zip(pages, colored, strict=True):
        assert result.shape == page.shape and result.dtype == torch.uint8
        assert (lab_lightness(result) - lab_lightness(page)).abs().max() < 1.0
    assert any(rgb_to_scaled_lab(r[None].float() / 255)[1].abs().max() > 0.2 for r in colored)


def test_a_tall_strip_blends_even_disagreeing_tiles_without_a_step():
    generator = TileConstant()
    colorizer = PageColorizer(generator, short_side=None, tile=64, tile_overlap=32)
    ramp = torch.linspace(-1, 1, 1000).view(1, 1, 1000, 1).expand(1, 1, 1000, 40).contiguous()
    ab = colorizer.predict_pages_ab([ramp])[0][0, 0, :, 0]
    axis = plan_axis(1000, 64, 32, 16)
    tile_means = [float(ramp[0, 0, s : s + 64].mean()) for s in axis.starts]
    largest_jump = max(
        abs(b - a) for a, b in zip(tile_means, tile_means[1:], strict=False)
    )  # what stitching would show
    steps = (ab[1:] - ab[:-1]).abs()
    # A raised cosine over 32 pixels changes by at most pi/(2*32) of the jump per pixel.
    assert steps.max() <= largest_jump * math.pi / (2 * 32) * 1.05
    assert steps.max() < largest_jump / 10


class BlurColor(nn.Module):
    """A convolutional generator with zero padding: wrong near every tile edge, like a real U-Net's
    borders, but otherwise translation-equivariant, so an unseamed tiling must match one pass."""

    multiple = 16

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 2, 9, padding=4, bias=False)
        with torch.no_grad():
            self.conv.weight.copy_(torch.stack([torch.ones(9, 9), -torch.ones(9, 9)])[:, None] / 40)

    def forward(self, lightness: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.conv(lightness + 1.0))


@pytest.mark.parametrize("tile_overlap", [16, 32])
def test_a_tiled_strip_matches_one_pass_over_the_whole_strip(tile_overlap):
    strip = (
        torch.sin(torch.linspace(0, 20, 1500))[:, None]
        * torch.cos(torch.linspace(0, 3, 48))[None, :]
    )
    lightness = strip.view(1, 1, 1500, 48)
    whole = PageColorizer(BlurColor(), short_side=None, tile=4096).predict_pages_ab([lightness])[0]
    tiled = PageColorizer(
        BlurColor(), short_side=None, tile=128, tile_overlap=tile_overlap
    ).predict_pages_ab([lightness])[0]
    stitched = PageColorizer(
        BlurColor(), short_side=None, tile=128, tile_overlap=0
    ).predict_pages_ab([lightness])[0]
    inside = slice(8, -8)  # the strip's own ends are padded differently in one pass: not seams
    seam = (stitched - whole)[..., inside, :].abs().max()
    assert seam > 0.1  # cutting without blending shows the tile edges...
    assert (tiled - whole)[..., inside, :].abs().max() < seam / 20  # ...blending hides them

    def largest_step(ab: torch.Tensor) -> float:
        return float((ab[0, :, 1:] - ab[0, :, :-1]).abs().amax(dim=(0, 2))[inside].max())

    # Row to row, the blended strip changes hardly more than the drawing itself; a cut would not.
    assert largest_step(tiled) <= 1.5 * largest_step(whole) < largest_step(stitched)


def test_pages_sharing_a_working_size_share_a_forward_pass_and_match_one_by_one():
    generator = tiny_generator()
    calls = []
    generator.register_forward_hook(lambda module, args, output: calls.append(args[0].shape[0]))
    colorizer = PageColorizer(generator, short_side=16, tile=64, tile_overlap=16, batch_size=4)
    pages = [random_page(40, 30, i) for i in range(4)] + [random_page(30, 60, 9)]
    together = colorizer.color(pages)
    assert sorted(calls) == [1, 4]
    one_by_one = [colorizer.color([page])[0] for page in pages]
    for a, b in zip(together, one_by_one, strict=True):
        assert (a.int() - b.int()).abs().max() <= 1


def test_overlap_must_be_smaller_than_the_tile():
    with pytest.raises(ValueError, match="overlap"):
        PageColorizer(tiny_generator(), short_side=16, tile=32, tile_overlap=32)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_on_the_gpu_pages_keep_size_and_lightness_under_bf16():
    colorizer = PageColorizer(
        tiny_generator(vivid=True), short_side=16, tile=64, tile_overlap=16, device="cuda"
    )
    pages = [random_page(37, 23, 1), random_page(300, 41, 2)]
    colored = colorizer.color(pages)
    for page, result in zip(pages, colored, strict=True):
        assert result.shape == page.shape and result.device.type == "cpu"
        assert (lab_lightness(result) - lab_lightness(page)).abs().max() < 1.0


def test_blending_makes_its_weights_on_the_device_not_one_upload_per_tile(monkeypatch):
    weights = tile_weights(plan_axis(300, 64, 16, 16), 16, device="meta")
    assert len(weights) > 1 and all(weight.device.type == "meta" for weight in weights)
    colorizer = PageColorizer(TileConstant(), short_side=None, tile=64, tile_overlap=16)
    plan = colorizer._plan(torch.zeros(1, 1, 300, 100))
    predictions = [
        torch.rand(1, 2, 64, 64) for _ in range(len(plan[0].starts) * len(plan[1].starts))
    ]
    moves = []
    to = torch.Tensor.to
    monkeypatch.setattr(
        torch.Tensor,
        "to",
        lambda self, *args, **kwargs: moves.append(args) or to(self, *args, **kwargs),
    )
    ab = colorizer._blend(predictions, plan)
    assert ab.shape == (1, 2, 300, 100) and moves == []


OLD_AB_COLORIZE = Path(__file__).resolve().parents[1] / "fixtures" / "ab_colorize" / "expected.pt"


@pytest.mark.parametrize("compose", ["auto", "lightness"])
def test_an_old_ab_generator_colours_exactly_as_before(compose):
    # Pages coloured by the code before compose existed (tests/fixtures/ab_colorize/README.md).
    generator, _ = load_generator(OLD_AB_COLORIZE.parent.parent / "pre_layout_run" / "generator.pt")
    recorded = torch.load(OLD_AB_COLORIZE, weights_only=True)
    settings = recorded["settings"]
    colorizer = PageColorizer(
        generator,
        settings["short_side"],
        settings["tile"],
        settings["overlap"],
        precision="32-true",
        compose=compose,
    )
    names = list(recorded["pages"])
    colored = colorizer.color([recorded["pages"][name] for name in names])
    for name, result in zip(names, colored, strict=True):
        assert torch.equal(result, recorded["coloured"][name]), name
    assert colorizer.composed == {"lightness": len(names)}
