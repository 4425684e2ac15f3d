"""Finding image files and decoding them to uint8 RGB, robustly.

Workers only decode: a page arrives as a uint8 (3, H, W) tensor in RGB, with its EXIF orientation
applied, transparency flattened onto white, and palette / greyscale / CMYK / 16-bit modes
converted. Anything that cannot be read raises `UnreadableImage` naming the file and the reason
-- empty, text or HTML, truncated or damaged, a header claiming more than `max_pixels` (checked
before anything is decoded), a file too big for any image within that limit, a directory, pipe or
dead link -- whatever exception the decoder raised. `find_images` leaves out, and reports, entries
that cannot be pages at all, such as a symlink leading out of the folder.

With data.decode_on_device, a worker passes a plain JPEG on undecoded instead (`encoded_jpegs.py`:
`read_page`, `decodes_on_device_as_is`), for `device_decode.py` to decode on the device in one
batched call.
"""

from __future__ import annotations

import hashlib
import io
import os
import stat
import threading
import warnings
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps
from torchvision.io import ImageReadMode, decode_jpeg

IMAGE_SUFFIXES = frozenset(
    {".jpg", ".jpeg", ".jfif", ".png", ".gif", ".webp", ".bmp", ".tif", ".tiff"}
)

# Pillow's own guard against decompression bombs, made explicit so it is configurable and also
# applies to the torchvision fast path (which has no such guard). Pillow's default is ~89 Mpx;
# Pillow itself refuses images over twice its limit, so a larger max_pixels stops there.
DEFAULT_MAX_PIXELS = 89_478_485


class UnreadableImage(Exception):
    """A file that is not a usable image; str() names the file and the reason."""

    def __init__(self, path: os.PathLike | str, reason: str):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{printable(self.path)}: {reason}")


