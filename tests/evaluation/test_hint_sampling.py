"""Eval's one fixed rule for sampling hints from the truth (issue 22, item 5)."""

from __future__ import annotations

import torch
from kornia.color import lab_to_rgb, rgb_to_lab

from mangacolor.evaluation.hint_sampling import (
    BORDER,
    HINT_SIZE,
    MIN_CHROMA,
    hint_file_path,
    hint_sets,
    page_seed,
    sample_page_hints,
    write_hint_sets,
)
from mangacolor.hints.marks import Dot, PageHints
from mangacolor.inference.hint_files import hint_file_for, read_hint_file


def lab_page(height: int = 40, width: int = 48) -> torch.Tensor:
    """Lab (3, H, W): grey (chroma 0), a red square, an orange stripe and a too faint tint."""
    lab = torch.zeros(3, height, width)
    lab[0] = 80.0
    lab[:, 5:20, 5:20] = torch.tensor([55.0, 40.0, 30.0])[:, None, None]  # red, chroma 50
    lab[:, 25:35, 10:40] = torch.tensor([70.0, 15.0, 50.0])[:, None, None]  # orange
    lab[1:, 2:4, 30:46] = 6.0  # chroma 8.5: too faint
    return lab


def test_the_seed_is_a_stable_hash_of_the_name():
    assert page_seed("a/b.png") == page_seed("a/b.png")
    assert page_seed("a/b.png") != page_seed("a/c.png")
    # SHA-256's first 8 bytes: the same on every machine and Python version.
    assert page_seed("") == 0xE3B0C44298FC1C14


def test_the_same_page_and_name_give_the_same_hints_and_another_name_others():
    lab = lab_page()
    first = sample_page_hints(lab, "ch1/p01.png", 10)
    assert first == sample_page_hints(lab.clone(), "ch1/p01.png", 10)
    assert first != sample_page_hints(lab, "ch1/p02.png", 10)
    assert len(first.marks) == 10


def test_smaller_sets_are_the_first_hints_of_larger_ones():
    lab = lab_page()
    sets = hint_sets(lab, "p.png", [0, 1, 2, 5, 10, 20, 50])
    assert not sets[0]
    for small, large in zip([1, 2, 5, 10, 20], [2, 5, 10, 20, 50]):
        assert sets[large].marks[:small] == sets[small].marks
    # Drawn on their own, each count gives the same set as cut from the largest.
    assert sample_page_hints(lab, "p.png", 5) == sets[5]


def test_hints_sit_on_coloured_pixels_away_from_the_border_as_7px_squares():
    lab = lab_page()
    height, width = lab.shape[-2:]
    hints = sample_page_hints(lab, "page.png", 200)
    chroma = torch.hypot(lab[1], lab[2])
    positions = set()
    for dot in hints.marks:
        assert isinstance(dot, Dot) and dot.size == HINT_SIZE
        x, y = int(dot.x), int(dot.y)
        assert (x, y) == (dot.x, dot.y)
        assert BORDER <= x < width - BORDER and BORDER <= y < height - BORDER
        assert chroma[y, x] >= MIN_CHROMA
        positions.add((x, y))
    assert len(positions) == len(hints.marks) == 200


def test_a_page_with_fewer_coloured_pixels_than_asked_gets_all_it_has():
    lab = torch.zeros(3, 20, 20)
    lab[0] = 90.0
    lab[1:, 8:10, 8:11] = 30.0  # 6 coloured pixels
    lab[1:, 0:2, 0:20] = 30.0  # coloured, but within the border
    hints = sample_page_hints(lab, "few.png", 50)
    assert sorted((int(d.x), int(d.y)) for d in hints.marks) == [
        (x, y) for x in range(8, 11) for y in range(8, 10)
    ]
    assert not sample_page_hints(torch.zeros(3, 20, 20), "grey.png", 10)


def test_a_hint_is_coloured_the_truths_mean_over_its_square():
    lab = lab_page()
    hints = sample_page_hints(lab, "page.png", 30)
    for dot in hints.marks:
        x, y = int(dot.x), int(dot.y)
        mean = lab[:, y - 3 : y + 4, x - 3 : x + 4].mean(dim=(1, 2))
        rgb = lab_to_rgb(mean.view(1, 3, 1, 1), clip=True).flatten()
        expected = "#" + "".join(f"{round(float(v) * 255):02x}" for v in rgb)
        assert dot.color == expected
    # Inside the flat red square the colour is the square's own.
    inside = [d for d in hints.marks if 8 <= d.x <= 16 and 8 <= d.y <= 16]
    assert inside
    rgb = torch.tensor([int(inside[0].color[i : i + 2], 16) for i in (1, 3, 5)]) / 255.0
    back = rgb_to_lab(rgb.view(1, 3, 1, 1)).flatten()
    assert torch.allclose(back, torch.tensor([55.0, 40.0, 30.0]), atol=1.0)


def test_hint_sets_are_written_as_hint_files_that_read_back_the_same(tmp_path):
    lab = lab_page()
    sets = hint_sets(lab, "ch1/p01.png", [0, 2, 5])
    written = write_hint_sets(tmp_path, "ch1/p01.png", sets)
    assert written == [
        tmp_path / "hints" / "2" / "ch1" / "p01.json",
        tmp_path / "hints" / "5" / "ch1" / "p01.json",
    ]
    assert not (tmp_path / "hints" / "0").exists()
    for count in (2, 5):
        found = hint_file_for(tmp_path / "hints" / str(count), "ch1/p01.png")
        assert found == hint_file_path(tmp_path, count, "ch1/p01.png")
        assert read_hint_file(found, tuple(lab.shape[-2:])) == sets[count]


def test_the_hints_mask_at_page_size_is_the_7px_square_sampled_from():
    lab = lab_page()
    height, width = lab.shape[-2:]
    dot = sample_page_hints(lab, "page.png", 1).marks[0]
    _, mask = PageHints((dot,)).raster((height, width), (height, width), "ab")
    expected = torch.zeros(height, width)
    x, y = int(dot.x), int(dot.y)
    expected[y - 3 : y + 4, x - 3 : x + 4] = 1.0
    assert torch.equal(mask[0, 0], expected)
