"""Colour hints simulated from the true colour windows: a function of the draw's seed alone, in the
generator's output space, at each page's scale; the data module adds them only when asked."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch
from helpers.pages import make_pages

from mangacolor.color import AB_SCALE, L_SCALE, rgb_to_scaled_lab
from mangacolor.data.datamodule import PagesDataModule
from mangacolor.data.hint_simulation import (
    HintSimulationSettings,
    draw_hints,
    hint_scales,
    largest_hint_scale,
    simulate_hints,
)
from mangacolor.data.pages import collate_pages
from mangacolor.data.print_styles import Draw
from mangacolor.data.transforms import NativeWindows
from mangacolor.data.window_inputs import native_hints
from mangacolor.runtime.config_errors import ConfigError

ON = HintSimulationSettings(enabled=True, predicts="lab")
EXACT = dataclasses.replace(ON, misplacement=0.0, lightness_noise=0.0, ab_noise=0.0)


def generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def lab_of(rgb: torch.Tensor) -> torch.Tensor:
    return torch.cat(rgb_to_scaled_lab(rgb), dim=1)


def flat_pages(colors: list[tuple[float, float, float]], side: int = 16) -> torch.Tensor:
    return (
        torch.tensor(colors, dtype=torch.float32)[:, :, None, None]
        .expand(-1, -1, side, side)
        .contiguous()
    )


def half_colored(batch: int, side: int = 16) -> torch.Tensor:
    """Windows whose left half is red, right half white paper."""
    rgb = torch.ones(batch, 3, side, side)
    rgb[:, 1:, :, : side // 2] = 0.15
    return rgb


def simulate(rgb, settings=ON, seed=0, scale=1.0, counts=None):
    scales = torch.full((rgb.shape[0],), scale)
    return simulate_hints(rgb, scales, scale, generator(seed), settings, counts=counts)


def draws(rgb, settings, seed=0, scale=1.0):
    largest = min(max(1, round(settings.size[1] * scale)), *rgb.shape[-2:])
    scales = torch.full((rgb.shape[0],), scale)
    return draw_hints(lab_of(rgb), scales, largest, Draw(generator(seed), rgb.device), settings)


# ---- settings ------------------------------------------------------------------------------------
def compose(overrides: list[str]):
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    from mangacolor.runtime.bundled import config_dir, register_resolvers

    register_resolvers()
    with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
        return hydra_compose("train", overrides=["paths.run_dir=/tmp/unused", *overrides])


def test_the_configs_ranges_are_the_codes_defaults_and_hints_are_off():
    from omegaconf import OmegaConf

    for overrides in ([], ["+experiment=seed"]):
        hints = OmegaConf.to_container(compose(overrides).data.hints, resolve=True)
        assert HintSimulationSettings.from_config(hints) == HintSimulationSettings()
    # The hint colour follows the generator's output space.
    demo = compose(["+experiment=demo", "data.hints.enabled=true"]).data.hints
    assert (
        HintSimulationSettings.from_config(OmegaConf.to_container(demo, resolve=True)).predicts
        == "lab"
    )


@pytest.mark.parametrize(
    "key, value",
    [
        ("none", 1.5),
        ("size", [9, 1]),
        ("size", 3),
        ("stroke_squares", [2.5, 4]),
        ("most", 0),
        ("mean_count", 100),
        ("predicts", "rgb"),
        ("val_count", 0),
        ("val_count", 2.5),
        ("enabled", "yes"),
        ("chroma", -1),
        ("colour", 1),
    ],
)
def test_bad_values_are_refused_naming_the_key(key, value):
    with pytest.raises(ConfigError, match=f"data.hints.*{key}"):
        HintSimulationSettings.from_config(
            {"enabled": True, key: value} if key != "enabled" else {key: value}
        )


def test_the_scale_follows_the_page_and_the_shrink():
    # A 2,400 px page (twice the scan size) whose 1,024 px window is shrunk to 512: one working
    # pixel per scan pixel; a small page whose whole 256 px window is shrunk to 64: 64 / 1,200.
    sizes = torch.tensor([[2400, 3000], [256, 200]])
    sides = torch.tensor([1024, 200])
    assert torch.allclose(
        hint_scales(sizes.min(1).values, sides, 512, 1200.0), torch.tensor([1.0, 512 / 1200])
    )
    assert largest_hint_scale(3000, 1024, 512, 1200.0) >= 1.25


def test_squares_grow_with_the_scale_and_never_vanish():
    settings = dataclasses.replace(EXACT, size=(9.0, 9.0), strokes=0.0, none=0.0)
    one = torch.ones(1, dtype=torch.long)
    _, big = simulate(half_colored(1, 32), settings, scale=1.0, counts=one)
    _, tiny = simulate(half_colored(1, 32), settings, scale=0.02, counts=one)
    assert big.sum() == 81 and tiny.sum() == 1


# ---- the draw ------------------------------------------------------------------------------------
def test_the_same_seed_gives_the_same_hints_and_another_seed_others():
    rgb = torch.rand(6, 3, 24, 24, generator=generator(3))
    color, mask = simulate(rgb, seed=5)
    again_color, again_mask = simulate(rgb, seed=5)
    assert torch.equal(color, again_color) and torch.equal(mask, again_mask)
    other_color, other_mask = simulate(rgb, seed=6)
    assert not torch.equal(mask, other_mask) or not torch.equal(color, other_color)


@pytest.mark.parametrize("predicts, channels", [("ab", 2), ("lab", 3)])
def test_the_maps_are_in_the_generators_output_space_with_an_exact_mask(predicts, channels):
    rgb = torch.rand(8, 3, 20, 20, generator=generator(1))
    color, mask = simulate(rgb, dataclasses.replace(ON, predicts=predicts))
    assert color.shape == (8, channels, 20, 20) and mask.shape == (8, 1, 20, 20)
    assert color.dtype == torch.float32 and mask.dtype == torch.float32
    assert set(mask.unique().tolist()) <= {0.0, 1.0} and mask.sum() > 0
    assert torch.equal(color * (1 - mask), torch.zeros_like(color))  # zero where there is no hint
    lab_color, lab_mask = simulate(rgb, dataclasses.replace(ON, predicts="lab"))
    assert torch.equal(mask, lab_mask) and torch.equal(color, lab_color[:, 3 - channels :])


def test_each_colour_is_the_truths_mean_over_its_square():
    rgb = torch.rand(16, 3, 24, 24, generator=generator(2))
    settings = dataclasses.replace(EXACT, size=(3.0, 3.0), strokes=0.0, none=0.0)
    color, mask = simulate(rgb, settings, counts=torch.ones(16, dtype=torch.long))
    lab = lab_of(rgb)
    for image in range(16):  # one 3 x 3 square each
        rows, cols = mask[image, 0].nonzero(as_tuple=True)
        assert len(rows) == 9
        square = (
            slice(None),
            slice(int(rows.min()), int(rows.max()) + 1),
            slice(int(cols.min()), int(cols.max()) + 1),
        )
        truth = lab[image][square].mean((1, 2))
        assert torch.allclose(
            color[image][square], truth[:, None, None].expand(-1, 3, 3), atol=1e-5
        )


def test_colours_are_off_the_truth_by_no_more_than_the_noise():
    colors = [
        (0.9, 0.2, 0.2),
        (0.2, 0.4, 0.9),
        (1.0, 1.0, 1.0),
        (0.5, 0.5, 0.5),
        (0.1, 0.7, 0.3),
    ] * 8
    rgb = flat_pages(colors)  # flat windows: a misplaced square still holds the truth's colour
    settings = dataclasses.replace(ON, none=0.0, lightness_noise=2.0, ab_noise=3.0)
    color, mask = simulate(rgb, settings)
    truth = lab_of(rgb)[:, :, :1, :1]
    bound = (
        torch.tensor([2.0 / L_SCALE, 3.0 / AB_SCALE, 3.0 / AB_SCALE])[None, :, None, None] + 1e-5
    )
    off = (color - truth).abs() * mask
    assert (off <= bound).all()
    assert off.amax() > 0.5 * bound.amin()  # and there is noise


def test_a_share_of_images_gets_no_hint():
    rgb = half_colored(4000, 8)
    _, mask = simulate(rgb, dataclasses.replace(ON, none=0.3))
    share = (mask.sum((1, 2, 3)) == 0).float().mean()
    assert abs(share - 0.3) < 3 * math.sqrt(0.3 * 0.7 / 4000)
    _, always = simulate(rgb[:200], dataclasses.replace(ON, none=0.0))
    assert (always.sum((1, 2, 3)) > 0).all()


@pytest.mark.parametrize("mean_count, most", [(8.0, 64), (4.0, 6)])
def test_the_count_follows_the_configured_mean_and_cap(mean_count, most):
    settings = dataclasses.replace(ON, none=0.0, dense=0.0, mean_count=mean_count, most=most)
    hints = draws(half_colored(4000, 8), settings)
    counts = hints.active[..., 0].sum(1).float()
    assert counts.min() >= 1 and counts.max() <= most
    expected = settings.expected_count()
    r = settings.continuation
    spread = math.sqrt(r) / (
        1 - r
    )  # the uncapped geometric's standard deviation bounds the capped one's
    assert abs(counts.mean() - expected) < 4 * spread / math.sqrt(4000)
    if most > 10:
        assert abs(expected - mean_count) < 0.01  # the cap barely bites


def test_a_share_of_hinted_images_gets_a_dense_count():
    settings = dataclasses.replace(ON, none=0.0, dense=0.5, dense_from=16, most=64)
    counts = draws(half_colored(4000, 8), settings).active[..., 0].sum(1).float()
    dense = counts >= 16
    # the geometric count (mean 8) reaches 16 with probability (7/8)**15, about 0.13
    sparse_reaching = (7 / 8) ** 15
    assert abs(dense.float().mean() - (0.5 + 0.5 * sparse_reaching)) < 0.03
    assert counts.max() == 64 and counts.min() >= 1
    # dense counts are uniform in [16, 64]: every value is drawn, with about equal frequency
    values = torch.bincount(counts[counts >= 16].long() - 16, minlength=49)
    assert (values > 0).all()
    assert abs(counts.mean() - settings.expected_count()) < 0.6
    assert abs(settings.expected_count() - (0.5 * 8 + 0.5 * 40)) < 0.1


def test_dense_counts_leave_every_earlier_draw_as_it_was():
    rgb = half_colored(64, 8)
    sparse = draws(rgb, dataclasses.replace(ON, none=0.0, dense=0.0))
    dense = draws(rgb, dataclasses.replace(ON, none=0.0, dense=1.0))
    # the same squares and colours; only how many of them are active (the first `count`) differs
    assert torch.equal(sparse.rows, dense.rows) and torch.equal(sparse.cols, dense.cols)
    assert torch.equal(sparse.color, dense.color)
    for hints in (sparse, dense):
        active = hints.active[..., 0]
        first = torch.arange(active.shape[1]) < active.sum(1, keepdim=True)
        assert torch.equal(active, first)
    assert (dense.active[..., 0].sum(1) >= 16).all()


def test_dense_from_may_not_exceed_the_cap():
    with pytest.raises(ConfigError, match=r"data.hints.dense_from \(70\) must not exceed"):
        HintSimulationSettings.from_config({"dense_from": 70})
    with pytest.raises(ConfigError, match="data.hints.dense_from must be a whole number"):
        HintSimulationSettings.from_config({"dense_from": 2.5})


def test_strokes_are_several_squares_and_dots_one():
    rgb = flat_pages([(0.9, 0.2, 0.2)] * 50, side=32)
    # squares small beside the 32 px window, so that a stroke seldom meets its edge
    small = dataclasses.replace(ON, size=(1.0, 9.0))
    strokes = draws(rgb, dataclasses.replace(small, none=0.0, strokes=1.0, stroke_squares=(4, 4)))
    hinted = strokes.active[..., 0]
    squares = strokes.active.sum(-1)[hinted]
    assert (squares >= 2).float().mean() > 0.8  # a stroke only ends early at the window's edge
    _, mask = simulate(
        rgb,
        dataclasses.replace(EXACT, none=0.0, strokes=1.0, size=(1.0, 1.0)),
        counts=torch.ones(50, dtype=torch.long),
    )
    assert (mask.sum((1, 2, 3)) > 1).float().mean() > 0.8
    dots = draws(rgb, dataclasses.replace(ON, none=0.0, strokes=0.0))
    assert not dots.active[..., 1:].any()


def test_a_stroke_stops_where_the_colour_changes():
    rgb = half_colored(200, 32)
    settings = dataclasses.replace(
        EXACT, none=0.0, strokes=1.0, neutral=0.0, size=(1.0, 1.0), stroke_squares=(8, 8)
    )
    _, mask = simulate(rgb, settings)
    assert mask[..., 16:].sum() == 0  # started on red, never onto the paper


@pytest.mark.parametrize("neutral", [0.0, 1.0])
def test_hints_lie_on_colour_or_on_paper_as_asked(neutral):
    rgb = half_colored(100, 16)
    settings = dataclasses.replace(
        EXACT, none=0.0, strokes=0.0, neutral=neutral, neutral_images=1.0, size=(1.0, 1.0)
    )
    _, mask = simulate(rgb, settings)
    on_color = mask[..., :8].sum()
    assert (on_color == mask.sum()) if neutral == 0.0 else (on_color == 0)


def test_only_a_share_of_images_gets_hints_on_paper_and_every_other_draw_stays():
    rgb = half_colored(400, 16)
    settings = dataclasses.replace(EXACT, none=0.0, strokes=0.0, neutral=1.0, size=(1.0, 1.0))
    every = draws(rgb, dataclasses.replace(settings, neutral_images=1.0))
    some = draws(rgb, dataclasses.replace(settings, neutral_images=0.25))
    assert torch.equal(every.active, some.active)  # the counts and everything drawn before
    _, mask = simulate(rgb, dataclasses.replace(settings, neutral_images=0.25))
    on_paper = mask[..., 8:].sum((1, 2, 3)) > 0
    assert abs(on_paper.float().mean() - 0.25) < 0.07
    assert (mask[on_paper][..., :8].sum() == 0) and (mask[~on_paper][..., 8:].sum() == 0)


# ---- hints drawn at the pages' own resolution --------------------------------------------------
def test_hints_are_drawn_inside_each_windows_own_square():
    rgb = torch.ones(50, 3, 32, 32)
    rgb[:, 1:, 20:, 20:] = 0.15  # red only beyond the 16 x 16 window each image holds
    rgb[:, 1:, :4, :4] = 0.15  # and a little inside it
    settings = dataclasses.replace(EXACT, none=0.0, neutral=0.0, size=(1.0, 1.0))
    scales = torch.ones(50)
    _, mask = simulate_hints(rgb, scales, 1.0, generator(0), settings, valid=torch.full((50,), 16))
    assert mask[..., 16:, :].sum() == 0 and mask[..., 16:].sum() == 0
    assert mask[..., :4, :4].sum() > 0


def test_native_hints_shrink_as_the_rasteriser_shrinks_a_painted_layer():
    color, mask = torch.zeros(2, 3, 64, 64), torch.zeros(2, 1, 64, 64)
    color[0, :, 9, 13], mask[0, 0, 9, 13] = torch.tensor([0.5, 0.3, -0.2]), 1.0
    color[0, :, 10, 14], mask[0, 0, 10, 14] = torch.tensor([0.1, -0.3, 0.2]), 1.0  # same footprint
    color[1, :, 39, 0], mask[1, 0, 39, 0] = 0.7, 1.0  # window 1 is 40 px, mirrored
    color[1, :, 50, 50], mask[1, 0, 50, 50] = 0.7, 1.0  # past its 40 px: not part of the window
    windows = NativeWindows(
        torch.zeros(2, 3, 64, 64), torch.tensor([64, 40]), torch.tensor([False, True]), 16
    )
    shrunk_color, shrunk_mask = native_hints(color, mask, windows)
    assert shrunk_mask.shape == (2, 1, 16, 16) and set(shrunk_mask.unique().tolist()) == {0.0, 1.0}
    assert shrunk_mask[0, 0].nonzero().tolist() == [[2, 3]]  # one working pixel, 4 x 4 native
    assert torch.allclose(shrunk_color[0, :, 2, 3], torch.tensor([0.3, 0.0, 0.0]))  # their mean
    assert shrunk_mask[1, 0].nonzero().tolist() == [[15, 15]]  # bottom left, mirrored
    assert torch.allclose(shrunk_color[1, :, 15, 15], torch.full((3,), 0.7))
    assert shrunk_color.masked_select(shrunk_mask == 0).abs().max() == 0


def test_a_dot_on_a_line_thinner_than_a_working_pixel_keeps_the_lines_colour():
    """Drawn at the training size the dot would average the line into the paper beside it; drawn on
    the page, as a user places it, it says the line's own colour."""
    page = torch.ones(20, 3, 64, 64)
    page[:, 1:, :, 30:32] = (
        0.15  # a red line 2 px wide on white paper, a quarter of a working pixel
    )
    settings = dataclasses.replace(EXACT, none=0.0, neutral=0.0, strokes=0.0, size=(1.0, 1.0))
    drawn = simulate_hints(
        page, torch.ones(20), 1.0, generator(0), settings, valid=torch.full((20,), 64)
    )
    windows = NativeWindows(page, torch.full((20,), 64), None, 8)
    color, mask = native_hints(*drawn, windows)
    red = lab_of(page[:1, :, :1, 30:31])[0, :, 0, 0]
    hinted = color.permute(0, 2, 3, 1)[mask[:, 0] > 0]
    assert hinted.shape[0] >= 20 and torch.allclose(hinted, red.expand_as(hinted), atol=1e-4)
    shrunk_truth = lab_of(windows.shrink(page))[0, :, 0, 3]  # the working pixel the line is in
    assert shrunk_truth[1] < red[1] / 2  # where the network sees a mostly white pixel


