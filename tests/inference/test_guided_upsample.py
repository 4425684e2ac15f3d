"""Colour carried up to the page with the page's lightness as the guide (issue 22, item 6)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from kornia.color import lab_to_rgb, rgb_to_lab

from mangacolor.evaluation.scoring import NEUTRAL_CHROMA, RING_REACH, Truth
from mangacolor.inference.compose import compose_lightness
from mangacolor.inference.guided_upsample import (
    bilinear_upsample,
    check_upsample,
    guided_upsample,
)
from mangacolor.metrics import masked_mean_delta_e_2000, neutral_ring


def figure_beyond_a_line(size: int = 256) -> Truth:
    """A coloured area (L 60), a 4 px ink line, then paper (L 95, as scanned: pure white, L 100,
    can hold no colour at all, so no bleeding would show there): the true page."""
    lab = torch.zeros(1, 3, size, size)
    lab[:, 0] = 95.0
    lab[:, :, :, : size // 2] = torch.tensor([60.0, 40.0, 30.0])[None, :, None, None]
    lab[:, :, :, size // 2 - 2 : size // 2 + 2] = torch.tensor([5.0, 0.0, 0.0])[None, :, None, None]
    return Truth.from_rgb(lab_to_rgb(lab, clip=True))


def through_working_size(truth: Truth, working: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The truth's L and ab shrunk to the working size, as a perfect network would predict them."""
    both = torch.cat([truth.lightness, truth.ab], dim=1)
    small = F.interpolate(both, size=(working, working), mode="bilinear", antialias=True)
    return small[:, :1], small[:, 1:]


def test_guided_keeps_colour_off_the_paper_beyond_a_line_better_than_bilinear():
    truth = figure_beyond_a_line()
    working_l, working_ab = through_working_size(truth, 32)  # 8 page pixels a working pixel
    size = truth.lightness.shape[-2:]
    bilinear = compose_lightness(truth.lightness, bilinear_upsample(working_ab, size))
    guided_ab = guided_upsample(working_ab, working_l, truth.lightness)
    guided = compose_lightness(truth.lightness, guided_ab)
    # The ring's paper (its light pixels): 3.9 dE00 bilinear, 1.1 guided when written. (On the
    # ink line both put colour under the line, guided a little more: 18.9 against 15.5.)
    paper_ring = neutral_ring(truth.lab, NEUTRAL_CHROMA, RING_REACH) & (truth.lab[:, :1] > 50)
    paper_bilinear = float(masked_mean_delta_e_2000(rgb_to_lab(bilinear), truth.lab, paper_ring)[0])
    paper_guided = float(masked_mean_delta_e_2000(rgb_to_lab(guided), truth.lab, paper_ring)[0])
    assert paper_bilinear > 2.0
    assert paper_guided < 0.35 * paper_bilinear, (paper_guided, paper_bilinear)
    # The paper 1-7 px past the line, column by column: how far from grey (max - min of RGB).
    beyond = slice(size[1] // 2 + 3, size[1] // 2 + 10)
    tint = lambda rgb: (rgb[0].amax(0) - rgb[0].amin(0)).amax(0)[beyond]
    assert tint(bilinear).max() > 0.03
    assert tint(guided).sum() < 0.3 * tint(bilinear).sum()


def test_a_flat_colour_stays_flat_and_equal_sizes_are_left_alone():
    lightness = torch.full((1, 1, 64, 64), 0.2)
    ab = torch.tensor([0.3, -0.2]).view(1, 2, 1, 1).expand(1, 2, 16, 16)
    up = guided_upsample(ab, lightness[..., :16, :16], lightness)
    assert up.shape == (1, 2, 64, 64)
    assert torch.allclose(up, ab[..., :1, :1].expand(1, 2, 64, 64), atol=1e-5)
    same = torch.rand(1, 2, 16, 16)
    assert guided_upsample(same, lightness[..., :16, :16], lightness[..., :16, :16]) is same


def test_an_unknown_mode_is_refused():
    assert check_upsample("guided") == "guided"
    with pytest.raises(ValueError, match="bilinear, guided"):
        check_upsample("bicubic")


def test_where_the_lightness_is_even_guided_is_bilinear():
    generator = torch.Generator().manual_seed(0)
    color = torch.rand(1, 3, 16, 20, generator=generator)
    even = torch.full((1, 1, 61, 77), 0.3)
    up = guided_upsample(color, even[..., :16, :20], even)
    assert torch.allclose(up, bilinear_upsample(color, (61, 77)), atol=1e-5)
