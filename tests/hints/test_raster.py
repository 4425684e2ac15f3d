"""The one rasteriser: marks and layers in page pixels -> hint colour and a 0/1 mask at the working
size."""

from __future__ import annotations

import pytest
import torch
from kornia.color import rgb_to_lab

from mangacolor.hints.marks import Dot, PageHints, Stroke
from mangacolor.hints.raster import (
    hint_channels,
    hint_input,
    no_hints,
    paint_squares,
    rasterize_layer,
    rasterize_marks,
)

TAN, BLUE = "#d9a066", "#3a5fcd"


def expected_encoding(color: str, predicts: str) -> torch.Tensor:
    """The colour as the generator's output space holds it, computed here from kornia directly."""
    rgb = torch.tensor([int(color[i : i + 2], 16) for i in (1, 3, 5)], dtype=torch.float32) / 255
    lab = rgb_to_lab(rgb.view(1, 3, 1, 1))[0, :, 0, 0]
    scaled = torch.stack([lab[0] / 50 - 1, lab[1] / 110, lab[2] / 110])
    return scaled[1:] if predicts == "ab" else scaled


def test_hint_channels_are_the_colour_channels_and_a_mask():
    assert hint_channels("ab") == 3 and hint_channels("lab") == 4
    with pytest.raises(ValueError, match="not 'rgb'"):
        hint_channels("rgb")


@pytest.mark.parametrize("predicts", ["ab", "lab"])
def test_the_input_with_hints_is_the_page_the_masked_colour_and_the_mask(predicts):
    lightness = torch.rand(2, 1, 8, 8)
    color, mask = no_hints(2, 8, 8, predicts)
    assert color.shape == (2, hint_channels(predicts) - 1, 8, 8)
    assert not color.any() and not mask.any()
    color, mask = torch.rand_like(color), (torch.rand_like(mask) > 0.5).float()
    joined = hint_input(lightness, color, mask)
    assert joined.shape == (2, 1 + hint_channels(predicts), 8, 8)
    assert torch.equal(joined[:, :1], lightness) and torch.equal(joined[:, -1:], mask)
    assert torch.equal(joined[:, 1:-1], color * mask)


