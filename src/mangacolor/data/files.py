"""Finding image files and decoding them to uint8 RGB, robustly.

Workers only decode: a page arrives as a uint8 (3, H, W) tensor in RGB, with its EXIF orientation
applied, transparency flattened onto white, and palette / greyscale / CMYK / 16-bit modes
converted. Anything that cannot be read raises `UnreadableImage` naming the file and the reason.
"""

from __future__ import annotations

import hashlib
import io
import os
import warnings
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps
from torchvision.io import ImageReadMode, decode_jpeg

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff"})

# Pillow's own guard against decompression bombs, made explicit so it is configurable and also
# applies to the torchvision fast path (which has no such guard). Pillow's default is ~89 Mpx.
DEFAULT_MAX_PIXELS = 89_478_485


class UnreadableImage(Exception):
    """A file that is not a usable image; str() names the file and the reason."""

    def __init__(self, path: os.PathLike | str, reason: str):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


def is_image_path(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES


def find_images(folder: os.PathLike | str) -> list[Path]:
    """Every image file under `folder` (recursive, any case of suffix), sorted, listed once.

    Symlinks whose target lies outside `folder` are left out: a page folder must not reach
    files elsewhere on the machine.
    """
    root = Path(folder)
    if not root.is_dir():
        raise FileNotFoundError(f"image folder not found: {root}")
    real_root = root.resolve()
    found = []
    for dirpath, _dirnames, filenames in os.walk(root, followlinks=False):
        for name in filenames:
            path = Path(dirpath) / name
            if not is_image_path(path):
                continue
            if path.is_symlink() and not path.resolve().is_relative_to(real_root):
                warnings.warn(f"{path}: skipped, symlink points outside {root}", stacklevel=2)
                continue
            found.append(path)
    return sorted(found)


def split_by_hash(
    paths: list[Path], root: os.PathLike | str, val_fraction: float
) -> tuple[list[Path], list[Path]]:
    """Deterministic train/val split by a hash of each path relative to `root`.

    Adding or removing pages never moves another page across the split.
    """
    train, val = [], []
    for path in paths:
        key = path.relative_to(root).as_posix().encode()
        bucket = int.from_bytes(hashlib.sha1(key).digest()[:8], "big") / 2**64
        (val if bucket < val_fraction else train).append(path)
    return train, val


def _flatten_onto_white(image: Image.Image) -> Image.Image:
    rgba = image.convert("RGBA")
    white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    return Image.alpha_composite(white, rgba).convert("RGB")


def _pillow_to_rgb(image: Image.Image) -> Image.Image:
    image = ImageOps.exif_transpose(image)
    has_alpha = image.mode in ("RGBA", "LA", "PA") or (
        image.mode == "P" and "transparency" in image.info
    )
    if has_alpha:
        return _flatten_onto_white(image)
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        # 16-bit greyscale: Pillow's convert("L") clips instead of scaling, so scale by hand.
        array = np.asarray(image, dtype=np.float64)
        scale = 255.0 / (65535.0 if array.max() > 255 else 255.0)
        return Image.fromarray((array * scale).round().clip(0, 255).astype(np.uint8)).convert("RGB")
    return image.convert("RGB")


def _decode_jpeg_torchvision(data: bytes) -> torch.Tensor | None:
    """libjpeg-turbo through torchvision, the common case; None sends the file to Pillow.

    Any warning (a truncated or damaged stream decodes partially with one) also falls back to
    Pillow, which then raises a clear error instead of training on a half-grey page.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            encoded = torch.frombuffer(bytearray(data), dtype=torch.uint8)
            return decode_jpeg(encoded, mode=ImageReadMode.RGB, apply_exif_orientation=True)
    except Exception:  # noqa: BLE001 - any failure here is retried by Pillow
        return None


def decode_image(data: bytes, name: str = "<bytes>", max_pixels: int = DEFAULT_MAX_PIXELS) -> torch.Tensor:
    """Encoded image bytes -> uint8 RGB tensor (3, H, W). Raises UnreadableImage."""
    if not data:
        raise UnreadableImage(name, "empty file")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            width, height = image.size  # header only: nothing decoded yet
            if width * height > max_pixels:
                raise UnreadableImage(
                    name, f"{width}x{height} pixels exceeds the limit of {max_pixels} (max_pixels)"
                )
            if image.format == "JPEG" and image.mode in ("RGB", "L"):
                fast = _decode_jpeg_torchvision(data)
                if fast is not None:
                    return fast
            image.load()
            rgb = _pillow_to_rgb(image)
    except UnreadableImage:
        raise
    except Image.DecompressionBombError as error:
        raise UnreadableImage(name, f"decompression bomb: {error}") from None
    except (OSError, SyntaxError, ValueError, Image.UnidentifiedImageError) as error:
        reason = "not an image Pillow can identify" if isinstance(error, Image.UnidentifiedImageError) else str(error)
        raise UnreadableImage(name, reason or type(error).__name__) from None
    array = np.asarray(rgb, dtype=np.uint8)
    if array.ndim != 3 or array.shape[0] < 1 or array.shape[1] < 1:
        raise UnreadableImage(name, f"unexpected decoded shape {array.shape}")
    return torch.from_numpy(array.copy()).permute(2, 0, 1).contiguous()


def read_image(path: os.PathLike | str, max_pixels: int = DEFAULT_MAX_PIXELS) -> torch.Tensor:
    """Read an image file -> uint8 RGB tensor (3, H, W). Raises UnreadableImage."""
    path = Path(path)
    if path.is_dir():
        raise UnreadableImage(path, "is a directory, not a file")
    try:
        data = path.read_bytes()
    except OSError as error:
        raise UnreadableImage(path, f"cannot read: {error.strerror or error}") from None
    return decode_image(data, str(path), max_pixels)
