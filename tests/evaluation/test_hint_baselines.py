"""The nearest-hint and paint-bucket baselines (issue 22, item 5) on synthetic pages."""

from __future__ import annotations

import random
from collections import deque

import pytest
import torch

from mangacolor.color import rgb_to_scaled_lab
from mangacolor.evaluation.hint_baselines import (
    bucket_fill,
    component_labels,
    nearest_hint,
    nearest_hint_ab,
    paint_bucket,
    paint_bucket_ab,
)
from mangacolor.hints.marks import Dot, PageHints, Stroke
from mangacolor.inference.compose import compose_lightness

RED, BLUE = "#d03030", "#3050d0"


def scaled(cie_l: torch.Tensor) -> torch.Tensor:
    """CIE L (H, W) -> scaled L (1, 1, H, W)."""
    return (cie_l / 50.0 - 1.0)[None, None]


def two_regions(height: int = 32, width: int = 48) -> torch.Tensor:
    """Two flat areas of L 80 split by a vertical ink line (L 5) at columns 23-24: scaled L."""
    cie_l = torch.full((height, width), 80.0)
    cie_l[:, 23:25] = 5.0
    return scaled(cie_l)


def hint_ab(color: str) -> torch.Tensor:
    rgb = torch.tensor([int(color[i : i + 2], 16) for i in (1, 3, 5)]).float() / 255.0
    return rgb_to_scaled_lab(rgb.view(1, 3, 1, 1))[1].flatten()


def test_the_bucket_fills_the_hinted_region_and_stops_at_the_ink_line():
    page = two_regions()
    ab = paint_bucket_ab(page, PageHints((Dot(10, 16, RED, 7),)))
    red = hint_ab(RED)
    assert torch.allclose(ab[0, :, :, :23], red[:, None, None].expand(2, 32, 23))
    assert ab[0, :, :, 23:].abs().max() == 0  # the line and the far side stay grey


def test_nearest_hint_floods_across_the_line():
    page = two_regions()
    ab = nearest_hint_ab(page, PageHints((Dot(10, 16, RED, 7),)))
    assert torch.allclose(ab[0], hint_ab(RED)[:, None, None].expand(2, 32, 48))


def test_nearest_hint_gives_each_pixel_its_nearest_dot():
    page = two_regions()
    ab = nearest_hint_ab(page, PageHints((Dot(5, 16, RED, 7), Dot(40, 16, BLUE, 7))))
    assert torch.allclose(ab[0, :, 0, 0], hint_ab(RED))
    assert torch.allclose(ab[0, :, 0, 47], hint_ab(BLUE))
    # The boundary is the bisector, column 22.5: column 22 is red's, 23 blue's.
    assert torch.allclose(ab[0, :, 9, 22], hint_ab(RED))
    assert torch.allclose(ab[0, :, 9, 23], hint_ab(BLUE))


def test_two_hints_fill_their_own_regions_and_the_first_wins_a_shared_one():
    page = two_regions()
    hints = PageHints((Dot(10, 16, RED, 7), Dot(40, 16, BLUE, 7), Dot(3, 3, BLUE, 7)))
    fill = bucket_fill(page, hints)
    assert (fill.owner[:, :23] == 0).all() and (fill.owner[:, 25:] == 1).all()
    assert (fill.owner[:, 23:25] == -1).all()
    # Cut to the first hint only: the right side is no longer filled.
    assert (fill.owners_up_to(1)[:, 25:] == -1).all()
    assert torch.equal(fill.ab(1), paint_bucket_ab(page, PageHints(hints.marks[:1])))


def test_the_tolerance_is_in_lightness_units_around_the_seed():
    cie_l = torch.full((20, 30), 60.0)
    cie_l[:, 10:20] = 66.0  # 6 lighter: inside a tolerance of 6, outside 5.9
    cie_l[:, 20:] = 72.0  # 12 lighter than the seed: outside, though 6 from its neighbour
    hints = PageHints((Dot(2, 10, RED, 7),))
    assert (bucket_fill(scaled(cie_l), hints, 6.0).owner[:, :20] == 0).all()
    assert (bucket_fill(scaled(cie_l), hints, 6.0).owner[:, 20:] == -1).all()
    assert (bucket_fill(scaled(cie_l), hints, 5.9).owner[:, 10:] == -1).all()
    with pytest.raises(ValueError, match="tolerance"):
        bucket_fill(scaled(cie_l), hints, -1.0)


