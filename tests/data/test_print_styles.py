"""Black-and-white inputs made from colour windows: each style makes what it claims, at each page's
scale, from its seed alone; the data module wires them into batches and keeps the seed's path."""

from __future__ import annotations

import dataclasses
import io

import numpy as np
import pytest
import torch
from helpers.pages import make_pages
from kornia.color import lab_to_rgb, rgb_to_lab
from PIL import Image

from mangacolor.color import lightness_as_rgb, rgb_to_scaled_lab
from mangacolor.data.datamodule import PagesDataModule
from mangacolor.data.pages import collate_pages
from mangacolor.data.print_renderers import RENDERERS, jpeg_grey
from mangacolor.data.print_settings import (
    FlatSettings,
    LineSettings,
    PrintSettings,
    ScanSettings,
    ScreenSettings,
    ToneSettings,
    style_probabilities,
)
from mangacolor.data.print_styles import (
    choose_styles,
    page_seed,
    page_style,
    print_page,
    print_windows,
)
from mangacolor.data.transforms import PageCropper
from mangacolor.styles import PLAIN, STYLES

CLEAN_SCAN = ScanSettings(
    paper=(1.0, 1.0),
    ink=(0.0, 0.0),
    shading=(0.0, 0.0),
    blur=(0.0, 0.0),
    noise=(0.0, 0.0),
    jpeg=0.0,
    ink_weight=(0.0, 0.0),
)
LINEAR_TONE = ToneSettings(white=(0.95, 0.95), black=(0.05, 0.05), gamma=(1.0, 1.0))
MIX = {"plain": 0.25, "screentone": 0.35, "lines": 0.2, "flat": 0.2}


def clean(side: float, kind: str = "round", period: float = 8.0, **screen) -> PrintSettings:
    """No scan degradations, a linear tone curve, one screen of `kind` at `period` px on a page of
    short side `side` (scale 1)."""
    options = {
        "period": (period, period),
        "kinds": {kind: 1.0},
        "regions": (1, 1),
        "darkest": (1.0, 1.0),
        "steps": 0.0,
        "angle_45": 1.0,
        **screen,
    }
    return PrintSettings(
        scan_short_side=side,
        tone=LINEAR_TONE,
        screentone=ScreenSettings(**options),
        scan=CLEAN_SCAN,
    )


def grey_values(lightness: torch.Tensor) -> torch.Tensor:
    """Scaled L (B, 1, H, W) -> the grey page's values in [0, 1] (B, H, W)."""
    return lightness_as_rgb(lightness)[:, 0]


def flat_grey_page(value: float, size: int) -> torch.Tensor:
    return torch.full((1, 3, size, size), value)


def peak_frequency(values: torch.Tensor) -> float:
    """Radial frequency (cycles per pixel) of the strongest periodic component of a 2-D image."""
    spectrum = torch.fft.fft2(values - values.mean()).abs()
    fy = torch.fft.fftfreq(values.shape[0])[:, None]
    fx = torch.fft.fftfreq(values.shape[1])[None, :]
    index = int(spectrum.argmax())
    row, col = divmod(index, values.shape[1])
    return float(torch.sqrt(fy[row, 0] ** 2 + fx[0, col] ** 2))


# ---- each style makes what it claims ---------------------------------------------------------------
def test_plain_is_the_windows_own_lightness():
    rgb = torch.rand(2, 3, 40, 40, generator=torch.Generator().manual_seed(0))
    out = print_windows(rgb, ["plain", "plain"], torch.ones(2), torch.Generator(), PrintSettings())
    assert torch.equal(out, rgb_to_scaled_lab(rgb)[0])


