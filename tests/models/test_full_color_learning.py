"""Learning checks: a tiny full-colour model learns to colour white paper that was colour on the
page.

On a B&W page the areas that were coloured are largely paper white: L = 100 holds no chroma, so a
model that keeps the page's L and predicts ab can only leave them white. A full-colour model
predicts L too, and must tell white paper that stays white from white paper that was coloured by
the ink around it. Two checks:
- line art, a hand-made outline input, the network's output read directly;
- screentone, end to end through the real code: pages printed by `print_styles.print_page`, shrunk
  to the training size as the data module and colourise shrink them, two tiny models trained (full
  colour on the printed pages, and the seed's `plain` ab model on the pages' own L), and held-out
  printed pages coloured by `PageColorizer` with colourise's defaults at their own size.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import pytest
import torch
from helpers.trainers import cpu_trainer

from mangacolor.color import (
    cie_lab,
    lightness_as_rgb,
    lightness_preserving_rgb,
    rgb_to_scaled_lab,
    scaled_lab_to_rgb,
    uint8_to_unit,
    unit_to_uint8,
)
from mangacolor.data.print_settings import PrintSettings, ScanSettings, ScreenSettings
from mangacolor.data.print_styles import print_page
from mangacolor.data.transforms import NativeWindows
from mangacolor.evaluation.page_loop import (
    reading_scale,  # eval's: these pages shrink 4 times
)
from mangacolor.inference.page_colorizer import PageColorizer
from mangacolor.metrics import delta_e_2000
from mangacolor.models.pix2pix import Pix2Pix

SIZE = 32
FILL = (0.9, 0.45, 0.25)  # an orange skin-like tone: L about 63, chroma about 60


def line_art_pages(count: int, generator: torch.Generator) -> tuple[dict, torch.Tensor]:
    """Colour pages of one outlined, filled rectangle each, at random places and sizes, and their
    B&W input: the ink outline on white. Returns the batch and where the fill is
    (count, 1, S, S)."""
    rgb = torch.ones(count, 3, SIZE, SIZE)
    inside = torch.zeros(count, 1, SIZE, SIZE, dtype=torch.bool)
    for i in range(count):
        height, width = (int(v) for v in torch.randint(10, 22, (2,), generator=generator))
        top, left = (int(v) for v in torch.randint(1, SIZE - 21, (2,), generator=generator))
        rgb[i, :, top : top + height, left : left + width] = 0.0  # ink, 2 px wide once filled
        rgb[i, :, top + 2 : top + height - 2, left + 2 : left + width - 2] = torch.tensor(
            FILL
        ).view(3, 1, 1)
        inside[i, :, top + 2 : top + height - 2, left + 2 : left + width - 2] = True
    lightness, ab = rgb_to_scaled_lab(rgb)
    line_art = torch.where(inside, 1.0, lightness)  # the fill becomes paper white
    return {"L": lightness, "ab": ab, "input": line_art, "style": ["lines"] * count}, inside


class LineArtStream(torch.utils.data.IterableDataset):
    def __iter__(self):
        generator = torch.Generator().manual_seed(0)
        while True:
            yield line_art_pages(8, generator)[0]


def test_a_full_colour_model_colours_paper_white_regions_from_the_ink_around_them():
    torch.manual_seed(0)
    model = Pix2Pix(
        dict(depth=5, width=16, max_width=64),
        dict(channels=[16, 32], stride1_channels=32),
        lr_g=2e-3,
        iterations=150,
        log_every=150,
        predicts="lab",
    )
    trainer = cpu_trainer()
    trainer.fit(model, torch.utils.data.DataLoader(LineArtStream(), batch_size=None))

    batch, inside = line_art_pages(16, torch.Generator().manual_seed(99))  # pages it never saw
    paper = batch["L"] > 0.99  # white in the truth too
    with torch.no_grad():
        fake = model.generator.eval()(batch["input"])
    true_lab = cie_lab(batch["L"], batch["ab"])
    predicted_lab = cie_lab(*rgb_to_scaled_lab(scaled_lab_to_rgb(fake[:, :1], fake[:, 1:])))
    line_art_lab = cie_lab(batch["input"], torch.zeros_like(batch["ab"]))
    error = delta_e_2000(predicted_lab, true_lab)[:, None]
    line_art_error = delta_e_2000(line_art_lab, true_lab)[:, None]

    def chroma(lab: torch.Tensor) -> torch.Tensor:
        return lab[:, 1:].norm(dim=1, keepdim=True)

    assert error[inside].mean() < 0.3 * line_art_error[inside].mean()  # about 37 for the white page
    assert chroma(predicted_lab)[inside].mean() > 0.5 * chroma(true_lab)[inside].mean()
    assert error[paper].mean() < 5.0  # white paper outside the outline stays white
    # Its ab alone, on the page's own L as an ab model's would be shown, leaves that paper white.
    kept_lightness = cie_lab(
        *rgb_to_scaled_lab(lightness_preserving_rgb(batch["input"], fake[:, 1:]))
    )
    assert chroma(kept_lightness)[inside].mean() < 1.0


# ---- screentone, end to end ----------------------------------------------------------------------
NATIVE = 192  # pages' short side where they are printed: a screen's dots are a few pixels here
WORKING = 64  # the training size, and so colourise's working short side
CELL = NATIVE // 2  # pages are a grid of cells, a shape in most of them, so no shape hides another
SKIN = (0.9, 0.6, 0.42)  # L about 70, chroma about 43: inside ellipses (faces)
SKY = (0.45, 0.7, 0.95)  # L about 71, chroma about 38: inside rectangles; as light as SKIN, so only
# the shape tells the two apart, never the tone
OUTLINE = 3  # px of ink around each shape
POOL = 32  # training pages, printed once (printing is the costly part) and cycled through
ITERATIONS = 300  # at 200, torch seed 1 passed the chroma check by a hair and missed the plain one
TORCH_SEED = 0  # torch seeds 0, 1 and 2 all pass at 300, with the margins the comments below give
# conf/data/pages.yaml's printing, with the scan size set to the page's own, so its periods (given
# for a 1,200 px scan) land on the page as they are, a few pixels, but not all of its ranges: with
# the finest screens (2-3 px) and the stronger scan blurs (0.6-1.2 px) half the pages' fills printed
# as grey with almost no paper white left, which is not the case in point. The paper is scanned pure
# white (L = 100), where a lightness compose can show no colour; a greyer paper (L 96) holds some:
# there the plain model's chroma was measured at about 10.
PRINTING = dataclasses.replace(
    PrintSettings(),
    scan_short_side=float(NATIVE),
    screentone=dataclasses.replace(ScreenSettings(), period=(3.0, 5.2)),
    scan=dataclasses.replace(ScanSettings(), blur=(0.3, 0.6), paper=(1.0, 1.0)),
)
PAPER_GREY = 0.98  # a printed pixel this light is paper white (L over 99)
INK_GREY = 0.15  # and this dark is ink: dots, lines and outlines


def shape_pages(
    count: int, rows: int, cols: int, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """Colour pages (count, 3, rows x CELL, cols x CELL) of white paper with an outlined SKIN
    ellipse or SKY rectangle of random size and place in most cells, and where the fills are
    (count, 1, H, W)."""
    height, width = rows * CELL, cols * CELL
    rgb = torch.ones(count, 3, height, width)
    inside = torch.zeros(count, 1, height, width, dtype=torch.bool)
    y = torch.arange(height, dtype=torch.float32).view(-1, 1) + 0.5
    x = torch.arange(width, dtype=torch.float32).view(1, -1) + 0.5
    for page in range(count):
        for cell in range(rows * cols):
            kind = float(torch.rand(1, generator=generator))
            h, w = (int(v) for v in torch.randint(50, CELL - 6, (2,), generator=generator))
            top = cell // cols * CELL + int(
                torch.randint(3, CELL - h - 2, (1,), generator=generator)
            )
            left = cell % cols * CELL + int(
                torch.randint(3, CELL - w - 2, (1,), generator=generator)
            )
            if kind < 0.1:
                continue  # an empty cell: white paper that stays white
            if kind < 0.55:
                cy, cx, ry, rx = top + h / 2, left + w / 2, h / 2, w / 2
                outer = ((y - cy) / ry) ** 2 + ((x - cx) / rx) ** 2 <= 1
                inner = ((y - cy) / (ry - OUTLINE)) ** 2 + ((x - cx) / (rx - OUTLINE)) ** 2 <= 1
                fill = SKIN
            else:
                outer = torch.zeros(height, width, dtype=torch.bool)
                outer[top : top + h, left : left + w] = True
                inner = torch.zeros_like(outer)
                inner[top + OUTLINE : top + h - OUTLINE, left + OUTLINE : left + w - OUTLINE] = True
                fill = SKY
            rgb[page, :, outer] = 0.0
            rgb[page, :, inner] = torch.tensor(fill).view(3, 1)
            inside[page, 0] |= inner
    return rgb, inside


def screentone_pages(rgb: torch.Tensor, first_seed: int) -> torch.Tensor:
    """Colour pages -> their screentone B&W pages as scaled L, each page its own draw."""
    return torch.cat(
        [
            print_page(rgb[i : i + 1], "screentone", first_seed + i, PRINTING)
            for i in range(len(rgb))
        ]
    )


def to_working(images: torch.Tensor) -> torch.Tensor:
    """Square pages at NATIVE -> WORKING, with the data module's shrink (colourise's filter)."""
    windows = NativeWindows(images, torch.full((len(images),), NATIVE), None, WORKING)
    return windows.shrink(images)


class PoolStream(torch.utils.data.IterableDataset):
    """Batches of 8 drawn at random from a fixed pool of (L, ab, input) at the working size."""

    def __init__(self, lightness: torch.Tensor, ab: torch.Tensor, inputs: torch.Tensor, style: str):
        self.lightness, self.ab, self.inputs, self.style = lightness, ab, inputs, style

    def __iter__(self):
        generator = torch.Generator().manual_seed(1)
        while True:
            pick = torch.randperm(len(self.inputs), generator=generator)[:8]
            yield {
                "L": self.lightness[pick],
                "ab": self.ab[pick],
                "input": self.inputs[pick],
                "style": [self.style] * len(pick),
            }


def train_tiny(stream: PoolStream, predicts: str) -> torch.nn.Module:
    torch.manual_seed(TORCH_SEED)
    model = Pix2Pix(
        {"depth": 6, "width": 16, "max_width": 64},
        {"channels": [16, 32], "stride1_channels": 32},
        lr_g=2e-3,
        iterations=ITERATIONS,
        log_every=ITERATIONS,
        predicts=predicts,
    )
    trainer = cpu_trainer()
    trainer.fit(model, torch.utils.data.DataLoader(stream, batch_size=None))
    return model.generator


@dataclass
class Colored:
    """Held-out pages, their truth and B&W page, and what each model's colourise made of them."""

    truth: torch.Tensor  # (N, 3, H, W) RGB in [0, 1]
    inside: torch.Tensor  # (N, 1, H, W) bool: the fills
    page: torch.Tensor  # (N, 3, H, W) the printed B&W page as the reader has it
    results: dict[str, torch.Tensor]  # model -> (N, 3, H, W) its colourise result
    modes: dict[str, dict[str, int]]  # model -> {compose mode used: pages}


