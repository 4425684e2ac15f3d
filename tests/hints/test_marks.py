"""Dots, strokes and a page's hints: checked on making, scaled with the page, equal by value."""

from __future__ import annotations

import pytest
import torch

from mangacolor.hints.marks import Dot, PageHints, Stroke


def test_a_mark_refuses_a_colour_that_is_not_hex_and_a_size_that_is_not_above_zero():
    for color in ("d9a066", "#d9a06", "#d9a0667", "#gg0000", "red", 0xD9A066):
        with pytest.raises(ValueError, match="#rrggbb"):
            Dot(1, 2, color, 3)
    for size in (0, -1, float("nan"), float("inf"), True, "7"):
        with pytest.raises(ValueError, match="above 0"):
            Stroke(((1, 2),), "#D9A066", size)
    with pytest.raises(ValueError, match="at least one point"):
        Stroke((), "#d9a066", 3)


def test_a_stroke_keeps_its_points_as_float_pairs_and_compares_by_value():
    stroke = Stroke([[10, 12], (40, 30)], "#3a5fcd", 5)
    assert stroke.points == ((10.0, 12.0), (40.0, 30.0))
    assert stroke == Stroke(((10.0, 12.0), (40.0, 30.0)), "#3a5fcd", 5.0)


def test_page_hints_are_marks_or_a_layer_never_both_and_false_when_empty():
    layer = torch.zeros(4, 6, 5, dtype=torch.uint8)
    assert not PageHints() and not PageHints(layer=layer)
    layer[3, 2, 1] = 1
    assert PageHints(layer=layer) and PageHints((Dot(1, 1, "#ffffff", 1),))
    with pytest.raises(ValueError, match="never both"):
        PageHints((Dot(1, 1, "#ffffff", 1),), layer)
    with pytest.raises(ValueError, match="uint8 .4, H, W."):
        PageHints(layer=layer.float())
    with pytest.raises(TypeError, match="Dot or a Stroke"):
        PageHints(({"x": 1},))


def test_page_hints_compare_by_value_layers_included():
    layer = torch.zeros(4, 6, 5, dtype=torch.uint8)
    assert PageHints(layer=layer) == PageHints(layer=layer.clone())
    assert PageHints(layer=layer) != PageHints(layer=layer + 1)
    assert PageHints((Dot(1, 1, "#ffffff", 1),)) == PageHints([Dot(1.0, 1.0, "#ffffff", 1.0)])
    assert PageHints() != PageHints(layer=layer)


def test_scaled_marks_stay_on_the_same_spot_of_the_larger_page():
    # Pixel 0's centre is at 0.5 in edge coordinates; twice as large it is at 1.0, between pixels
    # 0 and 1.
    hints = PageHints((Dot(0, 10, "#102030", 3), Stroke(((1, 1), (4, 9)), "#405060", 2))).scaled(2)
    dot, stroke = hints.marks
    assert (dot.x, dot.y, dot.size) == (0.5, 20.5, 6)
    assert stroke.points == ((2.5, 2.5), (8.5, 18.5)) and stroke.size == 4
    assert dot.color == "#102030" and stroke.color == "#405060"


def test_a_scaled_layer_is_resized_to_the_larger_page_pixel_for_pixel():
    layer = torch.zeros(4, 3, 2, dtype=torch.uint8)
    layer[:, 1, 1] = torch.tensor([255, 0, 0, 200], dtype=torch.uint8)
    scaled = PageHints(layer=layer).scaled(2).layer
    assert scaled.shape == (4, 6, 4) and scaled.dtype == torch.uint8
    assert torch.equal(scaled[:, 2:4, 2:4], layer[:, 1:2, 1:2].expand(4, 2, 2))
    assert int((scaled[3] > 0).sum()) == 4


def test_a_layer_of_another_size_than_the_page_is_refused_when_rasterised():
    layer = torch.zeros(4, 6, 5, dtype=torch.uint8)
    with pytest.raises(ValueError, match="it must be the page's size"):
        PageHints(layer=layer).raster((5, 6), (4, 4), "ab")
