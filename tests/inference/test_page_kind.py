"""What a page is: already in colour, black-and-white ink (screentone, lines, flat tone), or grey tones."""

from __future__ import annotations

import pytest
import torch
from helpers import manga_pages as m

from mangacolor.color import rgb_to_scaled_lab, uint8_to_unit
from mangacolor.inference.page_kind import GREY, INK, color_share, is_color_page, page_kind


def kind(page: torch.Tensor) -> str:
    return page_kind(rgb_to_scaled_lab(uint8_to_unit(page)[None])[0])


INK_PAGES = {
    "screentone": lambda: m.screentone_page(),
    "fine blurred screentone": lambda: m.screentone_page(period=4, blur=0.8),
    "screentone, JPEG 60": lambda: m.jpeg(m.screentone_page(), 60),
    "screentone, scan noise": lambda: m.noisy(m.screentone_page(), 6),
    "line art": lambda: m.line_art_page(),
    "line art, JPEG 60": lambda: m.jpeg(m.line_art_page(), 60),
    "flat digital tone": lambda: m.flat_tone_page(),
    "flat digital tone, JPEG 75": lambda: m.jpeg(m.flat_tone_page(), 75),
    "yellowed screentone": lambda: m.yellowed(m.screentone_page()),
}
GREY_PAGES = {
    "smooth grey": lambda: m.grey_page(),
    "smooth grey, scan noise": lambda: m.noisy(m.grey_page(), 6),
    "smooth grey, JPEG 60": lambda: m.jpeg(m.grey_page(), 60),
    "smooth grey, another drawing": lambda: m.grey_page(300, 200, seed=5),
}


@pytest.mark.parametrize("name", INK_PAGES)
def test_ink_and_screentone_pages_are_ink(name):
    assert kind(INK_PAGES[name]()) == INK


@pytest.mark.parametrize("name", GREY_PAGES)
def test_continuous_grey_pages_are_grey(name):
    assert kind(GREY_PAGES[name]()) == GREY


def test_odd_pages_get_a_kind_without_error():
    white = torch.full((3, 50, 40), 255, dtype=torch.uint8)
    noise = torch.randint(
        0, 256, (1, 120, 90), dtype=torch.uint8, generator=torch.Generator().manual_seed(0)
    )
    for page in (
        white,
        torch.zeros(3, 1, 1, dtype=torch.uint8),
        m.grey_page(7, 5),
        noise.expand(3, -1, -1),
    ):
        assert kind(page) in (INK, GREY)
    assert kind(white) == GREY  # nothing but paper: no ink to put colour under


COLOR_PAGES = {
    "colour illustration": lambda: m.color_page(),
    "colour, JPEG 60": lambda: m.jpeg(m.color_page(), 60),
    "colour on yellowed paper": lambda: m.yellowed(m.color_page()),
    "colour, large": lambda: m.color_page(1100, 800, seed=3),
}
BLACK_AND_WHITE_PAGES = {
    "screentone": lambda: m.screentone_page(),
    "line art": lambda: m.line_art_page(),
    "grey": lambda: m.grey_page(),
    "yellowed screentone": lambda: m.yellowed(m.screentone_page()),
    "yellowed screentone, JPEG 70": lambda: m.jpeg(m.yellowed(m.screentone_page()), 70),
    "yellowed grey": lambda: m.yellowed(m.grey_page()),
    "slight cast": lambda: m.cast(m.line_art_page()),
    "slight cast the other way, JPEG": lambda: m.jpeg(m.cast(m.screentone_page(), (-5, 2, 8)), 80),
    "colour fringes along the lines": lambda: m.fringed(m.line_art_page()),
    "fringes, yellowed, JPEG": lambda: m.fringed(
        m.jpeg(m.yellowed(m.screentone_page(period=4)), 70)
    ),
    "colour noise of a scanner": lambda: m.noisy(m.screentone_page(), 8, grey=False),
}


@pytest.mark.parametrize("name", COLOR_PAGES)
def test_colour_pages_are_detected(name):
    assert is_color_page(COLOR_PAGES[name]())


@pytest.mark.parametrize("name", BLACK_AND_WHITE_PAGES)
def test_black_and_white_scans_are_not_taken_for_colour(name):
    page = BLACK_AND_WHITE_PAGES[name]()
    assert not is_color_page(page)
    assert color_share(page) < 0.01  # well clear of the threshold, not just under it


def test_the_tint_is_what_is_taken_away_not_the_colour():
    # Strong yellowing is still no colour, while a red area a tenth of the page is, on yellowed paper too.
    page = m.screentone_page()
    assert not is_color_page(m.yellowed(page, paper=(250, 220, 150)))
    stamped = page.clone()
    stamped[:, 20:100, 20:70] = torch.tensor([200, 40, 40], dtype=torch.uint8).view(3, 1, 1)
    assert is_color_page(stamped) and is_color_page(m.yellowed(stamped))
    speck = page.clone()
    speck[:, 10:14, 10:14] = torch.tensor([200, 40, 40], dtype=torch.uint8).view(3, 1, 1)
    assert not is_color_page(speck)  # a few coloured pixels do not make a colour page


def test_a_large_page_is_measured_on_blocks_of_its_own_pixels_with_the_same_answer():
    from mangacolor.inference.page_kind import _sample_blocks

    screentone, grey = m.screentone_page(1000, 760, period=5), m.grey_page(1000, 760)
    assert _sample_blocks(rgb_to_scaled_lab(uint8_to_unit(grey)[None])[0]).shape[-2:] == (64, 64)
    assert (kind(screentone), kind(grey)) == (INK, GREY)
