import re

import pytest
import torch
from PIL import Image, ImageDraw

from mangacolor.data.files import read_image
from mangacolor.data.pages import collate_pages
from mangacolor.data.transforms import PageCropper, check_window, random_corners, window_sides
from mangacolor.runtime.config_errors import ConfigError


def circle_page(tmp_path, width, height, name="circle.png"):
    image = Image.new("RGB", (width, height), "white")
    radius = min(width, height) // 2 - 6
    cx, cy = width // 2, height // 2
    ImageDraw.Draw(image).ellipse(
        [cx - radius, cy - radius, cx + radius, cy + radius], fill=(200, 30, 30)
    )
    path = tmp_path / name
    image.save(path)
    return path


def extents(crop: torch.Tensor) -> tuple[int, int]:
    """Height and width of the red disc in an RGB crop."""
    red = (crop[0] > 0.5) & (crop[1] < 0.5)
    rows, cols = red.any(1).nonzero(), red.any(0).nonzero()
    return int(rows.max() - rows.min() + 1), int(cols.max() - cols.min() + 1)


def test_window_is_square_and_within_page():
    sizes = torch.tensor([[1152, 800], [300, 2000], [100, 90]])
    sides = window_sides(sizes, 1024)
    assert sides.tolist() == [800, 300, 90]
    corners = random_corners(sizes, sides, torch.Generator().manual_seed(0), draws=50)
    assert (corners >= 0).all()
    assert (corners + sides[:, None, None] <= sizes[:, None, :]).all()


def test_a_drawn_circle_stays_round(tmp_path):
    """The seed squashed narrow pages into a square; a circle must stay a circle."""
    cropper = PageCropper(size=64, window=1024, hflip=False)
    for width, height in [(300, 120), (120, 300), (200, 200)]:
        page = read_image(circle_page(tmp_path, width, height))
        batch = collate_pages([{"image": page, "path": "p", "unreadable": []}])
        crop = cropper(batch["pages"], batch["sizes"], None, train=False)[0]
        h, w = extents(crop)
        assert abs(h - w) <= 1, (width, height, h, w)
        for train in (True,):
            crop = cropper(
                batch["pages"], batch["sizes"], torch.Generator().manual_seed(1), train=train
            )[0]
            assert crop.shape == (3, 64, 64)


def test_mixed_sizes_share_a_batch_and_match_single_pages(tmp_path):
    cropper = PageCropper(size=32, window=96, hflip=False)
    pages = [
        read_image(circle_page(tmp_path, w, h, f"{w}x{h}.png"))
        for w, h in [(300, 120), (64, 80), (90, 90)]
    ]
    batch = collate_pages(
        [{"image": p, "path": str(i), "unreadable": []} for i, p in enumerate(pages)]
    )
    assert batch["pages"].shape == (3, 3, 120, 300)
    assert batch["sizes"].tolist() == [[120, 300], [80, 64], [90, 90]]
    together = cropper(batch["pages"], batch["sizes"], None, train=False)
    for i, page in enumerate(pages):
        alone_batch = collate_pages([{"image": page, "path": "x", "unreadable": []}])
        alone = cropper(alone_batch["pages"], alone_batch["sizes"], None, train=False)[0]
        # The antialias blur's kernel size is set by the batch's largest shrink, which can add
        # a faint tail; the crops must agree to well under one grey level.
        assert (together[i] - alone).abs().max() < 2 / 255, i


def test_shrinking_is_antialiased():
    """A one-pixel checkerboard shrunk 4x must come out mid-grey, not aliased stripes."""
    checker = ((torch.arange(256)[:, None] + torch.arange(256)[None, :]) % 2 * 255).to(torch.uint8)
    pages = checker.expand(1, 3, 256, 256).contiguous()
    crop = PageCropper(size=64, window=256, hflip=False)(
        pages, torch.tensor([[256, 256]]), None, train=False
    )
    assert (crop[..., 1:-1, 1:-1] - 0.5).abs().max() < 0.05  # edge samples see the border


def test_colourful_draws_prefer_colour_over_white(tmp_path):
    """A page half white gutter, half colour: with 8 draws the window lands on the colour."""
    image = Image.new("RGB", (400, 100), "white")
    ImageDraw.Draw(image).rectangle([300, 0, 399, 99], fill=(30, 160, 220))
    image.save(tmp_path / "half.png")
    batch = collate_pages(
        [{"image": read_image(tmp_path / "half.png"), "path": "h", "unreadable": []}] * 8
    )
    generator = torch.Generator().manual_seed(0)
    plain = PageCropper(32, 100, hflip=False, colourful_draws=1)(
        batch["pages"], batch["sizes"], generator, True
    )
    picky = PageCropper(32, 100, hflip=False, colourful_draws=8)(
        batch["pages"], batch["sizes"], generator, True
    )

    def color_share(crops):
        return float(((crops.max(1).values - crops.min(1).values) > 0.3).float().mean())

    assert color_share(picky) > color_share(plain)
    assert color_share(picky) > 0.6


def test_resize_weights_shrink_and_enlarge_as_colourise_does():
    """The native windows are shrunk with colourise's filter: F.interpolate, bilinear, antialiased
    when shrinking (inference/page_colorizer.py), whatever each window's side."""
    import torch.nn.functional as F

    from mangacolor.data.transforms import resize_weights

    generator = torch.Generator().manual_seed(0)
    images = torch.rand(4, 2, 150, 150, generator=generator)
    sides = torch.tensor([150, 97, 40, 24])
    weights = resize_weights(sides, 150, 32)[:, None]
    batched = weights @ images @ weights.transpose(-1, -2)
    for i, side in enumerate(sides.tolist()):
        alone = images[i : i + 1, :, :side, :side]
        expected = F.interpolate(
            alone, size=(32, 32), mode="bilinear", align_corners=False, antialias=side > 32
        )
        assert torch.allclose(batched[i : i + 1], expected, atol=1e-5), side


def test_native_windows_are_the_croppers_windows():
    """Same draws in the same order: the native windows, shrunk, are the cropper's own windows (up to
    the two antialiasing filters) and mirrored alike; the windows stream is untouched."""
    from mangacolor.data.transforms import PageCropper

    generator = torch.Generator().manual_seed(3)
    pages = (torch.rand(6, 3, 90, 120, generator=generator) * 255).to(torch.uint8)
    pages[:, :, :, :40] = 0  # a dark left band: a mirrored window would differ a lot
    sizes = torch.tensor([[90, 120], [90, 100], [64, 80], [90, 90], [50, 120], [90, 120]])
    cropper = PageCropper(size=16, window=64, hflip=True, colourful_draws=3)
    for train in (True, False):
        crops = cropper(pages, sizes, torch.Generator().manual_seed(7), train=train)
        native = cropper.native(pages, sizes, torch.Generator().manual_seed(7), train=train)
        assert native.rgb.shape == (6, 3, 64, 64) and native.sides.tolist() == [
            64,
            64,
            64,
            64,
            50,
            64,
        ]
        assert (native.flips is not None) == train
        shrunk = native.shrink(native.rgb)
        assert (shrunk - crops).abs().mean() < 0.03, train


def test_a_window_smaller_than_the_crop_is_refused_naming_both_keys():
    check_window(32, 32)  # equal: the window is used as it is
    with pytest.raises(
        ConfigError, match=re.escape("data.window (16) must be at least data.size (32)")
    ):
        check_window(32, 16)
    with pytest.raises(
        ConfigError, match=re.escape("data.window (16) must be at least data.size (32)")
    ):
        PageCropper(size=32, window=16)  # the cropper keeps the same rule
