"""A dataset over page paths (decoded in workers), its collate, and a resumable sharded sampler."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from mangacolor.data.files import DEFAULT_MAX_PIXELS, UnreadableImage, read_image


class PageDataset(Dataset):
    """Page i -> {"image": uint8 (3, H, W) or None, "path": str, "bad": [(path, reason), ...]}.

    With `replace_bad` (training) an unreadable page is replaced by the next readable one and
    reported in "bad"; without it (validation, eval) the item has image None, so the page is
    skipped and reported.
    """

    def __init__(self, paths: Sequence[Path], replace_bad: bool, max_pixels: int = DEFAULT_MAX_PIXELS):
        self.paths = [str(p) for p in paths]
        self.replace_bad = replace_bad
        self.max_pixels = max_pixels
        self._unreadable: set[int] = set()  # per worker: known-bad pages are passed over unread

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> dict:
        bad = []
        # A training page that cannot be read is replaced by the next readable one, however long
        # the run of bad files (a whole chapter saved as error pages): the data module checked at
        # start that the folder holds a readable page, so the search ends.
        attempts = len(self.paths) if self.replace_bad else 1
        for step in range(attempts):
            position = (index + step) % len(self.paths)
            if position in self._unreadable:
                continue
            path = self.paths[position]
            try:
                return {"image": read_image(path, self.max_pixels), "path": path, "bad": bad}
            except UnreadableImage as error:
                bad.append((error.path, error.reason))
                if self.replace_bad:
                    self._unreadable.add(position)
        if not self.replace_bad:
            return {"image": None, "path": self.paths[index], "bad": bad}
        reasons = "; ".join(f"{p}: {r}" for p, r in bad[:5]) or "all were unreadable before"
        raise RuntimeError(f"none of the {len(self.paths)} training pages is readable any more ({reasons})")


def pad_to(image: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Pad a (C, h, w) uint8 image to (C, height, width) by repeating its edge pixels."""
    _, h, w = image.shape
    if (h, w) == (height, width):
        return image
    rows = torch.arange(height).clamp_max(h - 1)
    cols = torch.arange(width).clamp_max(w - 1)
    return image[:, rows][:, :, cols]


def collate_pages(items: list[dict]) -> dict:
    """Pages of different sizes -> one padded uint8 batch with each page's (h, w).

    Edge padding (not zeros) keeps the antialiasing blur from darkening windows at a page's edge.
    """
    good = [item for item in items if item["image"] is not None]
    bad = [entry for item in items for entry in item["bad"]]
    if not good:
        return {"pages": torch.zeros(0, 3, 1, 1, dtype=torch.uint8),
                "sizes": torch.zeros(0, 2, dtype=torch.long), "paths": [], "bad": bad}
    height = max(item["image"].shape[1] for item in good)
    width = max(item["image"].shape[2] for item in good)
    return {
        "pages": torch.stack([pad_to(item["image"], height, width) for item in good]),
        "sizes": torch.tensor([item["image"].shape[1:] for item in good], dtype=torch.long),
        "paths": [item["path"] for item in good],
        "bad": bad,
    }


class ShardedStreamSampler(Sampler[int]):
    """An endless, reproducible stream of page indices, sharded across ranks, resumable.

    The global stream is one seeded permutation of all pages per pass; rank r of w takes global
    positions r, r + w, r + 2w, ... `start` is how many samples this rank has already consumed,
    so a resumed run continues the exact sequence an uninterrupted run would have seen.
    """

    def __init__(self, num_pages: int, seed: int, rank: int = 0, world_size: int = 1, start: int = 0):
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


def page_loader(paths: list[Path], batch_size: int, num_workers: int, max_pixels: int) -> DataLoader:
    """Pages in path order, unreadable ones reported in each batch's "bad" (never replaced)."""
    dataset = PageDataset(paths, replace_bad=False, max_pixels=max_pixels)
    return DataLoader(
        dataset, batch_size=batch_size, shuffle=False, num_workers=num_workers,
        collate_fn=collate_pages, pin_memory=torch.cuda.is_available(),
    )
