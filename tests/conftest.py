"""Shared test fixtures: tests make their own images, small and fast."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from helpers.pages import make_pages

# One CPU thread per test process: tiny models gain nothing from more, and on a shared 2-core
# machine a second thread waiting at every barrier made steps up to 8x slower.
os.environ.setdefault("OMP_NUM_THREADS", "1")


@pytest.fixture
def page_folders(tmp_path: Path) -> tuple[Path, Path]:
    """train/ with 12 pages of mixed sizes, val/ with 4."""
    train, val = tmp_path / "pages" / "train", tmp_path / "pages" / "val"
    make_pages(train, 6, (48, 40), seed=1)
    make_pages(train / "chapter 2", 6, (40, 56), seed=2, suffix=".JPG")
    make_pages(val, 4, (44, 44), seed=3)
    return train, val


def pytest_configure(config):
    import torch

    torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))