def lab(rgb: torch.Tensor) -> torch.Tensor:
    return cie_lab(*rgb_to_scaled_lab(rgb))


def chroma(lab_image: torch.Tensor) -> torch.Tensor:
    return lab_image[:, 1:].norm(dim=1, keepdim=True)


def held_out_pages() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Pages neither model saw, wider than tall (colourise's working size keeps their aspect): the
    colour truth, where its fills are, and the printed B&W page as RGB, 3 x 192 x 288 each."""
    truth, inside = shape_pages(4, 2, 3, torch.Generator().manual_seed(99))
    return truth, inside, lightness_as_rgb(screentone_pages(truth, first_seed=5000))


def train_and_color() -> Colored:
    """Both models trained on the same pool of pages, each applied to the same held-out pages."""
    rgb, _ = shape_pages(POOL, 2, 2, torch.Generator().manual_seed(0))
    lightness, ab = rgb_to_scaled_lab(to_working(rgb).clamp(0.0, 1.0))
    printed = to_working(screentone_pages(rgb, first_seed=1000)).clamp(-1.0, 1.0)
    generators = {
        "screentone": train_tiny(PoolStream(lightness, ab, printed, "screentone"), "lab"),
        "plain": train_tiny(PoolStream(lightness, ab, lightness, "plain"), "ab"),
    }
    truth, inside, page = held_out_pages()
    results, modes = {}, {}
    for name, generator in generators.items():
        colorizer = PageColorizer(
            generator, short_side=WORKING
        )  # colourise's defaults: compose auto
        results[name] = torch.stack(
            [uint8_to_unit(p) for p in colorizer.color(list(unit_to_uint8(page)))]
        )
        modes[name] = dict(colorizer.composed)
    return Colored(truth, inside, page, results, modes)


@pytest.fixture(scope="module")
def colored() -> Colored:
    return train_and_color()


def test_screentone_fills_print_as_dots_on_white_paper():
    """The premise: the printed fills are ink dots (or lines, or hatching) with paper white between
    them, not a grey tone; the paper white is what the learning check scores."""
    truth, inside, page = held_out_pages()
    grey = page[:, :1]
    fills = grey[inside]
    assert (
        fills >= PAPER_GREY
    ).float().mean() > 0.12  # 0.18: paper white (L over 99) between the dots
    assert (
        (fills > 0.3) & (fills < 0.7)
    ).float().mean() < 0.25  # 0.20: grey only on the dots' soft edges
    for i in range(len(truth)):
        assert (grey[i][inside[i]] <= 0.5).float().mean() > 0.05, (
            i
        )  # 0.07-0.21: each page's fills have dots


@pytest.mark.slow
def test_a_screentone_model_colours_paper_white_where_a_plain_model_leaves_it_white(colored):
    """Scored on the paper white inside the shapes at the page's own size (chroma), and over the
    fills at reading scale (dE00 to the truth), against the B&W page the reader has."""
    assert colored.modes == {"screentone": {"ink": 4}, "plain": {"lightness": 4}}  # what auto chose
    true_lab = lab(colored.truth)
    paper = colored.inside & (colored.page[:, :1] >= PAPER_GREY)
    truth_chroma = chroma(true_lab)[paper].mean()
    fills = (
        reading_scale(colored.inside.float()) == 1.0
    )  # reading-scale pixels wholly inside a fill

    def reading_error(rgb: torch.Tensor) -> torch.Tensor:
        return delta_e_2000(lab(reading_scale(rgb)), lab(reading_scale(colored.truth)))[:, None][
            fills
        ].mean()

    page_error = reading_error(colored.page)  # the B&W page against the truth: about 24
    for name, rgb in colored.results.items():
        assert rgb.shape == colored.truth.shape, name  # pages keep their size
    # The full-colour model trained on screentone colours the paper white inside the shapes (chroma
    # 27-29 over torch seeds 0-2, the truth's 39) and at reading scale is far closer to the truth
    # than the B&W page (dE00 about 6).
    screentone = colored.results["screentone"]
    assert chroma(lab(screentone))[paper].mean() > 0.5 * truth_chroma
    assert reading_error(screentone) < 0.4 * page_error
    # The plain model keeps the page's L: its paper white stays white (chroma 1.1-1.3); only the
    # dots and their grey edges take some colour, so it beats the B&W page by 20-30 % (dE00 17-19),
    # and the screentone model beats it by far more.
    plain = colored.results["plain"]
    assert chroma(lab(plain))[paper].mean() < 2.0
    assert reading_error(plain) > 0.6 * page_error
    assert reading_error(screentone) < 0.5 * reading_error(plain)


@pytest.mark.slow
def test_screentone_and_plain_models_keep_ink_black(colored):
    """Printed ink (dots, lines, outlines) stays black under either model's colour."""
    ink = colored.page[:, :1] <= INK_GREY
    page_lightness = lab(colored.page)[:, :1][ink]
    for name, rgb in colored.results.items():
        lightness = lab(rgb)[:, :1][ink]
        assert lightness.mean() < page_lightness.mean() + 3.0, name  # 6.2-6.7, the page's 6.7
        assert torch.quantile(lightness, 0.99) < 20.0, name  # about 15, as the page's own
