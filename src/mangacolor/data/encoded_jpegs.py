"""Pages left for the device to decode (data.decode_on_device): which JPEG files the device
decodes exactly as `files.decode_image` would, and the worker's read that leaves those encoded.
"""

from __future__ import annotations

import os

import torch

from mangacolor.data.files import (
    DEFAULT_MAX_PIXELS,
    decode_image,
    open_checked,
    read_file_bytes,
    read_image,
)

EXIF_ORIENTATION = 0x0112
JPEG_END_MARKER = b"\xff\xd9"


class EncodedJpeg:
    """A page's JPEG file, checked by `decodes_on_device_as_is` and left for the device to decode.

    Neither a tensor nor a sequence, on purpose: moving a batch to the device leaves it on the
    host, where torchvision's decode_jpeg wants its input whatever the device, and Lightning does
    not walk it byte by byte as it would a `bytes` object.
    """

    __slots__ = ("data",)

    def __init__(self, data: bytes):
        self.data = data

    def __reduce__(self):  # from a worker process to the main one
        return EncodedJpeg, (self.data,)

    def as_tensor(self) -> torch.Tensor:
        """The file as the 1-D uint8 CPU tensor decode_jpeg takes (a copy: bytes are read-only)."""
        return torch.frombuffer(bytearray(self.data), dtype=torch.uint8)


def decodes_on_device_as_is(data: bytes, max_pixels: int = DEFAULT_MAX_PIXELS) -> bool:
    """Whether torchvision's decode_jpeg, on any device, gives this file's page as `decode_image`
    does.

    True for a baseline or progressive JPEG in RGB or greyscale that passes decode_image's header
    checks, with no EXIF orientation other than 1 (decode_jpeg on CUDA cannot turn a page), no
    Adobe marker saying its channels are stored as plain RGB (decoders differ on honouring it) and
    the JPEG end marker last (a file cut short goes to the workers, whose decoder names it;
    nvJPEG may not). Anything else is False -- PNG, CMYK, a rotated page, a header decode_image
    refuses -- and is decoded, or refused with its reason, in the worker as usual.
    """
    if not data.endswith(JPEG_END_MARKER):
        return False
    try:
        image = open_checked(data, "", max_pixels)
        orientation = image.getexif().get(EXIF_ORIENTATION, 1)
    except Exception:  # noqa: BLE001 - decode_image, which runs next in the worker, names the problem
        return False
    stored_as_rgb = image.mode == "RGB" and image.info.get("adobe_transform") == 0
    return (
        image.format == "JPEG"
        and image.mode in ("RGB", "L")
        and orientation == 1
        and not stored_as_rgb
    )


def read_page(
    path: os.PathLike | str, max_pixels: int = DEFAULT_MAX_PIXELS, leave_jpegs_encoded: bool = False
) -> torch.Tensor | EncodedJpeg:
    """`read_image`, except that with `leave_jpegs_encoded` a JPEG the device can decode as it is
    comes back undecoded (see `decodes_on_device_as_is`). Raises UnreadableImage."""
    if not leave_jpegs_encoded:
        return read_image(path, max_pixels)
    data = read_file_bytes(path, max_pixels)
    if decodes_on_device_as_is(data, max_pixels):
        return EncodedJpeg(data)
    return decode_image(data, str(path), max_pixels)