@pytest.mark.parametrize("kind", ["round", "square", "lines", "hatching"])
def test_screentone_is_ink_on_paper_and_its_coverage_follows_lightness(kind):
    """Flat patches of five greys: each patch is black ink and white paper only (bar the pixels a dot's
    edge cuts), and its ink covers (white - L) / (white - black) of it, the linear tone curve."""
    greys = [0.2, 0.35, 0.5, 0.65, 0.8]
    rgb = torch.cat([flat_grey_page(g, 96) for g in greys], dim=-1)
    page = grey_values(
        print_page(rgb, "screentone", seed=1, settings=clean(96, kind, period=12.0))
    )[0]
    for i, g in enumerate(greys):
        patch = page[
            16:80, 96 * i + 16 : 96 * i + 80
        ]  # away from the lines XDoG draws at the patch edges
        binary = ((patch < 0.15) | (patch > 0.85)).float().mean()  # the rest: antialiased dot edges
        assert binary > 0.75, (kind, g, float(binary))
        lightness = float(rgb_to_lab(torch.full((1, 3, 1, 1), g))[0, 0]) / 100
        expected = (0.95 - lightness) / 0.9
        assert float(1 - patch.mean()) == pytest.approx(expected, abs=0.03), (kind, g)


def test_screentone_dots_sit_at_the_requested_period_at_any_page_size():
    """The period is given at scan size and scaled to each page: the same page at 256 and 512 px has
    its dots at the same period relative to its size, and at the requested period in pixels."""
    settings = clean(512, "round", period=10.0)  # 10 px on a 512 px page, 5 px on a 256 px one
    for side in (256, 512):
        page = grey_values(
            print_page(flat_grey_page(0.6, side), "screentone", seed=4, settings=settings)
        )[0]
        period = 10.0 * side / 512
        assert peak_frequency(page) == pytest.approx(1 / period, abs=1.5 / side), side


def test_screens_finer_than_a_pixel_print_as_their_tone():
    """A screen whose period is under a pixel (print-size dots on a small page) cannot be drawn: it
    comes out as its tone, as a scan of it would, not as aliased stripes."""
    settings = clean(4096, "round", period=8.0)  # 8 px at 4096 px: 0.5 px on this 256 px page
    page = grey_values(
        print_page(flat_grey_page(0.5, 256), "screentone", seed=0, settings=settings)
    )[0]
    inner = page[8:-8, 8:-8]
    assert float(inner.std()) < 0.02
    lightness = float(rgb_to_lab(torch.full((1, 3, 1, 1), 0.5))[0, 0]) / 100
    assert float(1 - inner.mean()) == pytest.approx((0.95 - lightness) / 0.9, abs=0.03)


def test_screen_tone_steps_are_ten_percent_sheets():
    settings = clean(96, "round", period=8.0, steps=1.0)
    rgb = torch.cat([flat_grey_page(g, 96) for g in (0.3, 0.55, 0.75)], dim=-1)
    page = grey_values(print_page(rgb, "screentone", seed=2, settings=settings))[0]
    for i in range(3):
        coverage = float(1 - page[16:80, 96 * i + 16 : 96 * i + 80].mean())
        assert abs(coverage * 10 - round(coverage * 10)) < 0.4, coverage


def test_several_screens_in_one_page_follow_its_colour_regions():
    """With two regions per page, a page half red, half blue often gets a different screen on each
    half (when the two colours picked for the regions fall in different halves); with one, never."""
    rgb = torch.zeros(1, 3, 128, 256)
    rgb[:, 0, :, :128], rgb[:, 2, :, 128:] = 0.8, 0.8

    def pages_with_two_screens(regions: int) -> int:
        settings = dataclasses.replace(
            clean(128),
            screentone=ScreenSettings(
                period=(6.0, 12.0),
                kinds={"round": 0.5, "lines": 0.5},
                regions=(regions, regions),
                darkest=(0.6, 0.6),
                steps=0.0,
                angle_45=0.0,
            ),
        )
        count = 0
        for seed in range(12):
            page = grey_values(print_page(rgb, "screentone", seed=seed, settings=settings))[0]
            left, right = page[16:112, 16:112], page[16:112, 144:240]
            count += abs(peak_frequency(left) - peak_frequency(right)) > 0.01
        return count

    assert pages_with_two_screens(1) == 0
    assert pages_with_two_screens(2) >= 3  # about half of 12 expected