# ---- the data module -----------------------------------------------------------------------------
def datamodule(tmp_path, hints=None, **options) -> PagesDataModule:
    if not (tmp_path / "train").exists():
        make_pages(tmp_path / "train", 6, (64, 48))
        make_pages(tmp_path / "val", 4, (64, 48), seed=1)
    dm = PagesDataModule(
        train_dir=str(tmp_path / "train"),
        val_dir=str(tmp_path / "val"),
        size=16,
        window=32,
        batch_size=4,
        num_workers=0,
        hints=hints,
        **options,
    )
    dm.setup("fit")
    return dm


def loaded(dm: PagesDataModule, train: bool) -> dict:
    return next(iter(dm.train_dataloader() if train else dm.val_dataloader()))


PRINTED = {"input_styles": {"plain": 1.0, "screentone": 1.0, "lines": 1.0, "flat": 1.0}}


@pytest.mark.parametrize("options", [{}, PRINTED], ids=["plain", "printed"])
def test_hints_off_changes_no_batch_and_on_only_adds_to_it(tmp_path, options):
    plain = datamodule(tmp_path, None, **options)
    off = datamodule(tmp_path, {"enabled": False, "predicts": "lab"}, **options)
    on = datamodule(tmp_path, {"enabled": True, "predicts": "lab"}, **options)
    for train in (True, False):
        batch = loaded(plain, train)
        reference = plain.to_lab_batch(batch, train=train, batch_number=3)
        assert "hint_color" not in reference and "hint_mask" not in reference
        unchanged = off.to_lab_batch(batch, train=train, batch_number=3)
        hinted = on.to_lab_batch(batch, train=train, batch_number=3)
        assert unchanged.keys() == reference.keys()
        for key in ("L", "ab", "input"):
            assert torch.equal(unchanged[key], reference[key]) and torch.equal(
                hinted[key], reference[key]
            )
        assert hinted["hint_color"].shape == (4, 3, 16, 16) and hinted["hint_mask"].shape == (
            4,
            1,
            16,
            16,
        )


