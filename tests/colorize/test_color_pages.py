"""Pages already in colour are copied through, byte for byte, in folders and archives; scans are not taken for colour."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import manga_pages as m
from helpers.generators import TINY, vivid_unet
from PIL import Image

from mangacolor.colorize.job import colorize
from mangacolor.colorize.settings import ColorizeSettings
from mangacolor.inference.generator_file import export_generator


@pytest.fixture(scope="module")
def generator_path(tmp_path_factory) -> Path:
    return export_generator(vivid_unet(), TINY, tmp_path_factory.mktemp("model") / "generator.pt")


def encoded(page: torch.Tensor, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(page.permute(1, 2, 0).numpy()).save(buffer, format=fmt, **options)
    return buffer.getvalue()


def write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def run(generator_path: Path, source: Path, output: Path, **options):
    settings = ColorizeSettings(
        generator_path, source, output, progress=False, short_side=32, **options
    )
    return colorize(settings, say=lambda message: None)


def decoded(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as image:
        return np.asarray(image.convert("RGB"))


def test_colour_pages_in_a_folder_are_copied_byte_for_byte_and_counted(generator_path, tmp_path):
    source = tmp_path / "volume 1"
    insert_png = write(source / "000 cover.png", encoded(m.color_page(120, 90, seed=1), "PNG"))
    insert_jpg = write(
        source / "001 insert.jpg", encoded(m.color_page(100, 80, seed=2), "JPEG", quality=83)
    )
    write(source / "002.png", encoded(m.screentone_page(120, 90), "PNG"))
    write(
        source / "003.jpg",
        encoded(m.jpeg(m.yellowed(m.screentone_page(120, 90, seed=3)), 70), "JPEG", quality=70),
    )
    write(source / "004.png", encoded(m.cast(m.line_art_page(120, 90)), "PNG"))
    out = tmp_path / "out"
    summary = run(generator_path, source, out)
    assert (out / "000 cover.png").read_bytes() == insert_png.read_bytes()
    assert (out / "001 insert.jpg").read_bytes() == insert_jpg.read_bytes()
    assert (summary.copied, summary.colored) == (
        2,
        3,
    )  # the yellowed and the tinted scans are coloured
    for name in ("002.png", "003.jpg", "004.png"):
        assert (out / name).read_bytes() != (source / name).read_bytes()
    assert "2 already in colour, copied as they were" in summary.line()
    assert run(generator_path, source, out).already_done == 5  # a rerun finds the copies done too


def test_colour_pages_in_an_archive_are_copied_byte_for_byte_in_their_place(
    generator_path, tmp_path
):
    pages = {
        "01.png": encoded(m.screentone_page(100, 70), "PNG"),
        "02 colour.jpg": encoded(m.color_page(100, 70, seed=4), "JPEG", quality=90),
        "03.png": encoded(m.line_art_page(100, 70), "PNG"),
    }
    source = tmp_path / "book.cbz"
    with zipfile.ZipFile(source, "w") as archive:
        for name, data in pages.items():
            archive.writestr(name, data)
    summary = run(generator_path, source, tmp_path / "out")
    with zipfile.ZipFile(tmp_path / "out" / "book.cbz") as result:
        assert result.namelist() == list(pages)
        assert result.read("02 colour.jpg") == pages["02 colour.jpg"]
        assert result.read("01.png") != pages["01.png"]
    assert (summary.copied, summary.colored) == (1, 2)


def test_another_format_re_encodes_a_colour_page_and_recolor_colours_it(generator_path, tmp_path):
    page = m.color_page(90, 70, seed=5)
    source = write(tmp_path / "in" / "insert.png", encoded(page, "PNG"))
    summary = run(generator_path, source.parent, tmp_path / "webp", format="webp", quality=100)
    with Image.open(tmp_path / "webp" / "insert.webp") as image:
        assert image.format == "WEBP" and image.size == (70, 90)
    assert (
        np.abs(
            decoded((tmp_path / "webp" / "insert.webp").read_bytes()).astype(int)
            - page.permute(1, 2, 0).numpy()
        ).mean()
        < 3
    )  # the page itself, only re-encoded
    assert summary.copied == 1
    # A GIF kept as PNG: the name says PNG, so the bytes are PNG.
    gif = write(tmp_path / "gif" / "insert.gif", encoded(page, "GIF"))
    run(generator_path, gif, tmp_path / "gif out")
    with Image.open(tmp_path / "gif out" / "insert.png") as image:
        assert image.format == "PNG"
    recolored = run(
        generator_path, source.parent, tmp_path / "recoloured", recolor_color_pages=True
    )
    assert (recolored.copied, recolored.colored) == (0, 1)
    assert not np.array_equal(
        decoded((tmp_path / "recoloured" / "insert.png").read_bytes()),
        page.permute(1, 2, 0).numpy(),
    )