def test_the_bucket_follows_a_winding_corridor_only_through_4_connected_pixels():
    cie_l = torch.full((9, 9), 5.0)  # ink everywhere but a spiral of paper
    corridor = (
        [(1, c) for c in range(1, 8)]
        + [(r, 7) for r in range(1, 8)]
        + [(7, c) for c in range(1, 8)]
        + [(r, 1) for r in range(3, 8)]
        + [(3, c) for c in range(1, 6)]
    )
    for y, x in corridor:
        cie_l[y, x] = 90.0
    cie_l[5, 4] = 90.0  # touches the spiral only at a corner: not reached
    owner = bucket_fill(scaled(cie_l), PageHints((Dot(3, 3, RED, 1),))).owner
    assert owner[1, 1] == 0 and owner[7, 7] == 0 and owner[3, 5] == 0
    assert owner[5, 4] == -1 and owner[0, 0] == -1


def flood(cie_l: torch.Tensor, row: int, col: int, tolerance: float) -> set[tuple[int, int]]:
    """A plain breadth-first bucket fill, the reference."""
    height, width = cie_l.shape
    seed = float(cie_l[row, col])
    seen, queue = {(row, col)}, deque([(row, col)])
    while queue:
        y, x = queue.popleft()
        for ny, nx in ((y - 1, x), (y + 1, x), (y, x - 1), (y, x + 1)):
            if (
                0 <= ny < height
                and 0 <= nx < width
                and (ny, nx) not in seen
                and abs(float(cie_l[ny, nx]) - seed) <= tolerance
            ):
                seen.add((ny, nx))
                queue.append((ny, nx))
    return seen


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_vectorised_fill_matches_a_breadth_first_fill_with_first_wins(seed):
    generator = torch.Generator().manual_seed(seed)
    cie_l = (torch.rand(24, 30, generator=generator) * 4).floor() * 20.0 + 10.0  # 4 levels, blotchy
    rng = random.Random(seed)
    points = [(rng.randrange(24), rng.randrange(30)) for _ in range(8)]
    hints = PageHints(tuple(Dot(x, y, RED, 1) for y, x in points))
    owner = bucket_fill(scaled(cie_l), hints, 6.0).owner
    expected = torch.full((24, 30), -1)
    # Earlier hints painted last, so they win.
    for number, (y, x) in reversed(list(enumerate(points))):
        for py, px in flood(cie_l, y, x, 6.0):
            expected[py, px] = number
    assert torch.equal(owner, expected)


def test_component_labels_label_each_4_connected_piece_once():
    allowed = torch.tensor(
        [[[1, 1, 0, 1], [0, 1, 0, 1], [1, 0, 0, 1], [1, 1, 1, 1]]], dtype=torch.bool
    )
    labels = component_labels(allowed)[0]
    assert (labels[~allowed[0]] == 0).all()
    assert len({int(labels[0, 0]), int(labels[0, 1]), int(labels[1, 1])}) == 1
    assert labels[0, 0] != labels[2, 0] and labels[2, 0] == labels[0, 3]


def test_both_return_the_page_composed_with_its_lightness_kept():
    page = two_regions()
    hints = PageHints((Dot(10, 16, RED, 7),))
    bucket_ab, nearest_ab = paint_bucket_ab(page, hints), nearest_hint_ab(page, hints)
    assert torch.equal(paint_bucket(page, hints), compose_lightness(page, bucket_ab))
    assert torch.equal(nearest_hint(page, hints), compose_lightness(page, nearest_ab))
    lightness_back = rgb_to_scaled_lab(paint_bucket(page, hints))[0]
    assert torch.allclose(lightness_back, page, atol=2e-3)


def test_no_hints_is_the_grey_page_and_strokes_seed_at_their_points():
    page = two_regions()
    for hints in (None, PageHints()):
        assert paint_bucket_ab(page, hints).abs().max() == 0
        assert nearest_hint_ab(page, hints).abs().max() == 0
    stroke = PageHints((Stroke(((10, 5), (40, 5)), BLUE, 3),))
    owner = bucket_fill(page, stroke).owner
    assert (owner[:, :23] == 0).all() and (owner[:, 25:] == 1).all()
    layer = PageHints(layer=torch.zeros(4, 32, 48, dtype=torch.uint8))
    with pytest.raises(ValueError, match="layer"):
        paint_bucket(page, layer)


def test_a_512px_page_with_50_hints_fills_quickly():
    import time

    generator = torch.Generator().manual_seed(0)
    cie_l = (torch.rand(64, 64, generator=generator) * 5).floor() * 18.0 + 8.0
    cie_l = torch.nn.functional.interpolate(cie_l[None, None], size=(512, 512))[0, 0]
    cie_l = cie_l + torch.rand(512, 512, generator=generator)  # no two seeds share a band
    rng = random.Random(0)
    hints = PageHints(tuple(Dot(rng.randrange(512), rng.randrange(512), RED, 7) for _ in range(50)))
    start = time.perf_counter()
    fill = bucket_fill(scaled(cie_l), hints)
    elapsed = time.perf_counter() - start
    assert (fill.owner >= 0).any()
    assert elapsed < 20.0, f"{elapsed:.1f} s"  # about 1 s on a busy 2-core machine
