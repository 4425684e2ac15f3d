"""mangacolor-colorize's test inputs: a tiny generator that colours strongly, black-and-white pages,
and the files a job leaves."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from mangacolor.inference.generator_file import export_generator
from mangacolor.models.components import UNetGenerator

TINY = dict(depth=4, width=8, max_width=16)


def strong_color_generator(folder: Path) -> Path:
    """A tiny U-Net whose head is scaled up, so it predicts strong (often out-of-gamut) colour,
    written as `folder`/generator.pt."""
    torch.manual_seed(0)
    generator = UNetGenerator(**TINY)
    with torch.no_grad():
        generator.head[0].weight.mul_(100.0)
        generator.head[0].bias.fill_(0.3)
    return export_generator(generator, TINY, folder / "generator.pt")


def load(path: Path) -> Image.Image:
    """The image, read and its file closed: a file left open fails a later test at garbage
    collection."""
    with Image.open(path) as image:
        image.load()
        return image.copy()


def page(path: Path, width: int, height: int, seed: int = 0, **save_options) -> Path:
    """A black-and-white page (grey blocks), the kind colourise colours; colour pages are copied."""
    rng = np.random.default_rng(seed)
    blocks = rng.integers(0, 256, (height // 4 + 1, width // 4 + 1, 1))
    array = np.kron(blocks, np.ones((4, 4, 3)))[:height, :width]
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array.astype(np.uint8)).save(path, **save_options)
    return path


def page_bytes(width: int, height: int, seed: int = 0, fmt: str = "PNG") -> bytes:
    """A black-and-white page's file (grey noise, stored as RGB)."""
    rng = np.random.default_rng(seed)
    buffer = io.BytesIO()
    grey = rng.integers(0, 256, (height, width, 1), dtype=np.uint8)
    Image.fromarray(np.repeat(grey, 3, axis=2)).save(buffer, format=fmt)
    return buffer.getvalue()


def files_under(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