@pytest.mark.parametrize("predicts", ["ab", "lab"])
def test_a_tiny_dot_survives_the_shrink_as_one_whole_pixel_of_its_colour(predicts):
    # 7 px on a 1,000 px page is under half a pixel at 64 px: it must become a pixel of mask 1.0.
    color, mask = rasterize_marks([Dot(520, 300, TAN, 7)], (1000, 1000), (64, 64), predicts)
    assert mask.shape == (1, 1, 64, 64) and color.shape == (1, hint_channels(predicts) - 1, 64, 64)
    assert set(mask.unique().tolist()) == {0.0, 1.0}
    assert mask.sum() == 1 and mask[0, 0, 300 * 64 // 1000, 520 * 64 // 1000] == 1
    hinted = mask[0, 0].bool()
    torch.testing.assert_close(
        color[0][:, hinted][:, 0], expected_encoding(TAN, predicts), rtol=0, atol=1e-6
    )
    assert not color[0][:, ~hinted].any()


def test_a_dot_straddling_working_pixels_marks_each_one_it_touches_and_the_mask_stays_0_or_1():
    # Page pixels 15..21 of a 100 px axis at 10 px touch working pixels 1 and 2.
    _, mask = rasterize_marks([Dot(18, 18, TAN, 7)], (100, 100), (10, 10), "ab")
    assert mask[0, 0].nonzero().tolist() == [[1, 1], [1, 2], [2, 1], [2, 2]]
    assert set(mask.unique().tolist()) == {0.0, 1.0}


def test_at_the_page_size_an_odd_dot_covers_exactly_its_square_round_its_centre_pixel():
    marks = [Dot(10, 6, BLUE, 7), Dot(2, 14, BLUE, 0.3)]
    _, mask = rasterize_marks(marks, (20, 30), (20, 30), "ab")
    expected = torch.zeros(20, 30)
    expected[3:10, 7:14] = 1  # rows 6 +- 3, columns 10 +- 3
    expected[14, 2] = 1  # a dot thinner than a pixel still covers the pixel it is on
    assert torch.equal(mask[0, 0], expected)


def test_a_dot_partly_off_the_page_is_clipped_and_one_wholly_off_it_paints_nothing():
    _, mask = rasterize_marks([Dot(0, 0, TAN, 5)], (10, 10), (10, 10), "ab")
    assert mask[0, 0, :3, :3].all() and mask.sum() == 9
    _, mask = rasterize_marks([Dot(-40, 5, TAN, 5)], (10, 10), (10, 10), "ab")
    assert not mask.any()


def test_where_marks_overlap_the_later_one_wins():
    color, mask = rasterize_marks([Dot(5, 5, TAN, 5), Dot(7, 5, BLUE, 5)], (12, 12), (12, 12), "ab")
    torch.testing.assert_close(color[0, :, 5, 3], expected_encoding(TAN, "ab"), rtol=0, atol=1e-6)
    torch.testing.assert_close(color[0, :, 5, 6], expected_encoding(BLUE, "ab"), rtol=0, atol=1e-6)
    torch.testing.assert_close(color[0, :, 5, 9], expected_encoding(BLUE, "ab"), rtol=0, atol=1e-6)
    color, _ = rasterize_marks([Dot(7, 5, BLUE, 5), Dot(5, 5, TAN, 5)], (12, 12), (12, 12), "ab")
    torch.testing.assert_close(color[0, :, 5, 6], expected_encoding(TAN, "ab"), rtol=0, atol=1e-6)


def test_the_full_colour_encoding_carries_lightness_so_pale_and_dark_hints_differ():
    pale, _ = rasterize_marks([Dot(2, 2, "#ffd0d8", 1)], (5, 5), (5, 5), "lab")
    dark, _ = rasterize_marks([Dot(2, 2, "#401018", 1)], (5, 5), (5, 5), "lab")
    assert pale[0, 0, 2, 2] > 0.6 and dark[0, 0, 2, 2] < -0.6  # L/50 - 1
    white, _ = rasterize_marks([Dot(2, 2, "#ffffff", 1)], (5, 5), (5, 5), "lab")
    torch.testing.assert_close(white[0, :, 2, 2], torch.tensor([1.0, 0.0, 0.0]), rtol=0, atol=1e-4)


def test_a_stroke_paints_its_whole_path_without_gaps():
    # A diagonal of 1 px at the page size: every column between the ends holds a painted pixel,
    # and nothing far from the line is painted.
    _, mask = rasterize_marks([Stroke(((2, 3), (40, 22)), BLUE, 1)], (30, 50), (30, 50), "ab")
    columns = mask[0, 0].any(dim=0)
    assert columns[2:41].all() and not columns[:2].any() and not columns[41:].any()
    rows, cols = mask[0, 0].nonzero().T
    line_y = 3 + (cols.float() - 2) * 19 / 38
    assert (rows.float() - line_y).abs().max() <= 1.0
    # A horizontal stroke of 3 px is a band 3 rows tall from end to end.
    _, mask = rasterize_marks([Stroke(((5, 10), (30, 10)), BLUE, 3)], (30, 50), (30, 50), "ab")
    expected = torch.zeros(30, 50)
    expected[9:12, 4:32] = 1  # columns 5 - 1 .. 30 + 1
    assert torch.equal(mask[0, 0], expected)


def test_a_stroke_of_one_point_is_a_dot():
    dot = rasterize_marks([Dot(7, 4, TAN, 3)], (20, 20), (9, 9), "lab")
    stroke = rasterize_marks([Stroke(((7, 4),), TAN, 3)], (20, 20), (9, 9), "lab")
    assert all(torch.equal(a, b) for a, b in zip(dot, stroke, strict=True))


def layer_of_squares(page_size, dots) -> torch.Tensor:
    """The page pixels each dot covers, painted opaque into an RGBA layer."""
    layer = torch.zeros(4, *page_size, dtype=torch.uint8)
    for x, y, size, color in dots:
        half = (size - 1) // 2
        rgb = torch.tensor(
            [int(color[i : i + 2], 16) for i in (1, 3, 5)] + [255], dtype=torch.uint8
        )
        layer[:, max(0, y - half) : y + half + 1, max(0, x - half) : x + half + 1] = rgb[
            :, None, None
        ]
    return layer


@pytest.mark.parametrize(
    "page_size,working", [((100, 70), (13, 9)), ((37, 53), (64, 91)), ((90, 90), (90, 90))]
)
def test_marks_and_a_layer_painting_the_same_pixels_give_the_same_maps(page_size, working):
    """One footprint rule for both: a working pixel is hinted iff its footprint holds a hinted page
    pixel."""
    torch.manual_seed(0)
    dots = [
        (
            int(torch.randint(0, page_size[1], ())),
            int(torch.randint(0, page_size[0], ())),
            int(torch.randint(0, 4, ())) * 2 + 1,
            color,
        )
        for color in ("#ff0000", "#00ff00", "#0000ff") * 3
    ]
    marks = [Dot(x, y, c, s) for x, y, s, c in dots]
    color, mask = rasterize_marks(marks, page_size, working, "lab")
    layer_color, layer_mask = rasterize_layer(layer_of_squares(page_size, dots), working, "lab")
    assert torch.equal(mask, layer_mask) and mask.any()
    # Where one dot alone touches a working pixel, the layer's mean is that dot's colour.
    touching = sum(rasterize_marks([mark], page_size, working, "lab")[1] for mark in marks)
    alone = touching == 1
    assert alone.any()
    torch.testing.assert_close(color * alone, layer_color * alone, rtol=0, atol=1e-5)


def test_a_layer_pixel_takes_the_alpha_weighted_mean_of_its_footprint():
    layer = torch.zeros(4, 20, 20, dtype=torch.uint8)
    layer[:, 3, 4] = torch.tensor([255, 0, 0, 255], dtype=torch.uint8)
    layer[:, 6, 7] = torch.tensor([0, 0, 255, 85], dtype=torch.uint8)
    layer[:, 15, 15] = torch.tensor([0, 255, 0, 1], dtype=torch.uint8)  # barely painted: painted
    layer[:3, 12, 2] = 255  # opaque colour, transparent: not painted
    color, mask = rasterize_layer(layer, (2, 2), "ab")
    assert mask[0, 0].tolist() == [[1.0, 0.0], [0.0, 1.0]]
    mean = (torch.tensor([255.0, 0, 0]) * 255 + torch.tensor([0, 0, 255.0]) * 85) / (255 + 85) / 255
    lab = rgb_to_lab(mean.view(1, 3, 1, 1))[0, 1:, 0, 0] / 110
    torch.testing.assert_close(color[0, :, 0, 0], lab, rtol=0, atol=1e-5)
    torch.testing.assert_close(
        color[0, :, 1, 1], expected_encoding("#00ff00", "ab"), rtol=0, atol=1e-5
    )
    assert not color[0, :, 0, 1].any() and not color[0, :, 1, 0].any()


def test_a_single_painted_pixel_of_a_large_layer_survives_the_shrink():
    layer = torch.zeros(4, 1000, 700, dtype=torch.uint8)
    layer[:, 999, 699] = torch.tensor([20, 40, 200, 255], dtype=torch.uint8)
    _, mask = rasterize_layer(layer, (64, 45), "lab")
    assert mask.sum() == 1 and mask[0, 0, 63, 44] == 1
    _, mask = PageHints(layer=layer).raster((1000, 700), (64, 45), "ab")
    assert mask.sum() == 1


def reference_paint(color, mask, squares):
    """paint_squares by a plain loop, the later square over the earlier."""
    for image, top, left, height, width, value in squares:
        rows = slice(max(top, 0), max(top + height, 0))
        cols = slice(max(left, 0), max(left + width, 0))
        color[image, :, rows, cols] = value[:, None, None]
        mask[image, :, rows, cols] = 1.0


@pytest.mark.parametrize("max_side", [None, 12])
def test_paint_squares_matches_a_loop_with_later_squares_winning_and_edges_clipped(max_side):
    torch.manual_seed(3)
    batch, channels, height, width, count = 3, 3, 17, 23, 60
    image = torch.randint(0, batch, (count,))
    top, left = torch.randint(-5, height, (count,)), torch.randint(-5, width, (count,))
    size_y, size_x = torch.randint(1, 10, (count,)), torch.randint(1, 10, (count,))
    values = torch.randn(count, channels)
    color, mask = torch.randn(batch, channels, height, width), torch.zeros(batch, 1, height, width)
    expected_color, expected_mask = color.clone(), mask.clone()
    paint_squares(color, mask, image, top, left, size_y, size_x, values, max_side=max_side)
    reference_paint(
        expected_color,
        expected_mask,
        zip(
            image.tolist(),
            top.tolist(),
            left.tolist(),
            size_y.tolist(),
            size_x.tolist(),
            values,
            strict=True,
        ),
    )
    assert torch.equal(mask, expected_mask) and torch.equal(color, expected_color)


def test_paint_squares_with_no_squares_leaves_the_maps_alone():
    color, mask = no_hints(2, 5, 5, "lab")
    empty = torch.zeros(0, dtype=torch.long)
    paint_squares(color, mask, empty, empty, empty, empty, empty, torch.zeros(0, 3))
    assert not color.any() and not mask.any()


def test_paint_squares_in_chunks_still_lets_the_later_square_win(monkeypatch):
    import mangacolor.hints.raster as raster

    monkeypatch.setattr(raster, "_PAINT_CHUNK_PIXELS", 16)  # one 4x4 square a chunk
    color, mask = no_hints(1, 6, 6, "ab")
    index = torch.zeros(3, dtype=torch.long)
    corners, sides = torch.tensor([0, 1, 2]), torch.full((3,), 4)
    values = torch.tensor([[1.0, 1], [2, 2], [3, 3]])
    paint_squares(color, mask, index, corners, corners, sides, sides, values)
    assert color[0, 0].tolist()[2] == [1, 2, 3, 3, 3, 3] and mask.sum() == 16 + 7 + 7


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_on_the_gpu_paint_squares_matches_the_cpu_without_waiting_for_the_device():
    torch.manual_seed(5)
    count, batch, channels, side = 200, 8, 3, 64
    squares = [
        torch.randint(0, batch, (count,)),
        torch.randint(-4, side, (count,)),
        torch.randint(-4, side, (count,)),
        torch.randint(1, 10, (count,)),
        torch.randint(1, 10, (count,)),
    ]
    values = torch.randn(count, channels)
    cpu = no_hints(batch, side, side, "lab")
    paint_squares(*cpu, *squares, values, max_side=9)
    gpu = no_hints(batch, side, side, "lab", "cuda")
    on_device = [tensor.cuda() for tensor in squares]
    values = values.cuda()
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")  # a host sync inside raises
    try:
        paint_squares(*gpu, *on_device, values, max_side=9)
    finally:
        torch.cuda.set_sync_debug_mode(0)
    assert torch.equal(gpu[0].cpu(), cpu[0]) and torch.equal(gpu[1].cpu(), cpu[1])
