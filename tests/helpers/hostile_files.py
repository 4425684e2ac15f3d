"""A folder of awkward and hostile image files, for checking train, eval and colourise on them.

`make_hostile_folder(root)` writes `root/pages/` (and a file in `root/outside/` for a symlink to
reach) and says what each entry must give:

- good: valid but awkward files (transparency, palettes, 16 bits, CMYK, EXIF rotation,
  progressive JPEG, 1x1 and 33x4000 pages, BMP/TIFF/WebP, upper-case suffixes, names with spaces,
  non-ASCII and non-UTF-8 bytes) with the size they must decode to and a few pixels they must
  show;
- unreadable: entries that must be skipped with a reason naming the file (empty, text or HTML named
  .jpg, truncated, corrupted, a header claiming 30000x30000, a directory named x.jpg, symlinks
  leaving the folder or going nowhere, a named pipe), with words the reason must contain.

It is a helper module, not a test file: tests import it (`from helpers.hostile_files import ...`).
"""

from __future__ import annotations

import io
import os
import struct
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

RED, GREEN, BLUE, WHITE, BLACK = (
    (220, 30, 30),
    (30, 160, 60),
    (40, 60, 200),
    (255, 255, 255),
    (0, 0, 0),
)


@dataclass(frozen=True)
class Good:
    """A file that must decode to `size` (height, width) showing `probes` [(y, x, rgb)] within `tolerance`."""

    size: tuple[int, int]
    probes: tuple[tuple[int, int, tuple[int, int, int]], ...] = ()
    tolerance: int = 2


@dataclass
class HostileFolder:
    folder: Path  # the page folder to point a command at
    good: dict[str, Good] = field(default_factory=dict)  # path relative to folder -> expectation
    unreadable: dict[str, tuple[str, ...]] = field(
        default_factory=dict
    )  # relative path -> any of these in the reason

    def path(self, name: str) -> Path:
        return self.folder / name


