"""A dataset over page paths (decoded in workers), its collate, and a resumable sharded sampler.

With data.decode_on_device, plain JPEG pages stay encoded (`EncodedJpeg`) through the dataset
and the collate, and `device_decode.py` finishes the batch on the device.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from mangacolor.data.encoded_jpegs import EncodedJpeg, read_page
from mangacolor.data.files import DEFAULT_MAX_PIXELS, UnreadableImage


class PageDataset(Dataset):
    """Page i -> {"image": uint8 (3, H, W) or None, "path": str, "unreadable": [(path, reason),
    ...]}.

    With `replace_unreadable` (training) an unreadable page is replaced by the next readable one and
    reported in "unreadable"; without it (validation, eval) the item has image None, so the page is
    skipped and reported. With `leave_jpegs_encoded`, "image" is an `EncodedJpeg` for each JPEG
    the device can decode as it is (see `encoded_jpegs.read_page`).
    """

    def __init__(
        self,
        paths: Sequence[Path],
        replace_unreadable: bool,
        max_pixels: int = DEFAULT_MAX_PIXELS,
        leave_jpegs_encoded: bool = False,
    ):
        self.paths = [str(p) for p in paths]
        self.replace_unreadable = replace_unreadable
        self.max_pixels = max_pixels
        self.leave_jpegs_encoded = leave_jpegs_encoded
        self._unreadable: set[int] = set()  # per worker: known-bad pages are passed over unread

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> dict:
        unreadable = []
        # A training page that cannot be read is replaced by the next readable one, however long
        # the run of bad files (a whole chapter saved as error pages): the data module checked at
        # start that the folder holds a readable page, so the search ends.
        attempts = len(self.paths) if self.replace_unreadable else 1
        for step in range(attempts):
            position = (index + step) % len(self.paths)
            if position in self._unreadable:
                continue
            path = self.paths[position]
            try:
                return {
                    "image": read_page(path, self.max_pixels, self.leave_jpegs_encoded),
                    "path": path,
                    "unreadable": unreadable,
                }
            except UnreadableImage as error:
                unreadable.append((error.path, error.reason))
                if self.replace_unreadable:
                    self._unreadable.add(position)
        if not self.replace_unreadable:
            return {"image": None, "path": self.paths[index], "unreadable": unreadable}
        reasons = "; ".join(f"{p}: {r}" for p, r in unreadable[:5]) or "all were unreadable before"
        raise RuntimeError(
            f"none of the {len(self.paths)} training pages is readable any more ({reasons})"
        )


def pad_to(image: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Pad a (..., h, w) image to (..., height, width) by repeating its edge pixels, on its device.

    Padding an already padded image further gives what padding the original would: the batch
    finished on the device (`device_decode.py`) relies on it.
    """
    h, w = image.shape[-2:]
    if (h, w) == (height, width):
        return image
    rows = torch.arange(height, device=image.device).clamp_max(h - 1)
    cols = torch.arange(width, device=image.device).clamp_max(w - 1)
    return image[..., rows, :][..., cols]


def pad_and_stack(images: Sequence[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """(C, h, w) images of different sizes -> (B, C, H, W) edge-padded to the largest, and (B, 2)
    sizes.

    Edge padding (not zeros) keeps the antialiasing blur from darkening windows at a page's edge.
    """
    if not images:
        return torch.zeros(0, 3, 1, 1, dtype=torch.uint8), torch.zeros(0, 2, dtype=torch.long)
    height = max(image.shape[1] for image in images)
    width = max(image.shape[2] for image in images)
    return (
        torch.stack([pad_to(image, height, width) for image in images]),
        torch.tensor([image.shape[1:] for image in images], dtype=torch.long),
    )


def collate_pages(items: list[dict]) -> dict:
    """Pages of different sizes -> one padded uint8 batch with each page's (h, w).

    "paths" lists the readable pages in item order. Where some pages are still encoded
    (`EncodedJpeg`, data.decode_on_device), "pages" and "sizes" hold only the decoded ones, and
    "jpegs" the others with "jpeg_slots", their places in "paths": `device_decode.finish_on_device`
    decodes them and puts every page back in order.
    """
    good = [item for item in items if item["image"] is not None]
    unreadable = [entry for item in items for entry in item["unreadable"]]
    slots = [slot for slot, item in enumerate(good) if isinstance(item["image"], EncodedJpeg)]
    pages, sizes = pad_and_stack(
        [item["image"] for item in good if not isinstance(item["image"], EncodedJpeg)]
    )
    batch = {
        "pages": pages,
        "sizes": sizes,
        "paths": [item["path"] for item in good],
        "unreadable": unreadable,
    }
    if slots:
        batch["jpegs"] = [good[slot]["image"] for slot in slots]
        batch["jpeg_slots"] = slots
    return batch


class ShardedStreamSampler(Sampler[int]):
    """An endless, reproducible stream of page indices, sharded across ranks, resumable.

    The global stream is one seeded permutation of all pages per pass; rank r of w takes global
    positions r, r + w, r + 2w, ... `start` is how many samples this rank has already consumed,
    so a resumed run continues the exact sequence an uninterrupted run would have seen.
    """

    def __init__(
        self, num_pages: int, seed: int, rank: int = 0, world_size: int = 1, start: int = 0
    ):
        if num_pages < 1:
            raise ValueError("no pages to sample from")
        self.num_pages, self.seed = num_pages, seed
        self.rank, self.world_size, self.start = rank, world_size, start

    def _permutation(self, epoch: int) -> list[int]:
        generator = torch.Generator().manual_seed(self.seed * 100_003 + epoch)
        return torch.randperm(self.num_pages, generator=generator).tolist()

    def __iter__(self) -> Iterator[int]:
        epoch, order = -1, []
        position = self.start
        while True:
            global_position = position * self.world_size + self.rank
            if global_position // self.num_pages != epoch:
                epoch = global_position // self.num_pages
                order = self._permutation(epoch)
            yield order[global_position % self.num_pages]
            position += 1


def shard(indices: Sequence[int], rank: int, world_size: int) -> list[int]:
    """Every world_size-th index from rank: disjoint shards that together cover all indices."""
    return list(indices)[rank::world_size]


def page_loader(
    paths: list[Path], batch_size: int, num_workers: int, max_pixels: int
) -> DataLoader:
    """Pages in path order, unreadable ones reported in each batch's "unreadable" (never
    replaced)."""
    dataset = PageDataset(paths, replace_unreadable=False, max_pixels=max_pixels)
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=False,
        num_workers=num_workers,
        collate_fn=collate_pages,
        pin_memory=torch.cuda.is_available(),
    )