def edge_distance_mask(rgb: torch.Tensor, reach: int) -> torch.Tensor:
    """(H, W) True within `reach` pixels of a colour edge of an RGB page (1, 3, H, W)."""
    dy = (rgb[..., 1:, :] - rgb[..., :-1, :]).abs().amax(1)[0] > 0.02
    dx = (rgb[..., :, 1:] - rgb[..., :, :-1]).abs().amax(1)[0] > 0.02
    edges = torch.zeros(rgb.shape[-2:], dtype=torch.bool)
    edges[1:, :] |= dy
    edges[:, 1:] |= dx
    near = torch.nn.functional.max_pool2d(edges[None, None].float(), 2 * reach + 1, 1, reach)[0, 0]
    return near > 0


def test_lines_are_drawn_where_the_colour_page_has_edges_and_nowhere_else():
    """Ink lines lie along every edge of the colour page, colour edges of equal lightness included,
    and the flat areas stay paper."""
    lab = torch.zeros(1, 3, 128, 128)
    lab[:, 0] = 60.0
    lab[:, 1, :, :64] = 50.0  # left half red-ish, right half green-ish, both L = 60
    lab[:, 1, :, 64:] = -45.0
    lab[:, 0, 40:90, 20:50] = 30.0  # and a darker square on the left
    rgb = lab_to_rgb(lab).clamp(0, 1)
    settings = PrintSettings(
        scan_short_side=128,
        tone=LINEAR_TONE,
        scan=CLEAN_SCAN,
        lines=LineSettings(
            sigma=(1.0, 1.0),
            k=(2.0, 2.0),
            tau=(0.98, 0.98),
            epsilon=(-0.01, -0.01),
            phi=(100.0, 100.0),
            fills=0.0,
        ),
    )
    page = grey_values(print_page(rgb, "lines", seed=0, settings=settings))[0]
    ink = page < 0.5
    near_edges = edge_distance_mask(rgb, reach=4)  # XDoG's wide Gaussian reaches 2 sigma
    assert ink.any() and not (ink & ~near_edges).any()
    assert (page[~edge_distance_mask(rgb, reach=6)] > 0.95).all()  # flat areas are paper
    boundary_rows = [r for r in range(8, 120) if not 35 <= r <= 95]  # the hue edge at x = 64
    assert all(ink[r, 60:68].any() for r in boundary_rows)
    assert all(ink[r, 16:54].any() for r in range(45, 85))  # the square's sides


def test_flat_is_a_few_greys_plus_ink():
    rgb = torch.linspace(0, 1, 256).view(1, 1, 1, 256).expand(1, 3, 64, 256).contiguous()
    settings = PrintSettings(
        scan_short_side=64,
        tone=LINEAR_TONE,
        scan=CLEAN_SCAN,
        flat=FlatSettings(levels=(3, 3), darkest=(0.6, 0.6)),
    )
    page = grey_values(print_page(rgb, "flat", seed=0, settings=settings))[0]
    values, counts = (page * 255).round().unique(return_counts=True)
    common = values[counts.argsort(descending=True)][:5]
    covered = sum(int(counts[values == v]) for v in common) / page.numel()
    assert covered > 0.97  # paper, ink and three greys
    assert {0.0, 255.0} <= set(common.tolist())


def test_scan_degradations_blur_noise_and_compress_the_page():
    settings = clean(96, period=8.0)
    rgb = flat_grey_page(0.5, 96)
    crisp = grey_values(print_page(rgb, "screentone", seed=3, settings=settings))[0]
    scanned = dataclasses.replace(
        settings,
        scan=ScanSettings(
            paper=(0.9, 0.9),
            ink=(0.1, 0.1),
            blur=(1.0, 1.0),
            noise=(0.02, 0.02),
            jpeg=1.0,
            jpeg_quality=(60, 60),
        ),
    )
    page = grey_values(print_page(rgb, "screentone", seed=3, settings=scanned))[0]
    assert float(page.max()) < 0.97 and float(page.min()) > 0.02  # tinted paper, grey ink, blurred
    assert float(((page > 0.2) & (page < 0.8)).float().mean()) > 3 * float(
        ((crisp > 0.2) & (crisp < 0.8)).float().mean()
    )


