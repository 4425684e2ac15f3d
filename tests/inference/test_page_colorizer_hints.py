"""PageColorizer with colour hints: rasterised at the working size, cut into the same tiles as L,
empty maps for a page without hints, refused by a generator without hint inputs."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from mangacolor.hints.marks import Dot, PageHints, Stroke
from mangacolor.inference.generator_file import export_generator, load_generator
from mangacolor.inference.page_colorizer import PageColorizer
from mangacolor.models.components import UNetGenerator

TINY = dict(depth=4, width=8, max_width=16)


def random_page(height: int, width: int, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (3, height, width), dtype=torch.uint8, generator=generator)


class Echo(nn.Module):
    """A hint generator whose output is some of its input channels, so its prediction shows exactly
    what each tile was given: with `channels=(1, -1)` an ab generator's a is the hint colour's first
    channel and its b the mask."""

    multiple = 16
    hints = True

    def __init__(self, predicts: str = "ab", channels: tuple[int, ...] = (1, -1)):
        super().__init__()
        self.predicts, self.channels = predicts, channels
        self.inputs: list[tuple[int, ...]] = []

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        self.inputs.append(tuple(inputs.shape))
        picked = [inputs[:, c : c + 1] if c != -1 else inputs[:, -1:] for c in self.channels]
        return torch.cat(picked, dim=1)


def strip_lightness(height: int, width: int) -> torch.Tensor:
    return torch.linspace(-1, 1, height * width).view(1, 1, height, width)


def expected_maps(hints: PageHints, page_size, working, predicts="ab", channel=0) -> torch.Tensor:
    color, mask = hints.raster(page_size, working, predicts)
    return torch.cat([color[:, channel : channel + 1], mask], dim=1)


def test_a_tall_strip_s_tiles_get_the_hints_that_fall_in_them():
    echo = Echo()
    colorizer = PageColorizer(echo, short_side=None, tile=64, tile_overlap=32)
    strip = (600, 40)
    marks = PageHints(
        (
            Dot(5, 3, "#d9a066", 5),
            Dot(30, 300, "#3a5fcd", 9),
            Dot(20, 598, "#20c040", 3),
            Stroke(((2, 100), (38, 250)), "#c03020", 4),
        )
    )
    layer = torch.zeros(4, *strip, dtype=torch.uint8)
    layer[:, 40:60, 10:20] = torch.tensor([250, 40, 40, 255], dtype=torch.uint8)[:, None, None]
    layer[:, 500:505, 0:40] = torch.tensor([40, 40, 250, 128], dtype=torch.uint8)[:, None, None]
    hints = [marks, PageHints(layer=layer), None]
    predicted = colorizer.predict_pages_ab([strip_lightness(*strip)] * 3, hints)
    assert len(echo.inputs) > 3  # many tiles...
    assert all(shape[1] == 4 for shape in echo.inputs)  # ...of L, a, b and the mask
    for page_hints, ab in zip(hints[:2], predicted, strict=False):
        torch.testing.assert_close(ab, expected_maps(page_hints, strip, strip), rtol=0, atol=1e-6)
        assert set(ab[:, 1].unique().tolist()) == {0.0, 1.0}  # blending equal tiles keeps it 0/1
    assert not predicted[2].any()  # no hints: empty maps, automatic colouring


def test_hints_are_rasterised_from_the_page_s_pixels_at_the_working_size():
    colorizer = PageColorizer(Echo(), short_side=16, tile=32, tile_overlap=16)
    page = (64, 160)  # working 16 x 40: two tiles across
    hints = PageHints(
        (
            Dot(150, 60, "#d9a066", 3),
            Dot(2, 2, "#3a5fcd", 1),
            Stroke(((10, 30), (90, 30)), "#80ff80", 2),
        )
    )
    ab = colorizer.predict_pages_ab([strip_lightness(*page)], [hints])[0]
    expected = PageColorizer._resize(expected_maps(hints, page, (16, 40)), page)
    torch.testing.assert_close(ab, expected, rtol=0, atol=1e-6)
    working_mask = expected_maps(hints, page, (16, 40))[:, 1]
    assert working_mask[0, 15, 37] == 1 and working_mask[0, 0, 0] == 1  # each dot a whole pixel


def test_a_full_colour_hint_generator_gets_lightness_a_and_b_of_each_hint():
    echo = Echo("lab", channels=(1, 2, 3))  # its output is the hint's scaled L, a, b
    colorizer = PageColorizer(echo, short_side=None, tile=32, tile_overlap=16, compose="predicted")
    hints = PageHints((Dot(10, 10, "#ffd0d8", 5), Dot(20, 50, "#401018", 5)))
    lightness = strip_lightness(80, 30)
    predicted = colorizer.predict_pages_ab([lightness], [hints])[0]
    color, mask = hints.raster((80, 30), (80, 30), "lab")
    torch.testing.assert_close(predicted, color[:, 1:], rtol=0, atol=1e-6)
    assert all(shape[1] == 5 for shape in echo.inputs)
    assert colorizer.color_lightness([lightness], [hints])[0].rgb.shape == (1, 3, 80, 30)


@pytest.mark.parametrize("hints", [None, [None], [PageHints()]])
def test_a_hint_generator_without_hints_gets_empty_maps(hints):
    echo = Echo()
    colorizer = PageColorizer(echo, short_side=None, tile=64, tile_overlap=16)
    ab = colorizer.predict_pages_ab([strip_lightness(40, 40)], hints)
    assert echo.inputs == [(1, 4, 48, 48)] and not ab[0].any()


def test_a_generator_without_hint_inputs_refuses_hints_and_colours_as_before_without():
    torch.manual_seed(0)
    colorizer = PageColorizer(UNetGenerator(**TINY).eval(), short_side=16, tile=64, tile_overlap=16)
    page = random_page(40, 30)
    with pytest.raises(ValueError, match="this generator takes no hints"):
        colorizer.color([page], [PageHints((Dot(3, 3, "#ff0000", 3),))])
    before = colorizer.color([page])
    assert torch.equal(colorizer.color([page], [None])[0], before[0])
    # An empty hint file hints nothing: no refusal, the same colours.
    assert torch.equal(colorizer.color([page], [PageHints()])[0], before[0])
    with pytest.raises(ValueError, match="hints for 2 pages given with 1 pages"):
        colorizer.color([page], [None, None])


def test_a_trained_hint_generator_loads_and_its_hints_change_the_colours(tmp_path):
    torch.manual_seed(0)
    generator = UNetGenerator(**TINY, in_channels=4)
    generator, _ = load_generator(export_generator(generator, TINY, tmp_path / "generator.pt"))
    assert generator.hints
    colorizer = PageColorizer(
        generator, short_side=32, tile=64, tile_overlap=16, precision="32-true"
    )
    page = random_page(64, 48)
    automatic = colorizer.color([page])[0]
    hinted = colorizer.color([page], [PageHints((Dot(24, 32, "#00ff00", 15),))])[0]
    assert automatic.shape == hinted.shape == page.shape and not torch.equal(automatic, hinted)
