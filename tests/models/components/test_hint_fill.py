"""The weightless hint fills in front of a hint generator: the push-pull spread and the geodesic
fill that stops at ink lines."""

from __future__ import annotations

import pytest
import torch

from mangacolor.models.components import UNetGenerator
from mangacolor.models.components.hint_fill import GeodesicFill, HintSpread


def dots(size: int, *placed: tuple[int, int, list[float]]) -> tuple[torch.Tensor, torch.Tensor]:
    """Hint colour x mask (1, 2, size, size) and mask (1, 1, size, size) for dots (row, col, ab)."""
    color, mask = torch.zeros(1, 2, size, size), torch.zeros(1, 1, size, size)
    for row, col, ab in placed:
        color[0, :, row, col] = torch.tensor(ab)
        mask[0, 0, row, col] = 1.0
    return color, mask


def test_hint_spread_carries_a_dot_over_the_image_and_is_empty_without_hints():
    spread = HintSpread(levels=5)
    page = torch.zeros(1, 1, 32, 32)  # the push-pull fill does not look at it
    color, mask = dots(32)
    assert torch.equal(spread(page, color, mask), torch.zeros(1, 2, 32, 32))  # no hint: no colour
    color, mask = dots(32, (5, 7, [0.4, -0.2]))
    field = spread(page, color, mask)
    assert torch.allclose(
        field, torch.tensor([0.4, -0.2])[None, :, None, None].expand(1, 2, 32, 32), atol=1e-5
    )
    # Two dots: each pixel takes the colour of the dot at the finest scale that has one.
    color, mask = dots(32, (5, 7, [0.4, -0.2]), (28, 28, [-0.4, 0.3]))
    field = spread(page, color, mask)
    assert torch.allclose(field[0, :, 4, 4], torch.tensor([0.4, -0.2]), atol=0.05)
    assert torch.allclose(field[0, :, 29, 29], torch.tensor([-0.4, 0.3]), atol=0.05)


def paper_with_a_wall(size: int = 32) -> torch.Tensor:
    """White paper (scaled L 0.9) with a black ink line down column 15, a gap at the top rows."""
    page = torch.full((1, 1, size, size), 0.9)
    page[..., 4:, 15] = -0.9
    return page


def test_geodesic_fill_without_hints_is_empty_and_far():
    color, mask = dots(32)
    out = GeodesicFill()(paper_with_a_wall(), color, mask)
    assert out.shape == (1, 3, 32, 32) and torch.equal(out, torch.zeros(1, 3, 32, 32))


def test_geodesic_fill_stays_on_its_side_of_an_ink_line():
    # Two hints at the same straight-line distance from (20, 13), one on each side of the line:
    # the pixel takes the colour of the one on its own side, and the far side is less near.
    color, mask = dots(32, (20, 9, [0.5, -0.3]), (20, 19, [-0.2, 0.4]))
    out = GeodesicFill()(paper_with_a_wall(), color, mask)
    assert torch.allclose(out[0, :2, 20, 13], torch.tensor([0.5, -0.3]))
    assert torch.allclose(out[0, :2, 20, 17], torch.tensor([-0.2, 0.4]))
    # Nearness: 1 at a hint, falling with distance, and a path through the ink costs more than
    # the same number of steps on paper.
    nearness = out[0, 2]
    assert nearness[20, 9] == 1.0 and nearness[20, 19] == 1.0
    assert nearness[20, 10] > nearness[20, 12] > 0
    one_hint_color, one_hint_mask = dots(32, (20, 9, [0.5, -0.3]))
    alone = GeodesicFill()(paper_with_a_wall(), one_hint_color, one_hint_mask)[0]
    assert torch.allclose(alone[:2, 20, 25], torch.tensor([0.5, -0.3]))  # the only hint reaches
    assert alone[2, 20, 17] < alone[2, 20, 13] * 0.1  # ... but across the line it is far


def test_geodesic_fill_finds_the_way_round_through_a_gap():
    # A hint left of the line reaches the right side through the gap at the top, not across the
    # ink: its distance there is about the walk round (up, across, down), not the straight line.
    color, mask = dots(32, (28, 12, [0.5, -0.3]))
    out = GeodesicFill(edge_cost=1000.0)(paper_with_a_wall(), color, mask)
    distance = -torch.log(out[0, 2, 28, 18]) * 8.0
    walk_round = (28 - 3) + (18 - 12) + (28 - 3)
    assert abs(float(distance) - walk_round) <= 2.0


