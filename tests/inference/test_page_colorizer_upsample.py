"""PageColorizer's `upsample`: how the prediction is enlarged to the page (issue 22, item 6)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from mangacolor.color import rgb_to_scaled_lab
from mangacolor.inference.generator_file import load_generator
from mangacolor.inference.page_colorizer import PageColorizer
from mangacolor.models.components import UNetGenerator

OLD_AB_COLORIZE = Path(__file__).resolve().parents[1] / "fixtures" / "ab_colorize" / "expected.pt"


def tiny_generator() -> UNetGenerator:
    torch.manual_seed(0)
    return UNetGenerator(depth=4, width=8, max_width=16).eval()


def figure_page(height: int = 96, width: int = 128) -> torch.Tensor:
    """uint8 RGB: a mid-grey figure, a black outline, light grey paper."""
    page = torch.full((3, height, width), 235, dtype=torch.uint8)
    page[:, 20:76, 20:70] = 0
    page[:, 23:73, 23:67] = 120
    return page


class ColorsMidTones(nn.Module):
    """A stand-in generator: strong a and b where its input is a mid tone, none elsewhere."""

    multiple = 16

    def forward(self, lightness: torch.Tensor) -> torch.Tensor:
        mid = ((lightness > -0.6) & (lightness < 0.4)).float()
        return torch.cat([0.4 * mid, 0.3 * mid], dim=1)


def test_bilinear_is_the_default_and_colours_exactly_as_before():
    generator, _ = load_generator(OLD_AB_COLORIZE.parent.parent / "pre_layout_run" / "generator.pt")
    recorded = torch.load(OLD_AB_COLORIZE, weights_only=True)
    settings = recorded["settings"]
    colorizer = PageColorizer(
        generator,
        settings["short_side"],
        settings["tile"],
        settings["overlap"],
        precision="32-true",
        compose="lightness",
        upsample="bilinear",
    )
    assert PageColorizer(generator, 64).upsample == "bilinear"
    names = list(recorded["pages"])
    for name, result in zip(names, colorizer.color([recorded["pages"][name] for name in names])):
        assert torch.equal(result, recorded["coloured"][name]), name


def test_guided_pages_keep_their_size_and_lightness():
    page = figure_page(90, 131)
    colorizer = PageColorizer(tiny_generator(), 32, precision="32-true", upsample="guided")
    (colored,) = colorizer.color([page])
    assert colored.shape == page.shape
    lightness = rgb_to_scaled_lab(page[None].float() / 255)[0]
    back = rgb_to_scaled_lab(colored[None].float() / 255)[0]
    assert (back - lightness).abs().max() < 0.03  # uint8 rounding only
    ab = colorizer.predict_pages_ab([lightness])[0]
    assert ab.shape == (1, 2, 90, 131)


def test_guided_keeps_the_predicted_colour_off_the_paper_beside_the_outline():
    page = figure_page()
    results = {}
    for mode in ("bilinear", "guided"):
        colorizer = PageColorizer(ColorsMidTones(), 24, precision="32-true", upsample=mode)
        results[mode] = colorizer.color([page])[0].float()
    paper_beside = (slice(None), slice(30, 66), slice(71, 75))  # 1-4 px outside the outline
    tint = lambda rgb: (rgb[paper_beside].amax(0) - rgb[paper_beside].amin(0)).mean()
    assert tint(results["bilinear"]) > 4.0
    assert tint(results["guided"]) < 0.25 * tint(results["bilinear"])


def test_at_the_pages_own_size_guided_is_bilinear():
    page = figure_page()
    pages = {}
    for mode in ("bilinear", "guided"):
        colorizer = PageColorizer(tiny_generator(), None, precision="32-true", upsample=mode)
        pages[mode] = colorizer.color([page])[0]
    assert torch.equal(pages["bilinear"], pages["guided"])


def test_an_unknown_upsample_is_refused():
    with pytest.raises(ValueError, match="upsample must be one of bilinear, guided"):
        PageColorizer(tiny_generator(), 32, upsample="nearest")
