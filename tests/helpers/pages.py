"""Pages drawn for tests: flat-colour shapes outlined in black, like a coloured drawing."""

from __future__ import annotations

import random
from pathlib import Path

from PIL import Image, ImageDraw

# Colours whose lightness differs, so colour is learnable from L alone in the learning check.
PALETTE = [(220, 40, 40), (40, 60, 200), (250, 220, 40), (40, 170, 60)]


def draw_page(path: Path, size: tuple[int, int], seed: int) -> Path:
    """A white page with a few flat-colour shapes outlined in black, like a coloured drawing."""
    rng = random.Random(seed)
    width, height = size
    image = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(image)
    for _ in range(4):
        x0, y0 = rng.randrange(0, width * 3 // 4), rng.randrange(0, height * 3 // 4)
        x1, y1 = (
            min(width - 1, x0 + rng.randrange(width // 6, width // 2)),
            min(height - 1, y0 + rng.randrange(height // 6, height // 2)),
        )
        shape = draw.ellipse if rng.random() < 0.5 else draw.rectangle
        shape([x0, y0, x1, y1], fill=rng.choice(PALETTE), outline="black", width=2)
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path)
    return path


def make_pages(
    folder: Path, count: int, size=(48, 40), seed: int = 0, suffix: str = ".png"
) -> list[Path]:
    return [
        draw_page(folder / f"page_{i:03d}{suffix}", size, seed * 1000 + i) for i in range(count)
    ]
