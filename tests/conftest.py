"""Shared test fixtures: tests make their own images, small and fast."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image, ImageDraw

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
BIN = Path(sys.executable).parent

# One CPU thread per test process: tiny models gain nothing from more, and on a shared 2-core
# machine a second thread waiting at every barrier made steps up to 8x slower.
os.environ.setdefault("OMP_NUM_THREADS", "1")

# Colours whose lightness differs, so colour is learnable from L alone in the learning check.
PALETTE = [(220, 40, 40), (40, 60, 200), (250, 220, 40), (40, 170, 60)]


def draw_page(path: Path, size: tuple[int, int], seed: int) -> Path:
    """A white page with a few flat-colour shapes outlined in black, like a coloured drawing."""
    import random

    rng = random.Random(seed)
    width, height = size
    image = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(image)
    for _ in range(4):
        x0, y0 = rng.randrange(0, width * 3 // 4), rng.randrange(0, height * 3 // 4)
        x1, y1 = min(width - 1, x0 + rng.randrange(width // 6, width // 2)), min(height - 1, y0 + rng.randrange(height // 6, height // 2))
        shape = draw.ellipse if rng.random() < 0.5 else draw.rectangle
        shape([x0, y0, x1, y1], fill=rng.choice(PALETTE), outline="black", width=2)
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path)
    return path


def make_pages(folder: Path, count: int, size=(48, 40), seed: int = 0, suffix: str = ".png") -> list[Path]:
    return [draw_page(folder / f"page_{i:03d}{suffix}", size, seed * 1000 + i) for i in range(count)]


@pytest.fixture
def page_folders(tmp_path: Path) -> tuple[Path, Path]:
    """train/ with 12 pages of mixed sizes, val/ with 4."""
    train, val = tmp_path / "pages" / "train", tmp_path / "pages" / "val"
    make_pages(train, 6, (48, 40), seed=1)
    make_pages(train / "chapter 2", 6, (40, 56), seed=2, suffix=".JPG")
    make_pages(val, 4, (44, 44), seed=3)
    return train, val


def run_cli(args: list[str], cwd: Path, timeout: int = 300, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run one of the installed console scripts from `cwd`; fail with its output on error."""
    full_env = {**os.environ, "HYDRA_FULL_ERROR": "1", **(env or {})}
    result = subprocess.run(
        [str(BIN / args[0]), *args[1:]], cwd=cwd, capture_output=True, text=True, timeout=timeout, env=full_env
    )
    return result


TINY = ["+debug=tiny", "trainer.enable_progress_bar=false"]


def pytest_configure(config):
    import torch

    torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))
