"""compose=ink|predicted|lightness|auto: the colour under the ink, no halo, no double shading, descreen."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from helpers import manga_pages as m
from helpers.generators import SKIN, KnownColor, vivid_unet
from kornia.color import rgb_to_lab
from PIL import Image, ImageDraw

from mangacolor.color import (
    grey_as_lightness,
    lightness_as_grey,
    rgb_to_scaled_lab,
    scaled_lab_to_rgb,
    uint8_to_unit,
)
from mangacolor.inference.compose import check_compose, descreen
from mangacolor.inference.page_colorizer import PageColorizer

HEIGHT, WIDTH, SHORT_SIDE = 320, 240, 48  # the page is 5 times the working size, as a scan is


def lines_page() -> torch.Tensor:
    """Black ink on white paper: thin vertical, horizontal and diagonal strokes and a block of
    'lettering' (short strokes), with wide paper between them."""
    grey = torch.ones(HEIGHT, WIDTH)
    grey[20:300, 60:62] = 0  # 2 px vertical
    grey[100:101, 20:220] = 0  # 1 px horizontal
    for i in range(150):  # 2 px diagonal
        grey[150 + i, 80 + i // 2 : 82 + i // 2] = 0
    for row in range(230, 290, 12):  # lettering: short thick strokes
        for col in range(150, 220, 9):
            grey[row : row + 8, col : col + 3] = 0
    return (grey * 255).to(torch.uint8).expand(3, -1, -1).contiguous()


def toned_page() -> torch.Tensor:
    """Lines, a flat grey area (digital tone) and a 40 % dot screen, on white."""
    grey = torch.ones(HEIGHT, WIDTH)
    dots = torch.from_numpy(m.clustered_dots(200, 90, 0.4, 6.0))
    grey[40:240, 20:110] = torch.where(dots, 0.0, 1.0)
    grey[40:240, 130:220] = 0.5
    grey[:, 119:121] = 0
    grey[260:262, :] = 0
    return (grey * 255).round().to(torch.uint8).expand(3, -1, -1).contiguous()


def color(generator, page: torch.Tensor, compose: str, **options) -> torch.Tensor:
    colorizer = PageColorizer(
        generator, short_side=SHORT_SIDE, compose=compose, precision="32-true", **options
    )
    return colorizer.color([page])[0]


def lab(rgb_uint8: torch.Tensor) -> torch.Tensor:
    return rgb_to_lab(uint8_to_unit(rgb_uint8)[None])[0]


def distance_to_ink(page: torch.Tensor, reach: int = 16) -> torch.Tensor:
    """Chessboard distance (pixels) of every pixel to the nearest ink pixel, up to `reach`."""
    ink = (page[0] < 128).float()[None, None]
    distance = torch.full(ink.shape[-2:], float(reach))
    grown = ink
    for step in range(reach):
        distance[(grown[0, 0] > 0) & (distance == reach)] = step
        grown = F.max_pool2d(grown, 3, stride=1, padding=1)
    return distance


def naive_multiply(generator, page: torch.Tensor) -> torch.Tensor:
    """The prediction enlarged and multiplied by the page as it is, with no lift: what `ink` avoids."""
    colorizer = PageColorizer(generator, short_side=SHORT_SIDE, precision="32-true")
    lightness = rgb_to_scaled_lab(uint8_to_unit(page)[None])[0]
    [prediction] = colorizer._predict_working([colorizer._to_working(lightness)])
    enlarged = F.interpolate(
        scaled_lab_to_rgb(prediction[:, :1], prediction[:, 1:]),
        size=page.shape[-2:],
        mode="bilinear",
        align_corners=False,
    )
    return (enlarged * lightness_as_grey(lightness)).clamp(0, 1).mul(255).round().to(torch.uint8)[0]


def halo(result: torch.Tensor, page: torch.Tensor) -> float:
    """The largest mean change of lightness (L units) of the paper 1, 2 or 3 pixels from the ink,
    against the paper far from it."""
    distance, lightness = distance_to_ink(page), lab(result)[0]
    far = lightness[distance >= 12].mean()
    return max(float((lightness[distance == d].mean() - far).abs()) for d in (1, 2, 3))


def test_ink_keeps_ink_black_and_lines_pixel_sharp_while_colouring_paper():
    page = lines_page()
    result = color(KnownColor(), page, "ink")
    ink, paper = page[0] == 0, page[0] == 255
    assert result.shape == page.shape
    assert int(result[:, ink].max()) == 0  # every ink pixel black, however close to paper
    skin = torch.tensor(SKIN).view(3, 1) * 255
    assert (
        result[:, paper].float() - skin
    ).abs().max() <= 1.0  # every paper pixel, even next to a line, takes the colour
    # Pixel-sharp: between the two, the result is the colour times the page's own grey, pixel by pixel.
    expected = (torch.tensor(SKIN).view(3, 1, 1) * page.float()).round()
    assert (result.float() - expected).abs().max() <= 1.0
    # The mode exists because keeping the page's L cannot colour paper: lightness leaves it white.
    assert int(color(KnownColor(), page, "lightness")[:, paper].float().std(0).max()) == 0


@pytest.mark.parametrize("network", ["its lines softer", "its lines sharp", "exact"])
def test_no_halo_around_lines_whatever_copy_of_them_the_prediction_carries(network):
    generator = {
        "its lines softer": KnownColor(soften=1.0),
        "its lines sharp": KnownColor(flat=True),
        "exact": KnownColor(),
    }[network]
    page = lines_page()
    ink_halo, naive_halo = (
        halo(color(generator, page, "ink"), page),
        halo(naive_multiply(generator, page), page),
    )
    if network == "exact":
        assert (
            ink_halo < 0.1 and naive_halo > 12
        )  # the naive multiply darkens the paper along every line
    elif network == "its lines sharp":  # the division alone would lift the paper along every line
        assert ink_halo < 4.5, f"ink halo {ink_halo:.1f} L"  # the division alone: 15.3
    else:  # this network darkens a wide band itself (it blurs over 5 page pixels): a third is left
        assert naive_halo > 10 and ink_halo < naive_halo / 2.5, (
            f"ink halo {ink_halo:.1f} L, naive {naive_halo:.1f} L"
        )


def test_shading_is_applied_once_on_flat_tone_and_on_screentone():
    page, generator = toned_page(), KnownColor()
    result, naive = color(generator, page, "ink"), naive_multiply(generator, page)
    skin_lab = rgb_to_lab(torch.tensor(SKIN).view(1, 3, 1, 1))[0, :, 0, 0]
    half_tone_lab = rgb_to_lab(torch.tensor(SKIN).view(1, 3, 1, 1) * 0.5)[0, :, 0, 0]
    flat = (slice(60, 220), slice(140, 210))
    assert (lab(result)[:, flat[0], flat[1]].mean((1, 2)) - half_tone_lab).abs().max() < 1.0
    assert (
        lab(naive)[0, flat[0], flat[1]].mean() < half_tone_lab[0] - 15
    )  # shaded twice: far too dark
    # Screentone: the dots stay black, the paper between them takes the colour, and read from a
    # distance (8 x 8 averages) the area is the colour under 40 % ink, as the page is.
    screen = (slice(48, 232), slice(24, 104))
    dots = page[0, screen[0], screen[1]] == 0
    assert int(result[:, screen[0], screen[1]][:, dots].max()) == 0
    assert (
        result[:, screen[0], screen[1]][:, ~dots].float() - torch.tensor(SKIN).view(3, 1) * 255
    ).abs().max() <= 1

    def read(image: torch.Tensor) -> torch.Tensor:
        return rgb_to_lab(F.avg_pool2d(uint8_to_unit(image)[None][..., screen[0], screen[1]], 8))[0]

    truth = (torch.tensor(SKIN).view(3, 1, 1) * page.float()).round().to(torch.uint8)
    assert (read(result) - read(truth)).abs().amax(dim=(1, 2)).max() < 1.5
    assert skin_lab[0] - read(result)[0].mean() > 20  # the screen still shades it


def test_descreen_smooths_screentone_into_its_tone_and_keeps_the_lines():
    page = toned_page()
    lightness = rgb_to_scaled_lab(uint8_to_unit(page)[None])[0]
    smooth = descreen(lightness, 6)
    grey, smooth_grey = lightness_as_grey(lightness)[0, 0], lightness_as_grey(smooth)[0, 0]
    screen = (slice(60, 220), slice(35, 95))
    assert float(smooth_grey[screen].std()) < float(grey[screen].std()) / 5  # the dots are gone...
    assert abs(float(smooth_grey[screen].mean() - grey[screen].mean())) < 0.02  # ...their tone kept
    assert torch.equal(smooth[..., :, 119:121], lightness[..., :, 119:121])  # lines as they were
    assert torch.equal(smooth[..., 260:262, :], lightness[..., 260:262, :])
    assert torch.allclose(
        smooth[..., 60:220, 145:205], lightness[..., 60:220, 145:205], atol=1e-4
    )  # flat tone too
    assert torch.equal(descreen(lightness, 0), lightness)
    # Lettering is drawn ink, though its counters and dots are as small as a screen's dots and holes.
    letters = Image.new("L", (200, 40), 255)
    draw = ImageDraw.Draw(letters)
    for x in range(8, 150, 16):  # a word of o's: rings with small counters
        draw.ellipse([x, 12, x + 10, 26], outline=0, width=3)
    draw.rectangle([160, 22, 162, 25], fill=0)  # a full stop
    draw.rectangle([170, 8, 172, 11], fill=0)  # the dot of an i over its stem
    draw.rectangle([170, 14, 172, 26], fill=0)
    text = grey_as_lightness(torch.from_numpy(np.array(letters)).float()[None, None] / 255)
    assert torch.allclose(descreen(text, 6), text, atol=1e-4)
    # Composed: colour lies under even tone instead of dots; ink is still black. (What texture is
    # left is the screen's own moire with the pixel grid, slower than its period.)

    def texture(image: torch.Tensor) -> float:
        return float(uint8_to_unit(image)[:, screen[0], screen[1]].std(dim=(1, 2)).max())

    result, dotted = color(KnownColor(), page, "ink", descreen=6), color(KnownColor(), page, "ink")
    assert texture(result) < 0.05 and texture(result) < texture(dotted) / 8
    assert int(result[:, :, 119:121].max()) == 0


def test_predicted_is_the_networks_page_alone():
    page = lines_page()
    result = color(KnownColor(flat=True), page, "predicted")
    assert (
        result.float() - torch.tensor(SKIN).view(3, 1, 1) * 255
    ).abs().max() <= 1.0  # no ink: not the page's


def test_auto_chooses_per_page_from_the_generator_and_the_page():
    pages = [m.screentone_page(), m.line_art_page(), m.grey_page()]
    full_color = PageColorizer(KnownColor(), short_side=SHORT_SIDE, precision="32-true")
    full_color.color(pages)
    assert full_color.composed == {"ink": 2, "lightness": 1}
    ab_only = PageColorizer(vivid_unet(), short_side=16, precision="32-true")
    ab_only.color(pages)
    assert ab_only.composed == {"lightness": 3}


def test_ink_and_predicted_need_a_full_colour_generator():
    for mode in ("ink", "predicted"):
        with pytest.raises(
            ValueError, match=f"compose={mode} needs a full-colour generator.*my/generator.pt"
        ):
            check_compose(mode, "ab", "my/generator.pt")
        with pytest.raises(ValueError, match="predicts ab only"):
            PageColorizer(vivid_unet(), short_side=16, compose=mode)
        check_compose(mode, "lab")
    with pytest.raises(ValueError, match="compose must be one of"):
        check_compose("multiply", "lab")


@pytest.mark.parametrize("compose", ["auto", "lightness", "ink", "predicted"])
def test_every_mode_keeps_pages_and_tiled_strips_at_their_size(compose):
    generator = vivid_unet(out_channels=3)
    colorizer = PageColorizer(
        generator, short_side=16, tile=64, tile_overlap=16, compose=compose, precision="32-true"
    )
    pages = [
        m.screentone_page(900, 50, period=4),
        m.grey_page(37, 23),
        torch.zeros(3, 1, 1, dtype=torch.uint8),
        m.line_art_page(90, 31),
    ]
    for page, result in zip(pages, colorizer.color(pages), strict=True):
        assert result.shape == page.shape and result.dtype == torch.uint8
    assert sum(colorizer.composed.values()) == len(pages)


def test_chroma_scales_the_colour_and_keeps_lightness_and_hue():
    page = lines_page()
    paper = distance_to_ink(page) >= 8
    full = lab(color(KnownColor(flat=True), page, "predicted"))
    half = lab(color(KnownColor(flat=True), page, "predicted", chroma=0.5))
    none = lab(color(KnownColor(flat=True), page, "predicted", chroma=0.0))

    def chroma(image: torch.Tensor) -> torch.Tensor:
        return image[1:].norm(dim=0)[paper]

    assert float(chroma(full).mean()) > 20
    assert torch.allclose(chroma(half), chroma(full) / 2, atol=1.0)
    assert float(chroma(none).max()) < 1.0
    for scaled in (half, none):  # lightness is the prediction's whatever the strength
        assert (scaled[0][paper] - full[0][paper]).abs().max() < 1.0

    def hue(image: torch.Tensor) -> torch.Tensor:
        return torch.atan2(image[2], image[1])[paper]

    assert (hue(half) - hue(full)).abs().max() < 0.05
    # With the page's lightness and no chroma, the page comes back grey as it was.
    assert (color(KnownColor(), page, "lightness", chroma=0.0).int() - page.int()).abs().max() <= 1


def test_chroma_must_be_a_number_at_least_zero():
    for bad in (-0.5, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="chroma"):
            PageColorizer(KnownColor(), short_side=SHORT_SIDE, chroma=bad)
