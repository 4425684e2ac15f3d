"""A run's page folders (data.train_dir and data.val_dir, or data.data_dir split in two): checked,
listed, and proved readable before any model is built.
"""

from __future__ import annotations

from pathlib import Path

from mangacolor.data.files import (
    IMAGE_SUFFIXES,
    UnreadableImage,
    find_images,
    read_image,
    split_by_hash,
)


def check_page_folders(train_dir: str | None, data_dir: str | None) -> None:
    """Raise ValueError where no folder of training pages is set."""
    if data_dir is None and train_dir is None:
        raise ValueError(
            "set data.train_dir (and data.val_dir), or data.data_dir to split one folder"
        )


def list_pages(
    train_dir: str | None,
    val_dir: str | None,
    data_dir: str | None,
    val_fraction: float,
    unlisted: dict[str, str],
) -> tuple[list[Path], list[Path]]:
    """(training pages, validation pages): data_dir split by hash when set, else the pages of
    train_dir and of val_dir (none without it). Entries that cannot be pages go to `unlisted`."""
    if data_dir is not None:
        paths = find_images(data_dir, unlisted)
        return split_by_hash(paths, data_dir, val_fraction)
    train_paths = find_images(train_dir, unlisted)
    val_paths = find_images(val_dir, unlisted) if val_dir else []
    return train_paths, val_paths


def require_readable(paths: list[Path], where, max_pixels: int) -> None:
    """Fail early, before any model is built, when a folder has no usable image.

    Reads files in order until one decodes: usually the first, so a good folder costs one read.
    """
    if not paths:
        suffixes = ", ".join(sorted(suffix.lstrip(".") for suffix in IMAGE_SUFFIXES))
        raise FileNotFoundError(f"no image files ({suffixes}) found under {where}")
    first_error = None
    for path in paths:
        try:
            read_image(path, max_pixels)
            return
        except UnreadableImage as error:
            first_error = first_error or error
    raise FileNotFoundError(
        f"none of the {len(paths)} image files under {where} is readable (e.g. {first_error})"
    )
