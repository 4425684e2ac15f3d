"""The mean-ab baseline: one colour for every pixel, the average colour of the training crops.

A model that has learnt only "comics are a bit warm" beats grey by a little; it must also beat
this baseline to show it colours by content.
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch

from mangacolor.color import AB_SCALE, rgb_to_scaled_lab
from mangacolor.data.files import DEFAULT_MAX_PIXELS, find_images, printable
from mangacolor.data.pages import page_loader
from mangacolor.data.transforms import PageCropper
from mangacolor.evaluation.settings import EvalSettings
from mangacolor.runtime.progress import Progress

log = logging.getLogger(__name__)


def evenly_spaced(paths: list[Path], limit: int | None) -> list[Path]:
    """At most `limit` paths spread over the whole sorted list: file names often sort by series or
    category, so the first N would be a biased sample."""
    if limit is None or len(paths) <= limit:
        return list(paths)
    return [paths[i * len(paths) // limit] for i in range(limit)]


@torch.inference_mode()
def mean_ab_of_pages(
    paths: list[Path],
    cropper: PageCropper,
    device: torch.device,
    batch_size: int = 8,
    num_workers: int = 0,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    progress: bool = True,
) -> tuple[torch.Tensor, int, list[tuple[str, str]]]:
    """Mean scaled (a, b) over the centre crops of `paths` -> ((2,) float64, pages used, bad files).

    Every crop has the same size, so each page weighs the same.
    """
    total = torch.zeros(2, dtype=torch.float64, device=device)
    used, unreadable = 0, []
    bar = Progress(len(paths), "mean-ab baseline", "page", mode="auto" if progress else "off")
    for batch in page_loader(paths, batch_size, num_workers, max_pixels):
        unreadable.extend(batch["unreadable"])
        bar.update(len(batch["paths"]) + len(batch["unreadable"]))
        if not batch["paths"]:
            continue
        pages = batch["pages"].to(device, non_blocking=True)
        crops = cropper(pages, batch["sizes"].to(device), None, train=False)
        _, ab = rgb_to_scaled_lab(crops)
        total += ab.double().mean(dim=(2, 3)).sum(0)
        used += ab.shape[0]
    bar.close()
    if used == 0:
        raise FileNotFoundError(
            f"no readable training page for the mean-ab baseline among {len(paths)} files"
        )
    for path, reason in unreadable:
        log.warning("mean-ab baseline: skipped unreadable page %s: %s", printable(path), reason)
    return (total / used).cpu(), used, unreadable


def mean_ab_of_folder(train_dir: Path, settings: EvalSettings) -> tuple[torch.Tensor, dict]:
    """The baseline's scaled (a, b) from up to settings.mean_ab_limit training pages, and a report of it."""
    unlisted: dict[str, str] = {}
    paths = evenly_spaced(find_images(train_dir, unlisted=unlisted), settings.mean_ab_limit)
    cropper = PageCropper(settings.size, settings.window, hflip=False)
    mean_ab, used, unreadable = mean_ab_of_pages(
        paths,
        cropper,
        torch.device(settings.device),
        settings.batch_size,
        settings.num_workers,
        settings.max_pixels,
        settings.progress,
    )
    report = {
        "train_dir": str(train_dir.resolve()),
        "pages": used,
        "skipped": len(unreadable) + len(unlisted),
        "ab_lab_units": (mean_ab * AB_SCALE).tolist(),
    }
    return mean_ab, report