def is_image_path(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES


def find_images(folder: os.PathLike | str, unlisted: dict[str, str] | None = None) -> list[Path]:
    """Every image file under `folder` (recursive, any case of suffix), sorted, listed once.

    Entries named like images that cannot be pages are left out, each with its reason (see
    `find_files`). With `unlisted`, they are recorded there as path -> reason; without it, each
    gives a warning.
    """
    return find_files(folder, IMAGE_SUFFIXES, unlisted, "image")


def find_files(
    folder: os.PathLike | str,
    suffixes: Collection[str],
    unlisted: dict[str, str] | None = None,
    kind: str = "input",
) -> list[Path]:
    """Every file under `folder` whose suffix, in any case, is one of `suffixes` (lower case),
    sorted.

    Entries so named that cannot be read as inputs are left out, each with its reason: a
    directory named `x.jpg`, a pipe or device (reading one would hang), a broken or looping
    symlink, a symlink whose target lies outside `folder` (an input folder must not reach files
    elsewhere on the machine), and a subfolder that cannot be listed. With `unlisted`, they are
    recorded there as path -> reason; without it, each gives a warning. `kind` names the files in
    messages ("image" -> "image folder not found", "is a directory, not an image file").
    """
    root = Path(folder)
    if not root.is_dir():
        raise FileNotFoundError(f"{kind} folder not found: {root}")
    real_root = root.resolve()
    suffixes = frozenset(suffixes)

    def skip(path: os.PathLike | str, reason: str) -> None:
        if unlisted is None:
            warnings.warn(
                f"{printable(path)}: skipped, {reason}", stacklevel=4
            )  # at find_images' caller
        else:
            unlisted[str(path)] = reason

    def unlistable(error: OSError) -> None:
        skip(error.filename, f"cannot list this folder: {error.strerror or error}")

    found = []
    for dirpath, dirnames, filenames in os.walk(root, onerror=unlistable, followlinks=False):
        for name in dirnames:
            if Path(name).suffix.lower() in suffixes:
                skip(
                    Path(dirpath) / name,
                    f"is a directory, not {'an' if kind[:1] in 'aeiou' else 'a'} {kind} file",
                )
        for name in filenames:
            path = Path(dirpath) / name
            if path.suffix.lower() not in suffixes:
                continue
            reason = _why_not_a_page_file(path, real_root)
            if reason:
                skip(path, reason)
            else:
                found.append(path)
    return sorted(found)


def _why_not_a_page_file(path: Path, real_root: Path) -> str | None:
    if path.is_symlink():
        try:
            target = path.resolve(strict=True)
        except (OSError, RuntimeError):  # RuntimeError: a symlink loop on Python < 3.13
            return "broken symlink (its target is missing or it loops)"
        if not target.is_relative_to(real_root):
            return f"symlink points outside the folder {real_root}"
    try:
        mode = path.stat().st_mode
    except OSError as error:
        return f"cannot read: {error.strerror or error}"
    if not stat.S_ISREG(mode):
        return "not a regular file (a pipe, socket or device)"
    return None


def printable(path: os.PathLike | str) -> str:
    """The path as text that any terminal or log can show: a name whose bytes are not valid
    UTF-8 keeps its escapes (\\udcff) instead of crashing a print."""
    return str(path).encode("utf-8", "backslashreplace").decode("utf-8")


def split_by_hash(
    paths: list[Path], root: os.PathLike | str, val_fraction: float
) -> tuple[list[Path], list[Path]]:
    """Deterministic train/val split by a hash of each path relative to `root`.

    Adding or removing pages never moves another page across the split.
    """
    train, val = [], []
    for path in paths:
        # fsencode: a name that is not UTF-8 hashes as its own bytes (UTF-8 names hash as before).
        key = os.fsencode(path.relative_to(root).as_posix())
        bucket = int.from_bytes(hashlib.sha1(key).digest()[:8], "big") / 2**64
        (val if bucket < val_fraction else train).append(path)
    return train, val


def _flatten_onto_white(image: Image.Image) -> Image.Image:
    rgba = image.convert("RGBA")
    white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    return Image.alpha_composite(white, rgba).convert("RGB")


def _pillow_to_rgb(image: Image.Image) -> Image.Image:
    image = ImageOps.exif_transpose(image)
    has_alpha = image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or (
        image.mode in ("P", "L", "RGB") and "transparency" in image.info
    )
    if has_alpha:
        return _flatten_onto_white(image)
    if image.mode.startswith("I") or image.mode == "F":
        # Pillow's convert("L") clips these modes instead of scaling them, so scale by hand.
        array = np.asarray(image, dtype=np.float64)
        return Image.fromarray(
            (array * (255.0 / _full_scale(image, array))).round().clip(0, 255).astype(np.uint8)
        ).convert("RGB")
    return image.convert("RGB")


def _full_scale(image: Image.Image, array: np.ndarray) -> float:
    """The value that means white in a high-bit-depth greyscale image."""
    if image.mode.startswith("I;16") or (image.mode == "I" and image.format == "PNG"):
        return 65535.0  # 16-bit, however dark this particular image is
    # 32-bit integer or float (TIFF): the file does not say its range, so judge by the values.
    peak = float(array.max()) if array.size else 0.0
    return 1.0 if peak <= 1.0 and image.mode == "F" else 255.0 if peak <= 255 else 65535.0


@contextmanager
def decoder_warnings_as_errors() -> Iterator[None]:
    """Inside, a warning from a decoder raises: a truncated or damaged JPEG stream decodes
    partially with only a warning, and a half-grey page must not pass for a good one.
    Deprecation notices are not about the file (torchvision 0.29 gives one on every decode
    call), so they are silenced rather than raised or shown in the user's log."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warnings.simplefilter("ignore", DeprecationWarning)
        yield


def _decode_jpeg_torchvision(data: bytes) -> torch.Tensor | None:
    """libjpeg-turbo through torchvision, the common case; None sends the file to Pillow.

    Any warning (see `decoder_warnings_as_errors`) also falls back to Pillow, which then raises a
    clear error instead of training on a half-grey page.
    """
    try:
        with decoder_warnings_as_errors():
            encoded = torch.frombuffer(bytearray(data), dtype=torch.uint8)
            return decode_jpeg(encoded, mode=ImageReadMode.RGB, apply_exif_orientation=True)
    except Exception:  # noqa: BLE001 - any failure here is retried by Pillow
        return None


def _looks_like_text(data: bytes) -> str | None:
    head = data[:512].lstrip()
    if head[:1] == b"<" and any(
        tag in head[:100].lower() for tag in (b"<!doctype", b"<html", b"<?xml", b"<head", b"<body")
    ):
        return "an HTML/XML document, not an image (a saved web page?)"
    text = head.decode("utf-8", "ignore")  # "ignore": the cut at 512 bytes may split a character
    if text and all(char.isprintable() or char in "\r\n\t" for char in text):
        return "a text file, not an image"
    return None


_PILLOW_LIMIT = threading.Lock()


def _header_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from the header of an image Pillow refused as a decompression bomb."""
    with _PILLOW_LIMIT:  # Pillow's limit is process-wide: lift it only for this header read
        saved, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None
        try:
            with Image.open(io.BytesIO(data)) as image:
                return image.size
        except Exception:  # noqa: BLE001 - only for the message
            return None
        finally:
            Image.MAX_IMAGE_PIXELS = saved


def _reason(error: Exception, data: bytes, image_format: str | None, max_pixels: int) -> str:
    """A short, specific reason for a decoding failure."""
    if isinstance(error, Image.UnidentifiedImageError):
        return _looks_like_text(data) or "not an image in any format Pillow can read"
    if isinstance(error, Image.DecompressionBombError):
        size = _header_size(data)
        limit = min(
            max_pixels, 2 * (Image.MAX_IMAGE_PIXELS or max_pixels)
        )  # Pillow refuses above twice its own
        return (
            f"header says {size[0]}x{size[1]} pixels, over the limit of {limit} (max_pixels)"
            if size
            else str(error)
        )
    if isinstance(error, MemoryError):
        return "out of memory while decoding it"
    message = str(error).splitlines()[0] if str(error) else type(error).__name__
    what = f"{image_format} " if image_format else ""
    if "truncated" in message:
        return f"truncated {what}file: {message}"
    return f"damaged {what}file: {message}"


def open_checked(data: bytes, name: str, max_pixels: int) -> Image.Image:
    """Pillow's reading of the header, nothing decoded yet; raises UnreadableImage for a page of
    no pixels or of more than `max_pixels`, and whatever Pillow raises for a file it cannot open."""
    with warnings.catch_warnings():  # the limit that counts is max_pixels, checked below
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        image = Image.open(io.BytesIO(data))
    width, height = image.size
    if width < 1 or height < 1:
        raise UnreadableImage(name, f"header says {width}x{height} pixels")
    if width * height > max_pixels:
        raise UnreadableImage(
            name,
            f"header says {width}x{height} pixels, over the limit of {max_pixels} (max_pixels)",
        )
    return image


def decode_image(
    data: bytes, name: str = "<bytes>", max_pixels: int = DEFAULT_MAX_PIXELS
) -> torch.Tensor:
    """Encoded image bytes -> uint8 RGB tensor (3, H, W). Raises UnreadableImage."""
    if not data:
        raise UnreadableImage(name, "empty file (0 bytes)")
    image_format = None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = open_checked(data, name, max_pixels)
            image_format = image.format
            if image.format == "JPEG" and image.mode in ("RGB", "L"):
                fast = _decode_jpeg_torchvision(data)
                if fast is not None:
                    return fast
            image.load()
            rgb = _pillow_to_rgb(image)
    except UnreadableImage:
        raise
    # Decoders raise many types on hostile input (OSError, SyntaxError, ValueError, struct.error,
    # IndexError, ...): each one means "this file is not a usable page", never "stop the run".
    except Exception as error:  # noqa: BLE001
        raise UnreadableImage(name, _reason(error, data, image_format, max_pixels)) from None
    array = np.asarray(rgb, dtype=np.uint8)
    if array.ndim != 3 or array.shape[0] < 1 or array.shape[1] < 1:
        raise UnreadableImage(name, f"unexpected decoded shape {array.shape}")
    return torch.from_numpy(array.copy()).permute(2, 0, 1).contiguous()


def max_file_bytes(max_pixels: int) -> int:
    """No image within the pixel limit needs more bytes than this (16-bit RGBA, uncompressed,
    plus room for metadata): a larger file is refused before it is read into memory."""
    return max_pixels * 8 + 64 * 2**20


def read_image(path: os.PathLike | str, max_pixels: int = DEFAULT_MAX_PIXELS) -> torch.Tensor:
    """Read an image file -> uint8 RGB tensor (3, H, W). Raises UnreadableImage."""
    return decode_image(read_file_bytes(path, max_pixels), str(path), max_pixels)


def read_file_bytes(path: os.PathLike | str, max_pixels: int = DEFAULT_MAX_PIXELS) -> bytes:
    """The bytes of an image file, refusing what cannot be one (see `read_image`), undecoded."""
    path = Path(path)
    try:
        info = path.stat()
    except OSError as error:
        raise UnreadableImage(path, f"cannot read: {error.strerror or error}") from None
    if stat.S_ISDIR(info.st_mode):
        raise UnreadableImage(path, "is a directory, not a file")
    if not stat.S_ISREG(info.st_mode):  # opening a pipe would wait for a writer forever
        raise UnreadableImage(path, "not a regular file (a pipe, socket or device)")
    if info.st_size > max_file_bytes(max_pixels):
        raise UnreadableImage(
            path, f"{info.st_size} bytes, too large for an image within max_pixels={max_pixels}"
        )
    try:
        return path.read_bytes()
    except OSError as error:
        raise UnreadableImage(path, f"cannot read: {error.strerror or error}") from None