def test_geodesic_fill_grey_hint_differs_from_no_hint():
    # Colour 0 (grey) with the nearness channel says "grey here"; no hint says nothing.
    grey_color, grey_mask = dots(16, (8, 8, [0.0, 0.0]))
    with_grey = GeodesicFill()(torch.zeros(1, 1, 16, 16), grey_color, grey_mask)
    empty_color, empty_mask = dots(16)
    without = GeodesicFill()(torch.zeros(1, 1, 16, 16), empty_color, empty_mask)
    assert torch.equal(with_grey[:, :2], without[:, :2])
    assert with_grey[0, 2, 8, 8] == 1.0 and without[0, 2].max() == 0.0


@pytest.mark.parametrize("out_channels", [2, 3])
def test_the_copy_gate_gives_the_fill_chroma_where_open_and_g_own_where_shut(out_channels):
    generator = UNetGenerator(
        depth=4,
        width=8,
        max_width=16,
        upsample="resize",
        in_channels=out_channels + 2,
        out_channels=out_channels,
        hint_spread="geodesic",
    ).eval()
    inputs = torch.zeros(1, out_channels + 2, 32, 32)
    inputs[0, 1:-1, 3, 4] = torch.linspace(-0.5, 0.5, out_channels)  # one hint and its mask
    inputs[0, -1, 3, 4] = 1.0
    gate_bias = generator.head[0].bias
    with torch.no_grad():
        gate_bias[-1] = 30.0  # open everywhere: every pixel the one hint's chroma
        opened = generator(inputs)
        gate_bias[-1] = -30.0  # shut: G's own colour
        shut = generator(inputs)
    chroma = inputs[0, -3:-1, 3, 4]
    assert torch.allclose(opened[0, -2:], chroma[:, None, None].expand(2, 32, 32))
    assert not torch.allclose(shut[0, -2:], opened[0, -2:])
    if out_channels == 3:  # lightness is always G's own, whatever the gate
        assert torch.allclose(opened[:, :1], shut[:, :1])


def gated_lab_generator(**options) -> UNetGenerator:
    """A tiny full-colour geodesic generator with both gates, for setting their biases by hand."""
    return UNetGenerator(
        depth=4,
        width=8,
        max_width=16,
        upsample="resize",
        in_channels=5,
        out_channels=3,
        hint_spread="geodesic",
        **options,
    ).eval()


def test_the_lightness_gate_copies_the_hint_l_on_its_own():
    generator = gated_lab_generator(copy_lightness=True)
    inputs = torch.zeros(1, 5, 32, 32)
    inputs[0, 1:4, 3, 4] = torch.tensor(
        [0.6, -0.2, 0.3]
    )  # one pale hint (scaled L, a, b), its mask
    inputs[0, 4, 3, 4] = 1.0
    bias = generator.head[0].bias  # own L, a, b, then the chroma gate, then the lightness gate
    with torch.no_grad():
        bias[3], bias[4] = -30.0, 30.0  # the hint's L copied, G's own chroma
        lightness_only = generator(inputs)
        bias[3], bias[4] = 30.0, -30.0  # the hint's chroma copied, G's own L (its shading)
        chroma_only = generator(inputs)
    assert torch.allclose(lightness_only[0, 0], torch.full((32, 32), 0.6))
    assert not torch.allclose(lightness_only[0, 1:], chroma_only[0, 1:])
    assert torch.allclose(
        chroma_only[0, 1:], torch.tensor([-0.2, 0.3])[:, None, None].expand(2, 32, 32)
    )
    assert not torch.allclose(chroma_only[0, :1], lightness_only[0, :1])


def test_relative_lightness_moves_the_page_by_the_hints_offset_from_its_page():
    """copy_lightness=relative: where the L gate opens, the page's own L plus the hint's offset
    from the page where it lies, so the page's shading is kept and only shifted."""
    generator = gated_lab_generator(copy_lightness="relative", fill_cues=True)
    page = torch.linspace(-0.2, 0.4, 32)[None, :].expand(32, 32)  # smooth shading, no lines
    inputs = torch.zeros(1, 5, 32, 32)
    inputs[0, 0] = page
    inputs[0, 1:4, 3, 4] = torch.tensor([0.6, -0.2, 0.3])  # one pale hint (scaled L, a, b)
    inputs[0, 4, 3, 4] = 1.0
    bias = generator.head[0].bias  # own L, a, b, then the chroma gate, then the lightness gate
    with torch.no_grad():
        bias[4] = 30.0  # the lightness gate open everywhere
        opened = generator(inputs)
    offset = 0.6 - page[3, 4]  # the hint's L against the page's L under it
    assert torch.allclose(opened[0, 0], (page + offset).clamp(-1, 1), atol=1e-5)
    # at the hint itself, the hint's own L
    assert torch.allclose(opened[0, 0, 3, 4], torch.tensor(0.6), atol=1e-5)


