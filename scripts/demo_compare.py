#!/usr/bin/env python3
"""The end of `make demo`: the B&W page, the demo model's automatic colouring of it, its colouring with
the bundled hint file (the dots drawn over it) and the true colour page side by side in one picture,
and ΔE00 of each colouring against the truth beside the B&W page's.

    python scripts/demo_compare.py BW_PAGE AUTOMATIC_PAGE HINTED_PAGE HINT_FILE TRUE_PAGE PICTURE.png

ΔE00 is given at the page's own size and at reading scale (area-shrunk as mangacolor-eval does), where
screentone dots blend into the tone a reader sees.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch
from torchvision.utils import save_image

from mangacolor.color import rgb_to_lab
from mangacolor.data.files import read_image
from mangacolor.evaluation.page_loop import reading_scale
from mangacolor.hints.marks import Dot
from mangacolor.inference.hint_files import read_hint_file
from mangacolor.metrics import colorfulness, mean_delta_e_2000

PICTURE_HEIGHT = 480  # px: each page in the picture
DOT_SIDE = 9  # px in the picture: a drawn hint, its colour inside a black and white ring


def unit(path: str) -> torch.Tensor:
    return read_image(path).float()[None] / 255.0


def delta_e(page: torch.Tensor, truth: torch.Tensor) -> float:
    return float(mean_delta_e_2000(rgb_to_lab(page), rgb_to_lab(truth)))


def draw_dots(page: torch.Tensor, dots: list[Dot], scale: float) -> torch.Tensor:
    """`page` (1, 3, h, w) with each dot drawn as a square of its colour ringed black then white."""
    page = page.clone()
    height, width = page.shape[-2:]
    for dot in dots:
        color = torch.tensor([int(dot.color[i : i + 2], 16) / 255.0 for i in (1, 3, 5)])
        y, x = round(dot.y * scale), round(dot.x * scale)
        for grow, fill in (
            (DOT_SIDE // 2 + 2, torch.ones(3)),
            (DOT_SIDE // 2 + 1, torch.zeros(3)),
            (DOT_SIDE // 2, color),
        ):
            top, left = max(0, y - grow), max(0, x - grow)
            page[0, :, top : min(height, y + grow + 1), left : min(width, x + grow + 1)] = fill[
                :, None, None
            ]
    return page


def main(
    bw_path: str,
    automatic_path: str,
    hinted_path: str,
    hints_path: str,
    truth_path: str,
    picture: str,
) -> None:
    bw, automatic, hinted, truth = (
        unit(p) for p in (bw_path, automatic_path, hinted_path, truth_path)
    )
    if not bw.shape == automatic.shape == hinted.shape == truth.shape:
        raise SystemExit(
            f"the pages differ in size: {bw.shape}, {automatic.shape}, {hinted.shape}, {truth.shape}"
        )
    dots = [
        mark
        for mark in read_hint_file(hints_path, tuple(truth.shape[-2:])).marks
        if isinstance(mark, Dot)
    ]
    pages = {"bw": bw, "automatic": automatic, "hinted": hinted, "truth": truth}
    small = {name: reading_scale(page) for name, page in pages.items()}
    scale = PICTURE_HEIGHT / truth.shape[-2]
    width = round(truth.shape[-1] * scale)
    shown = [
        torch.nn.functional.interpolate(page, size=(PICTURE_HEIGHT, width), mode="area")
        for page in (bw, automatic, hinted, truth)
    ]
    shown[2] = draw_dots(shown[2], dots, scale)
    Path(picture).parent.mkdir(parents=True, exist_ok=True)
    save_image(torch.cat(shown), picture, nrow=4, padding=4, pad_value=1.0)

    def line(name: str, what: str) -> str:
        ratio = float(colorfulness(small[name]) / colorfulness(small["truth"]))
        return (
            f"{what}: dE00 against the true colours {delta_e(pages[name], truth):.2f} "
            f"(the B&W page: {delta_e(bw, truth):.2f}); at reading scale "
            f"{delta_e(small[name], small['truth']):.2f} (B&W page: {delta_e(small['bw'], small['truth']):.2f}), "
            f"colourfulness {ratio:.2f} of the truth's."
        )

    print(line("automatic", "B&W page coloured automatically by the demo model"), flush=True)
    print(
        line("hinted", f"The same page with its {len(dots)} hint dots ({hints_path})"), flush=True
    )
    print(f"Picture (B&W | automatic | hinted, dots drawn | truth): {picture}", flush=True)


if __name__ == "__main__":
    if len(sys.argv) != 7:
        raise SystemExit(__doc__)
    main(*sys.argv[1:])
