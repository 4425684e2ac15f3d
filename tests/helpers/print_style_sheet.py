"""A sheet of example inputs: colour pages and the B&W pages each input style makes of them.

    PYTHONPATH=src python tests/helpers/print_style_sheet.py [out.png] [page ...]

Without pages it takes a few of ../shared/data/clipart/val and writes docs/images/print_styles.png.
Per page, two rows, one column per style after the colour page:
- the page printed at its own size, then shrunk to the sheet with colourise's filter: how it reads;
- a 1:1 crop of the same page enlarged to a scan of `scan_side` px on its short side and printed
  there: what the dots, lines and scan look like in a real scan of that size.
Each page's draw is `page_seed` of its file name, as validation draws it.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
from kornia.color import rgb_to_lab
from PIL import Image, ImageDraw

from mangacolor.color import lightness_as_rgb, uint8_to_unit, unit_to_uint8
from mangacolor.data.files import read_image
from mangacolor.data.print_styles import page_seed, print_page
from mangacolor.styles import STYLES

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = (
    "animals_tiger_graig_ryan_smith_-_01_0c4c17.jpg",
    "unsorted_angel_01_d53d54.jpg",
    "recreation_stylized_teddy_bear_gera_01_65eea6.jpg",
)
LABEL = 14  # px of header above each row


def _resize(image: torch.Tensor, height: int, width: int) -> torch.Tensor:
    shrinking = height < image.shape[-2]
    mode = "bilinear" if shrinking else "bicubic"
    return F.interpolate(
        image, size=(height, width), mode=mode, align_corners=False, antialias=shrinking
    ).clamp(0, 1)


def _tile(image: torch.Tensor) -> Image.Image:
    return Image.fromarray(unit_to_uint8(image[0]).permute(1, 2, 0).numpy())


def _toned_corner(rgb: torch.Tensor, crop: int) -> tuple[int, int]:
    """Top-left of the crop (on a 6 x 6 grid of places) with mid-tones and some variety: where
    screens, lines and their edges all show."""
    lightness = rgb_to_lab(rgb)[0, 0] / 100
    toned = ((lightness > 0.25) & (lightness < 0.85)).float()
    height, width = lightness.shape
    places = [
        (round(y), round(x))
        for y in torch.linspace(0, height - crop, 6).tolist()
        for x in torch.linspace(0, width - crop, 6).tolist()
    ]

    def score(place: tuple[int, int]) -> float:
        window = (slice(place[0], place[0] + crop), slice(place[1], place[1] + crop))
        return float(toned[window].mean()) * (0.1 + float(lightness[window].std()))

    return max(places, key=score)


def _styles(rgb: torch.Tensor, seed: int) -> list[torch.Tensor]:
    """The colour page and each style's B&W page as RGB (1, 3, H, W) at the page's size."""
    return [rgb] + [lightness_as_rgb(print_page(rgb, style, seed)) for style in STYLES]


def make_sheet(
    paths: Sequence[Path], out: Path, thumbnail: int = 200, crop: int = 200, scan_side: int = 1200
) -> Path:
    rows: list[tuple[str, list[Image.Image]]] = []
    for path in paths:
        rgb = uint8_to_unit(read_image(path))[None]
        height, width = rgb.shape[-2:]
        seed = page_seed(Path(path).name)
        scale = thumbnail / max(height, width)
        small = (max(1, round(height * scale)), max(1, round(width * scale)))
        rows.append(
            (
                f"{Path(path).name[:40]}: {width}x{height} px, printed at that size, shown shrunk",
                [_tile(_resize(page, *small)) for page in _styles(rgb, seed)],
            )
        )
        enlarge = scan_side / min(height, width)
        scanned = _resize(rgb, round(height * enlarge), round(width * enlarge))
        top, left = _toned_corner(scanned, crop)
        rows.append(
            (
                f"the same as a {scan_side} px scan, 1:1 crop",
                [
                    _tile(page[..., top : top + crop, left : left + crop])
                    for page in _styles(scanned, seed)
                ],
            )
        )
    cell = max(thumbnail, crop)
    columns = 1 + len(STYLES)
    sheet = Image.new(
        "RGB",
        (
            columns * (cell + 4),
            LABEL + sum(LABEL + max(t.height for t in tiles) + 4 for _, tiles in rows),
        ),
        "white",
    )
    draw = ImageDraw.Draw(sheet)
    for column, name in enumerate(("colour", *STYLES)):
        draw.text((column * (cell + 4) + 2, 1), name, fill="black")
    y = LABEL
    for caption, tiles in rows:
        draw.text((2, y + 1), caption, fill=(90, 90, 90))
        y += LABEL
        for column, tile in enumerate(tiles):
            sheet.paste(tile, (column * (cell + 4), y))
        y += max(t.height for t in tiles) + 4
    out.parent.mkdir(parents=True, exist_ok=True)
    # 256 colours: the B&W columns lose nothing, and the sheet stays a few hundred kB for the docs.
    sheet.quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).save(
        out, optimize=True
    )
    return out


def main(argv: Sequence[str]) -> None:
    out = Path(argv[0]) if argv else REPO / "docs" / "images" / "print_styles.png"
    clipart = REPO.parent / "shared" / "data" / "clipart" / "val"
    paths = [Path(p) for p in argv[1:]] or [clipart / name for name in EXAMPLES]
    torch.set_num_threads(max(1, torch.get_num_threads()))
    print(make_sheet(paths, out))


if __name__ == "__main__":
    main(sys.argv[1:])