def test_relative_lightness_needs_the_fill_cues_and_copy_lightness_a_known_value():
    options = dict(depth=4, width=8, in_channels=5, out_channels=3, hint_spread="geodesic")
    with pytest.raises(ValueError, match="copy_lightness=relative .* needs fill_cues=true"):
        UNetGenerator(**options, copy_lightness="relative")
    with pytest.raises(ValueError, match="copy_lightness must be false, true or relative"):
        UNetGenerator(**options, copy_lightness="absolute", fill_cues=True)


@pytest.mark.parametrize(
    ("hint_spread", "out_channels"), [(True, 3), ("geodesic", 2)], ids=["push-pull", "ab"]
)
def test_copy_lightness_needs_a_full_colour_geodesic_generator(hint_spread, out_channels):
    with pytest.raises(ValueError, match="copy_lightness copies the hints' L"):
        UNetGenerator(
            depth=4,
            width=8,
            in_channels=out_channels + 2,
            out_channels=out_channels,
            hint_spread=hint_spread,
            copy_lightness=True,
        )


def test_the_copy_gate_needs_a_hint_colour_as_wide_as_the_output():
    with pytest.raises(ValueError, match="must have the output's 3 channels"):
        UNetGenerator(depth=4, width=8, in_channels=4 - 1, out_channels=3, hint_spread="geodesic")


def test_fill_cues_give_the_far_nearness_and_the_page_grey_at_the_nearest_hint():
    page = paper_with_a_wall()
    page[..., 16:, :15] = 0.2  # a grey tone left of the line, below the middle
    color, mask = dots(32, (20, 9, [0.5, -0.3]), (2, 25, [-0.2, 0.4]))
    plain = GeodesicFill()(page, color, mask)
    cued = GeodesicFill(cues=True)(page, color, mask)
    assert cued.shape == (1, 5, 32, 32)
    assert torch.equal(cued[:, :3], plain)  # the colour and the nearness are as without cues
    far, grey_there = cued[0, 3], cued[0, 4]
    # each pixel is told the page's grey where its nearest hint lies: the tone, or the paper
    assert torch.allclose(grey_there[24, 5], torch.tensor(0.2))
    assert torch.allclose(grey_there[28, 25], torch.tensor(0.9))
    # Where the near nearness has all but vanished behind the tone's edge, the far one still
    # tells a pixel one edge away from one further off.
    alone = GeodesicFill(cues=True)(page, *dots(32, (20, 9, [0.5, -0.3])))[0]
    assert alone[2, 10, 5] < 1e-3 and alone[3, 10, 5] > 0.2
    assert alone[3, 20, 9] == 1.0 and alone[3, 10, 5] > alone[3, 28, 25] > 0.0
    assert far[2, 25] == 1.0
    no_color, no_mask = dots(32)
    assert torch.equal(GeodesicFill(cues=True)(page, no_color, no_mask), torch.zeros(1, 5, 32, 32))


def test_a_generator_with_fill_cues_sees_them_and_keeps_its_output():
    torch.manual_seed(0)
    cued = UNetGenerator(
        depth=4, width=8, in_channels=5, out_channels=3, hint_spread="geodesic", fill_cues=True
    )
    plain = UNetGenerator(depth=4, width=8, in_channels=5, out_channels=3, hint_spread="geodesic")
    # two channels more at the first and the last convolution, nothing else
    assert cued.down[0][0].in_channels == plain.down[0][0].in_channels + 2
    color, mask = dots(32, (20, 9, [0.5, -0.3]))
    hinted = torch.cat([paper_with_a_wall(), torch.zeros(1, 1, 32, 32), color, mask], dim=1)
    assert cued(hinted).shape == (1, 3, 32, 32)


@pytest.mark.parametrize("hint_spread", [False, True])
def test_fill_cues_need_the_geodesic_fill(hint_spread):
    with pytest.raises(ValueError, match="fill_cues are the geodesic fill's"):
        UNetGenerator(
            depth=4, width=8, in_channels=5, out_channels=3, hint_spread=hint_spread, fill_cues=True
        )
