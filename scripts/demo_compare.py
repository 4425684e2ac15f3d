#!/usr/bin/env python3
"""The end of `make demo`: the B&W page, the demo model's colouring of it and the true colour page side
by side in one picture, and ΔE00 of the colouring against the truth beside the B&W page's.

    python scripts/demo_compare.py BW_PAGE COLOURED_PAGE TRUE_PAGE PICTURE.png

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
from mangacolor.metrics import colorfulness, mean_delta_e_2000

PICTURE_HEIGHT = 480  # px: each page in the picture


def unit(path: str) -> torch.Tensor:
    return read_image(path).float()[None] / 255.0


def delta_e(page: torch.Tensor, truth: torch.Tensor) -> float:
    return float(mean_delta_e_2000(rgb_to_lab(page), rgb_to_lab(truth)))


def main(bw_path: str, colored_path: str, truth_path: str, picture: str) -> None:
    bw, colored, truth = unit(bw_path), unit(colored_path), unit(truth_path)
    if not bw.shape == colored.shape == truth.shape:
        raise SystemExit(f"the three pages differ in size: {bw.shape}, {colored.shape}, {truth.shape}")
    small = {name: reading_scale(page) for name, page in (("bw", bw), ("coloured", colored), ("truth", truth))}
    width = round(truth.shape[-1] * PICTURE_HEIGHT / truth.shape[-2])
    shown = [torch.nn.functional.interpolate(page, size=(PICTURE_HEIGHT, width), mode="area")
             for page in (bw, colored, truth)]
    Path(picture).parent.mkdir(parents=True, exist_ok=True)
    save_image(torch.cat(shown), picture, nrow=3, padding=4, pad_value=1.0)
    ratio = float(colorfulness(small["coloured"]) / colorfulness(small["truth"]))
    print(f"B&W page coloured by the demo model: dE00 against the true colours {delta_e(colored, truth):.2f} "
          f"(the B&W page: {delta_e(bw, truth):.2f}); at reading scale {delta_e(small['coloured'], small['truth']):.2f} "
          f"(B&W page: {delta_e(small['bw'], small['truth']):.2f}), colourfulness {ratio:.2f} of the truth's. "
          f"Picture (B&W | coloured | truth): {picture}", flush=True)


if __name__ == "__main__":
    if len(sys.argv) != 5:
        raise SystemExit(__doc__)
    main(*sys.argv[1:])
