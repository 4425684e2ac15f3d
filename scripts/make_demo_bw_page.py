#!/usr/bin/env python3
"""Make the demo's B&W manga page (data/demo/bw/) from a held-out colour drawing, once.

    python scripts/make_demo_bw_page.py ../shared/data/clipart/val/animals_cartoon_squirrel_mike_sm1_0c5e40.jpg

The drawing (one of the bundled validation pages, never trained on) is enlarged to a scan's size
(1,000 px on its short side, Lanczos), so that its screentone has print-sized dots, and printed by
training's synthesis (`mangacolor.data.print_styles.print_page`, screentone, a fixed seed). Both the
B&W page and the enlarged truth are written: `make demo` colours the first and scores it against the
second (scripts/demo_compare.py).
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch
from PIL import Image

from mangacolor.color import scaled_lab_to_rgb
from mangacolor.data.print_styles import page_seed, print_page

SCAN_SHORT_SIDE = 1000
OUT = Path(__file__).resolve().parents[1] / "data" / "demo" / "bw"


def main(source: str) -> None:
    drawing = Image.open(source).convert("RGB")
    scale = SCAN_SHORT_SIDE / min(drawing.size)
    truth = drawing.resize(
        (round(drawing.width * scale), round(drawing.height * scale)), Image.LANCZOS
    )
    rgb = (
        torch.from_numpy(__import__("numpy").asarray(truth).copy()).permute(2, 0, 1)[None].float()
        / 255
    )
    lightness = print_page(rgb, "screentone", page_seed(Path(source).name))
    grey = scaled_lab_to_rgb(lightness, torch.zeros(1, 2, *lightness.shape[-2:]))[0, 0]
    OUT.mkdir(parents=True, exist_ok=True)
    stem = Path(source).stem
    Image.fromarray((grey * 255).round().byte().numpy(), "L").save(OUT / f"{stem}.jpg", quality=92)
    truth.save(OUT / f"{stem}.truth.jpg", quality=92)
    print(f"wrote {OUT / (stem + '.jpg')} and its truth, {truth.width}x{truth.height}")


if __name__ == "__main__":
    main(sys.argv[1])