def test_grey_jpeg_matches_libjpeg():
    """The codec behind the JPEG artefacts is baseline JPEG: within a level of Pillow's on average."""
    generator = torch.Generator().manual_seed(0)
    image = torch.nn.functional.interpolate(
        torch.rand(1, 1, 12, 12, generator=generator), size=(96, 96), mode="bicubic"
    ).clamp(0, 1)
    image = (image * 255).round() / 255
    for quality in (30, 75, 95):
        buffer = io.BytesIO()
        Image.fromarray((image[0, 0].numpy() * 255).astype(np.uint8), "L").save(
            buffer, "JPEG", quality=quality
        )
        reference = torch.from_numpy(np.array(Image.open(buffer), dtype=np.float32)) / 255
        ours = jpeg_grey(image, torch.tensor([float(quality)]))[0, 0]
        assert float((ours - reference).abs().mean()) * 255 < 1.0, quality
        assert float((ours - image[0, 0]).abs().mean()) > 0  # it did compress


# ---- randomness -------------------------------------------------------------------------------------
def test_the_same_seed_gives_the_same_page_and_another_seed_another():
    rgb = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    for style in STYLES[1:]:
        first = print_page(rgb, style, seed=5)
        assert torch.equal(first, print_page(rgb, style, seed=5))
        assert not torch.equal(first, print_page(rgb, style, seed=6))


def test_style_choices_follow_their_probabilities():
    styles = choose_styles(style_probabilities(MIX), 4000, torch.Generator().manual_seed(0))
    for style, probability in MIX.items():
        assert styles.count(style) / 4000 == pytest.approx(probability, abs=0.03)
    keys = [f"chapter/page_{i}.png" for i in range(400)]
    shares = [page_style(style_probabilities(MIX), key) for key in keys]
    assert all(shares.count(style) > 60 for style in MIX)  # equal shares by page
    assert page_seed("a.png") == page_seed("a.png") != page_seed("b.png")


def test_every_style_but_plain_has_a_renderer():
    assert set(RENDERERS) == set(STYLES) - {PLAIN}


# ---- the data module ---------------------------------------------------------------------------------
@pytest.fixture
def styled(tmp_path):
    make_pages(tmp_path / "train", 8, (72, 60), seed=1)
    make_pages(tmp_path / "val", 6, (64, 64), seed=2)

    def build(**options):
        settings = {
            "train_dir": str(tmp_path / "train"),
            "val_dir": str(tmp_path / "val"),
            "size": 16,
            "window": 48,
            "batch_size": 8,
            "num_workers": 0,
            "input_styles": MIX,
            **options,
        }
        datamodule = PagesDataModule(**settings)
        datamodule.setup("fit")
        return datamodule

    return build


def train_batches(datamodule, count: int, first: int = 1) -> list[dict]:
    iterator = iter(datamodule.train_dataloader())
    return [
        datamodule.to_lab_batch(next(iterator), train=True, batch_number=n)
        for n in range(first, first + count)
    ]


def test_batches_carry_the_input_and_its_style(styled):
    out = train_batches(styled(), 1)[0]
    assert out["input"].shape == out["L"].shape == (8, 1, 16, 16) and out["ab"].shape == (
        8,
        2,
        16,
        16,
    )
    assert len(out["style"]) == 8 and set(out["style"]) <= set(STYLES)
    assert out["input"].min() >= -1 and out["input"].max() <= 1
    for i, style in enumerate(out["style"]):
        same = torch.equal(out["input"][i], out["L"][i])
        assert same == (style == "plain"), style


def test_training_draws_are_a_function_of_seed_rank_and_batch(styled):
    datamodule = styled()
    batch = next(iter(datamodule.train_dataloader()))
    first = datamodule.to_lab_batch(batch, train=True, batch_number=3)
    again = datamodule.to_lab_batch(batch, train=True, batch_number=3)
    assert torch.equal(first["input"], again["input"]) and first["style"] == again["style"]
    later = datamodule.to_lab_batch(batch, train=True, batch_number=4)
    assert not torch.equal(first["input"], later["input"])
    datamodule._rank_and_world = lambda: (1, 2)
    other_rank = datamodule.to_lab_batch(batch, train=True, batch_number=3)
    assert not torch.equal(first["input"], other_rank["input"])