# ---- writing helpers ------------------------------------------------------------------------
def two_tone(width: int, height: int, left, right, mode: str = "RGB") -> Image.Image:
    """Left half one colour, right half another: probes in each half check position and colour."""
    image = Image.new(mode, (width, height), left)
    image.paste(right, (width // 2, 0, width, height))
    return image


def halves_probes(width: int, height: int, left, right) -> tuple:
    return ((height // 2, width // 4, left), (height // 2, (3 * width) // 4, right))


def png_bytes(width: int, height: int, bit_depth: int, color_type: int, rows: bytes) -> bytes:
    """A PNG written by hand, so its header can say anything (16-bit RGB, 30000 x 30000, 0 wide)."""

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))

    header = struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def rgb16_png(width: int, height: int, left16, right16) -> bytes:
    row = b"\x00" + b"".join(
        struct.pack(">HHH", *(left16 if x < width // 2 else right16)) for x in range(width)
    )
    return png_bytes(width, height, 16, 2, row * height)


def jpeg_bytes(image: Image.Image, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=95, **options)
    return buffer.getvalue()


def noisy_jpeg(width: int = 96, height: int = 80) -> bytes:
    """A JPEG with plenty of entropy-coded data, so damage lands in the scan, not in the header."""
    rng = np.random.default_rng(7)
    return jpeg_bytes(Image.fromarray((rng.random((height, width, 3)) * 255).astype(np.uint8)))


def save(folder: Path, name: str | bytes, image: Image.Image | bytes, **options) -> None:
    path = os.path.join(os.fsencode(folder), name) if isinstance(name, bytes) else folder / name
    Path(os.fsdecode(path)).parent.mkdir(parents=True, exist_ok=True)
    if isinstance(image, bytes):
        with open(path, "wb") as handle:
            handle.write(image)
    else:
        image.save(os.fsdecode(path), **options)


# ---- the folder -----------------------------------------------------------------------------
def make_hostile_folder(root: Path) -> HostileFolder:
    root = Path(root)
    pages, outside = root / "pages", root / "outside"
    pages.mkdir(parents=True)
    outside.mkdir()
    hostile = HostileFolder(pages)
    _write_good(hostile)
    _write_bad(hostile, outside)
    return hostile


def _write_good(h: HostileFolder) -> None:
    f = h.folder

    # Transparency is flattened onto white, never onto black or the hidden colour underneath.
    rgba = two_tone(16, 12, (*RED, 255), (*BLUE, 0), "RGBA")
    rgba.paste((0, 0, 0, 128), (0, 0, 4, 4))  # half-transparent black over white: mid grey
    save(f, "transparent rgba.png", rgba)
    h.good["transparent rgba.png"] = Good(
        (12, 16), (*halves_probes(16, 12, RED, WHITE), (1, 1, (127, 127, 127)))
    )

    save(f, "transparent la.png", two_tone(16, 12, (0, 255), (0, 0), "LA"))
    h.good["transparent la.png"] = Good((12, 16), halves_probes(16, 12, BLACK, WHITE))

    palette = two_tone(16, 12, RED, GREEN).convert("P", palette=Image.Palette.ADAPTIVE, colors=4)
    save(f, "palette.png", palette)
    h.good["palette.png"] = Good((12, 16), halves_probes(16, 12, RED, GREEN))

    # A palette PNG whose right half is the transparent index.
    see_through = two_tone(16, 12, RED, BLUE).convert("P", palette=Image.Palette.ADAPTIVE, colors=4)
    see_through.info["transparency"] = see_through.getpixel((15, 0))
    save(f, "palette transparent.png", see_through, transparency=see_through.getpixel((15, 0)))
    h.good["palette transparent.png"] = Good((12, 16), halves_probes(16, 12, RED, WHITE))

    save(
        f,
        "palette.gif",
        two_tone(16, 12, RED, GREEN).convert("P", palette=Image.Palette.ADAPTIVE, colors=4),
    )
    h.good["palette.gif"] = Good((12, 16), halves_probes(16, 12, RED, GREEN))

    # 16 bits: 65535 is white and 32896 mid grey; a dark 16-bit page stays dark (not x256 too bright).
    grey16 = np.zeros((12, 16), np.uint16)
    grey16[:, 8:] = 65535
    grey16[:6, :8] = 32896
    save(f, "grey 16-bit.png", Image.fromarray(grey16))
    h.good["grey 16-bit.png"] = Good(
        (12, 16), ((9, 4, BLACK), (9, 12, WHITE), (2, 4, (128, 128, 128))), 1
    )
    save(f, "dark grey 16-bit.png", Image.fromarray(np.full((12, 16), 200, np.uint16)))
    h.good["dark grey 16-bit.png"] = Good((12, 16), ((6, 8, (1, 1, 1)),), 1)
    save(f, "rgb 16-bit.png", rgb16_png(16, 12, (65535, 32896, 0), (0, 0, 65535)))
    h.good["rgb 16-bit.png"] = Good((12, 16), halves_probes(16, 12, (255, 128, 0), (0, 0, 255)), 1)

    save(f, "cmyk.jpg", jpeg_bytes(two_tone(32, 16, RED, BLUE).convert("CMYK")))
    h.good["cmyk.jpg"] = Good((16, 32), halves_probes(32, 16, RED, BLUE), 14)

    save(f, "greyscale.jpg", jpeg_bytes(two_tone(32, 16, 40, 200, "L")))
    h.good["greyscale.jpg"] = Good((16, 32), halves_probes(32, 16, (40,) * 3, (200,) * 3), 6)

    # Stored 48 wide x 24 high, red block top-left; EXIF orientation 6 (turn 90 degrees clockwise
    # to view) shows it 24 wide x 48 high with the block at the top right.
    stored = Image.new("RGB", (48, 24), WHITE)
    stored.paste(RED, (0, 0, 16, 16))
    exif = Image.Exif()
    exif[0x0112] = 6
    save(f, "exif rotated.jpg", jpeg_bytes(stored, exif=exif.tobytes()))
    h.good["exif rotated.jpg"] = Good((48, 24), ((6, 18, RED), (6, 4, WHITE), (40, 18, WHITE)), 14)

    save(f, "progressive.jpg", jpeg_bytes(two_tone(32, 16, GREEN, BLUE), progressive=True))
    h.good["progressive.jpg"] = Good((16, 32), halves_probes(32, 16, GREEN, BLUE), 14)

    save(f, "one pixel.png", Image.new("RGB", (1, 1), GREEN))
    h.good["one pixel.png"] = Good((1, 1), ((0, 0, GREEN),))
    save(f, "seven by five.png", two_tone(7, 5, RED, BLUE))
    h.good["seven by five.png"] = Good((5, 7), ((2, 0, RED), (2, 6, BLUE)))
    strip = Image.new("RGB", (33, 4000), WHITE)
    strip.paste(BLUE, (0, 3900, 33, 4000))
    save(f, "strip 33x4000.png", strip)
    h.good["strip 33x4000.png"] = Good((4000, 33), ((10, 16, WHITE), (3950, 16, BLUE)))
    save(f, "bilevel.png", two_tone(16, 8, 0, 1, "1"))
    h.good["bilevel.png"] = Good((8, 16), halves_probes(16, 8, BLACK, WHITE))

    for name, options in (
        ("page.bmp", {}),
        ("page.tiff", {"compression": "tiff_lzw"}),
        ("page.webp", {"lossless": True}),
    ):
        save(f, name, two_tone(16, 12, RED, GREEN), **options)
        h.good[name] = Good((12, 16), halves_probes(16, 12, RED, GREEN))

    # A JPEG named .png: the content decides, not the suffix.
    save(f, "really a jpeg.png", jpeg_bytes(two_tone(32, 16, RED, GREEN)))
    h.good["really a jpeg.png"] = Good((16, 32), halves_probes(32, 16, RED, GREEN), 14)

    # Names: upper-case suffixes, spaces, non-ASCII, a subfolder.
    for name in (
        "UPPER CASE.JPG",
        "Mixed Case.JpEg",
        "ALSO.PNG",
        "ページ 01 é.png",
        "chapter 2/nested page.png",
    ):
        image = two_tone(32, 16, GREEN, RED)
        if name.lower().endswith((".jpg", ".jpeg")):
            save(f, name, jpeg_bytes(image))
        else:
            save(f, name, image)
        h.good[name] = Good((16, 32), halves_probes(32, 16, GREEN, RED), 14)

    # A name whose bytes are not UTF-8 (Latin-1 from an old archive): Linux allows it, others may not.
    raw_name = b"latin1 caf\xe9.png"
    try:
        save(f, raw_name, two_tone(16, 12, RED, GREEN))
        h.good[os.fsdecode(raw_name)] = Good((12, 16), halves_probes(16, 12, RED, GREEN))
    except (OSError, UnicodeError):
        pass


def _write_bad(h: HostileFolder, outside: Path) -> None:
    f = h.folder
    save(f, "empty.jpg", b"")
    h.unreadable["empty.jpg"] = ("empty",)
    save(f, "notes.jpg", b"These are not the pages you are looking for.\nChapter 3 is missing.\n")
    h.unreadable["notes.jpg"] = ("text file",)
    save(
        f,
        "saved web page.jpg",
        b"<!DOCTYPE html>\n<html><head><title>404 Not Found</title></head><body>gone</body></html>\n",
    )
    h.unreadable["saved web page.jpg"] = ("HTML",)

    jpeg = noisy_jpeg()
    save(f, "truncated.jpg", jpeg[: len(jpeg) // 2])
    h.unreadable["truncated.jpg"] = ("truncated",)
    corrupted = bytearray(jpeg)
    middle = len(corrupted) // 2
    corrupted[middle : middle + 64] = (
        b"\xff" * 64
    )  # a run of marker bytes in the middle of the scan
    save(f, "corrupted.jpg", bytes(corrupted))
    h.unreadable["corrupted.jpg"] = ("damaged", "truncated")
    png = io.BytesIO()
    two_tone(64, 64, RED, GREEN).save(png, "PNG")
    save(f, "truncated.png", png.getvalue()[:-40])
    h.unreadable["truncated.png"] = ("truncated", "damaged")

    # Headers that lie: 900 megapixels in a few bytes (decoding would need 2.7 GB), and 0 wide.
    save(f, "huge header.png", png_bytes(30000, 30000, 8, 2, b"\x00" * 64))
    h.unreadable["huge header.png"] = ("30000x30000",)
    save(f, "zero width.png", png_bytes(0, 16, 8, 2, b""))
    h.unreadable["zero width.png"] = ("0x16", "damaged", "not an image")

    (f / "x.jpg").mkdir()
    h.unreadable["x.jpg"] = ("directory",)

    save(outside, "secret.png", two_tone(16, 12, RED, GREEN))
    (f / "outside link.jpg").symlink_to(outside / "secret.png")
    h.unreadable["outside link.jpg"] = ("outside",)
    (f / "broken link.png").symlink_to(f / "no such file.png")
    h.unreadable["broken link.png"] = ("broken symlink",)
    (f / "loop.png").symlink_to(f / "loop.png")
    h.unreadable["loop.png"] = ("broken symlink",)
    if hasattr(os, "mkfifo"):  # reading a named pipe would wait forever for a writer
        os.mkfifo(f / "pipe.jpg")
        h.unreadable["pipe.jpg"] = ("not a regular file",)
