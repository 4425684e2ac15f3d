"""Decoding JPEG pages on the device (data.decode_on_device), for sets whose CPU workers cannot keep
up.

Workers leave each JPEG that the device decodes exactly as they would (`encoded_jpegs.read_page`)
encoded, and decode every other page as usual; `collate_pages` pads the decoded ones as always and
lists the encoded ones with their places in the batch. `finish_on_device` then decodes those in one
batched `torchvision.io.decode_jpeg` call on the batch's device (nvJPEG on CUDA; libjpeg-turbo, one
page after another, on the CPU), pads every page to a common size with edge replication and puts
them back in the workers' order: the same pages in the same places as worker decoding, so the seeded
windows drawn from them are the same. On the CPU the pixels are identical too; nvJPEG's inverse DCT
and chroma upsampling differ from libjpeg-turbo's by a level or two.

A page that fails there is decoded by `files.decode_image` on the CPU instead, which either
succeeds (a JPEG variant nvJPEG lacks) or names the reason the page is unreadable (only a JPEG
damaged past its header gets this far). An unreadable page is then replaced, where the caller
says how (training: by the next readable page, as the workers replace one), or else dropped from
its batch, which shrinks (validation).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torchvision.io import ImageReadMode, decode_jpeg

from mangacolor.data.encoded_jpegs import EncodedJpeg
from mangacolor.data.files import (
    UnreadableImage,
    decode_image,
    decoder_warnings_as_errors,
)
from mangacolor.data.pages import pad_to

Substitute = Callable[[UnreadableImage], tuple[str, torch.Tensor]]
"""An unreadable page -> (path, uint8 RGB page) of the page that takes its place in the batch."""


def finish_on_device(
    batch: dict, max_pixels: int, substitute: Substitute | None = None
) -> tuple[dict, list[tuple[str, str]]]:
    """A batch from `collate_pages` with JPEGs still encoded -> the batch with all its pages
    decoded, padded and in order on the device of batch["pages"], and the (path, reason) of each
    page that could not be decoded: replaced by `substitute` in its place, or without one dropped
    from the batch. Other batches pass unchanged."""
    jpegs = batch.get("jpegs")
    if not jpegs:
        return batch, []
    device = batch["pages"].device
    slots = batch["jpeg_slots"]
    decoded = decode_jpegs(jpegs, [batch["paths"][slot] for slot in slots], device, max_pixels)
    unreadable = [
        (error.path, error.reason) for error in decoded if isinstance(error, UnreadableImage)
    ]
    paths, pages_by_slot = list(batch["paths"]), {}
    for slot, page in zip(slots, decoded, strict=True):
        if isinstance(page, torch.Tensor):
            pages_by_slot[slot] = page
        elif substitute is not None:
            paths[slot], replacement = substitute(page)
            pages_by_slot[slot] = replacement.to(device)
    return _merge_in_order(batch, pages_by_slot, paths), unreadable


def decode_jpegs(
    jpegs: list[EncodedJpeg], paths: list[str], device: torch.device, max_pixels: int
) -> list[torch.Tensor | UnreadableImage]:
    """Each JPEG as a uint8 RGB (3, H, W) page on `device`, or the UnreadableImage saying why not.

    One batched call first; one bad page fails the whole call, so then each page alone.
    """
    try:
        return _decode_together([jpeg.as_tensor() for jpeg in jpegs], device)
    except Exception:  # noqa: BLE001 - any failure: find the pages at fault one by one
        return [
            _decode_alone(jpeg, path, device, max_pixels)
            for jpeg, path in zip(jpegs, paths, strict=True)
        ]


def _decode_together(encoded: list[torch.Tensor], device: torch.device) -> list[torch.Tensor]:
    # Strict warnings: on the CPU a damaged stream decodes partially with only a warning.
    with decoder_warnings_as_errors():
        return decode_jpeg(encoded, mode=ImageReadMode.RGB, device=device)


def _decode_alone(
    jpeg: EncodedJpeg, path: str, device: torch.device, max_pixels: int
) -> torch.Tensor | UnreadableImage:
    try:
        return _decode_together([jpeg.as_tensor()], device)[0]
    except Exception:  # noqa: BLE001 - the workers' decoder judges the file instead
        return _decode_on_cpu(jpeg, path, device, max_pixels)


def _decode_on_cpu(
    jpeg: EncodedJpeg, path: str, device: torch.device, max_pixels: int
) -> torch.Tensor | UnreadableImage:
    """As a worker would: a JPEG variant the device's decoder lacks still decodes, and a damaged
    file gets decode_image's reason."""
    try:
        return decode_image(jpeg.data, path, max_pixels).to(device)
    except UnreadableImage as error:
        return error


def _merge_in_order(batch: dict, decoded_jpegs: dict[int, torch.Tensor], paths: list[str]) -> dict:
    """Worker-decoded pages and the JPEGs decoded on the device -> one padded batch in `paths`
    order (the batch's, with substitutes' paths in their places); the places of JPEGs missing
    from `decoded_jpegs` (unreadable) are dropped."""
    pages, sizes = batch["pages"], batch["sizes"]
    jpeg_slots = set(batch["jpeg_slots"])
    worker_slots = [slot for slot in range(len(batch["paths"])) if slot not in jpeg_slots]
    kept = sorted([*worker_slots, *decoded_jpegs])
    if (
        not kept
    ):  # every page of a validation batch was unreadable: to_lab_batch knows this empty batch
        return {**_without_jpegs(batch), "paths": []}
    shapes = [page.shape[-2:] for page in decoded_jpegs.values()] + (
        [pages.shape[-2:]] if worker_slots else []
    )
    height, width = max(h for h, _ in shapes), max(w for _, w in shapes)
    # Worker pages come padded to their own largest; padding them further repeats the same edge
    # pixels as padding each page alone would (see pad_to).
    by_slot = dict(
        zip(worker_slots, zip(pad_to(pages, height, width), sizes, strict=True), strict=True)
    )
    jpeg_sizes = torch.tensor(
        [page.shape[-2:] for page in decoded_jpegs.values()], dtype=torch.long
    )
    jpeg_sizes = jpeg_sizes.view(-1, 2).to(pages.device, non_blocking=True)
    for (slot, page), size in zip(decoded_jpegs.items(), jpeg_sizes, strict=True):
        by_slot[slot] = (pad_to(page, height, width), size)
    return {
        **_without_jpegs(batch),
        "pages": torch.stack([by_slot[slot][0] for slot in kept]),
        "sizes": torch.stack([by_slot[slot][1] for slot in kept]),
        "paths": [paths[slot] for slot in kept],
    }


def _without_jpegs(batch: dict) -> dict:
    return {key: value for key, value in batch.items() if key not in ("jpegs", "jpeg_slots")}