def test_a_resumed_stream_gives_the_same_inputs(styled):
    """Batches 3 and 4 after a resume from a state saved at 2 are those of one run through 4."""
    whole = train_batches(styled(), 4)
    resumed = styled()
    resumed.load_state_dict({"train_batches_consumed": 2})
    for original, again in zip(whole[2:], train_batches(resumed, 2, first=3), strict=True):
        assert again["paths"] == original["paths"] and again["style"] == original["style"]
        assert torch.equal(again["input"], original["input"]) and torch.equal(
            again["ab"], original["ab"]
        )


def test_validation_pages_keep_their_style_and_draw(styled):
    """A validation page's style and draw are its own: the same on every pass, on every rank, in any
    batch, and the style is the page's hash share."""
    datamodule = styled()
    pages = list(iter(datamodule.val_dataloader()))[0]
    first = datamodule.to_lab_batch(pages, train=False)
    assert first["style"] == [
        page_style(datamodule.style_probabilities, datamodule.page_key(p)) for p in first["paths"]
    ]
    assert len(set(first["style"])) > 1
    datamodule._rank_and_world = lambda: (1, 2)
    assert torch.equal(datamodule.to_lab_batch(pages, train=False)["input"], first["input"])
    for i, path in enumerate(first["paths"]):
        alone = collate_pages(
            [{"image": pages["pages"][i, :, :64, :64], "path": path, "unreadable": []}]
        )
        assert torch.equal(
            datamodule.to_lab_batch(alone, train=False)["input"][0], first["input"][i]
        )


def test_plain_only_is_the_seeds_batches(styled):
    """Plain only (the default and the seed's): L and ab are exactly the cropper's, as before there
    were styles, and the input is L."""
    for options in ({"input_styles": None}, {"input_styles": {"plain": 1.0, "screentone": 0.0}}):
        datamodule = styled(**options)
        batch = next(iter(datamodule.train_dataloader()))
        out = datamodule.to_lab_batch(batch, train=True, batch_number=1)
        generator = torch.Generator().manual_seed(
            datamodule._batch_generator(torch.device("cpu"), 1).initial_seed()
        )
        lightness, ab = rgb_to_scaled_lab(
            PageCropper(16, 48)(batch["pages"], batch["sizes"], generator, train=True)
        )
        assert torch.equal(out["L"], lightness) and torch.equal(out["ab"], ab)
        assert out["input"] is out["L"] and out["style"] == ["plain"] * 8


def test_printed_pages_are_the_page_printed_at_its_size_then_shrunk_as_colourise_shrinks(styled):
    """A validation window's input is its page's centre window printed at the page's own resolution
    (scaled by the page's short side) with the page's own draw, then shrunk with colourise's
    antialiased bilinear filter (inference/page_colorizer.py)."""
    import torch.nn.functional as F

    datamodule = styled(printing={"scan_short_side": 100})
    batch = list(iter(datamodule.val_dataloader()))[0]  # 64 x 64 pages, 48 px centre windows
    out = datamodule.to_lab_batch(batch, train=False)
    checked = 0
    for i, (path, style) in enumerate(zip(out["paths"], out["style"], strict=True)):
        if style == "plain":
            continue
        window = batch["pages"][i : i + 1, :, 8:56, 8:56].float() / 255
        generator = torch.Generator().manual_seed(page_seed(datamodule.page_key(path)))
        printed = print_windows(
            window,
            [style],
            torch.tensor([0.64]),
            generator,
            datamodule.print_settings,
            largest_scale=0.64,
        )
        expected = F.interpolate(
            printed, size=(16, 16), mode="bilinear", align_corners=False, antialias=True
        )
        assert torch.allclose(out["input"][i : i + 1], expected, atol=1e-5), style
        checked += 1
    assert checked


def test_the_example_sheet_is_drawn(tmp_path):
    from helpers.print_style_sheet import make_sheet

    paths = make_pages(tmp_path / "pages", 2, (80, 60))
    out = make_sheet(paths, tmp_path / "sheet.png", thumbnail=64, crop=32, scan_side=160)
    with Image.open(out) as sheet:
        assert sheet.width >= 5 * 64 and sheet.height >= 2 * (64 + 32)