@pytest.mark.parametrize("options", [{}, PRINTED], ids=["plain", "printed"])
def test_training_hints_are_a_function_of_the_batch_number(tmp_path, options):
    dm = datamodule(tmp_path, {"enabled": True, "none": 0.0}, **options)
    batch = loaded(dm, True)
    first = dm.to_lab_batch(batch, train=True, batch_number=1)
    again = datamodule(tmp_path, {"enabled": True, "none": 0.0}, **options).to_lab_batch(
        batch, train=True, batch_number=1
    )
    later = dm.to_lab_batch(batch, train=True, batch_number=2)
    assert first["hint_color"].shape[1] == 2  # ab by default
    assert torch.equal(first["hint_mask"], again["hint_mask"]) and torch.equal(
        first["hint_color"], again["hint_color"]
    )
    assert not torch.equal(first["hint_mask"], later["hint_mask"])


@pytest.mark.parametrize("options", [{}, PRINTED], ids=["plain", "printed"])
def test_a_validation_page_keeps_its_hints_whatever_its_batch(tmp_path, options):
    dm = datamodule(tmp_path, {"enabled": True, "none": 0.0}, **options)
    batch = loaded(dm, False)
    whole = dm.to_lab_batch(batch, train=False)
    # The same pages in reverse order, and the last page alone: each keeps its own hints.
    reverse = collate_pages(
        [
            {"path": p, "image": img, "unreadable": []}
            for p, img in reversed(list(zip(batch["paths"], unpadded(batch), strict=True)))
        ]
    )
    backwards = dm.to_lab_batch(reverse, train=False)
    assert torch.equal(backwards["hint_mask"].flip(0), whole["hint_mask"])
    assert torch.equal(backwards["hint_color"].flip(0), whole["hint_color"])
    assert not torch.equal(whole["hint_mask"][0], whole["hint_mask"][1])  # but not one draw for all


def unpadded(batch: dict) -> list[torch.Tensor]:
    return [
        page[:, : int(h), : int(w)]
        for page, (h, w) in zip(batch["pages"], batch["sizes"], strict=True)
    ]
