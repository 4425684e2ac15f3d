"""Plan a colourise job before any model is built: every input listed, every archive checked
(`mangacolor.colorize.archives`), every output path chosen, pages already done counted as skipped,
and the output folder proved writable. Inputs are never overwritten.
"""

from __future__ import annotations

import os
import tempfile
import threading
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePath

import torch

from mangacolor.colorize.archives import (
    ArchiveError,
    ArchivePage,
    find_archives,
    is_archive_path,
    list_archive_pages,
    read_archive_entry,
)
from mangacolor.colorize.settings import (
    FORMAT_SUFFIXES,
    ColorizeError,
    ColorizeSettings,
)
from mangacolor.data.files import (
    IMAGE_SUFFIXES,
    decode_image,
    find_images,
    is_image_path,
    printable,
    read_file_bytes,
)

KEPT_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff"})


@dataclass
class ArchiveJob:
    """One input archive becoming one output `.cbz`."""

    source: Path
    output: Path
    staging: Path                          # finished pages wait here until the archive is packed
    entries: list[tuple[str, Path]]        # (name in the output archive, staged file), archive order
    remaining: int = 0                     # pages not yet finished (written or failed) in this run
    _zip: zipfile.ZipFile | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def read(self, page: ArchivePage) -> bytes:
        with self._lock:  # opened on first use, by whichever loader thread gets there first
            if self._zip is None:
                self._zip = zipfile.ZipFile(self.source)
            archive = self._zip
        return read_archive_entry(archive, page)

    def close(self) -> None:
        with self._lock:
            if self._zip is not None:
                self._zip.close()
                self._zip = None


@dataclass
class PageTask:
    name: str                              # how messages name the page
    output: Path
    read: Callable[[], bytes]              # the page's file as it is; raises UnreadableImage/ArchiveError
    max_pixels: int
    archive: ArchiveJob | None = None

    def load(self) -> tuple[bytes, torch.Tensor]:
        """The page's bytes (a colour page is copied as they are) and its uint8 RGB (3, H, W).
        Raises UnreadableImage or ArchiveError."""
        data = self.read()
        return data, decode_image(data, self.name, self.max_pixels)


@dataclass
class Plan:
    tasks: list[PageTask] = field(default_factory=list)
    archives: list[ArchiveJob] = field(default_factory=list)
    already_done: int = 0                       # pages whose output already exists
    refused: list[str] = field(default_factory=list)   # archives refused, with the reason
    unlisted: list[str] = field(default_factory=list)  # entries that cannot be pages, with the reason


def output_suffix(source_suffix: str, fmt: str) -> str:
    if fmt.lower() != "keep":
        return FORMAT_SUFFIXES[fmt.lower()]
    return source_suffix if source_suffix.lower() in KEPT_SUFFIXES else ".png"


class _OutputNames:
    """Hands out output paths; two sources mapping to one name (a.jpg, a.png -> a.webp) get distinct
    ones (a.webp, a_png.webp) instead of overwriting each other."""

    def __init__(self) -> None:
        self.taken: set[PurePath] = set()

    def claim(self, path: PurePath, source_suffix: str) -> PurePath:
        if path in self.taken:
            path = path.with_name(f"{path.stem}_{source_suffix.lstrip('.').lower()}{path.suffix}")
        counter = 2
        candidate = path
        while candidate in self.taken:
            candidate = path.with_name(f"{path.stem}_{counter}{path.suffix}")
            counter += 1
        self.taken.add(candidate)
        return candidate


def _refuse_overwriting(output: Path, source: Path) -> None:
    if output.exists() and os.path.samefile(output, source):
        raise ColorizeError(f"{source}: refused: its output {output} is the input itself; choose another output folder")


def plan_job(settings: ColorizeSettings) -> Plan:
    """Everything to do, checked before any model is built. Raises ColorizeError or ArchiveError."""
    source, output = settings.input, settings.output
    if not source.exists():
        raise ColorizeError(f"input not found: {source}")
    plan, names = Plan(), _OutputNames()
    if source.is_dir():
        if output.resolve().is_relative_to(source.resolve()):
            raise ColorizeError(
                f"output {output} is inside the input folder {source}: a rerun would colour the outputs; "
                "choose an output folder outside it"
            )
        not_pages: dict[str, str] = {}
        items = sorted([*find_images(source, not_pages), *find_archives(source, not_pages)])
        plan.unlisted = [f"{printable(path)}: {reason}" for path, reason in sorted(not_pages.items())]
        if not items:
            raise ColorizeError(
                f"{source}: no images ({', '.join(sorted(IMAGE_SUFFIXES))}) or comic archives (.cbz, .zip) found"
            )
        for path in items:
            relative = path.relative_to(source)
            if is_archive_path(path):
                try:
                    _plan_archive(plan, names, path, output / relative.with_suffix(".cbz"), settings)
                except ArchiveError as error:
                    plan.refused.append(printable(str(error)))
            else:
                _plan_file(plan, names, path, output / relative, settings)
    elif is_archive_path(source):
        _plan_archive(plan, names, source, output / f"{source.stem}.cbz", settings)
    elif is_image_path(source):
        _plan_file(plan, names, source, output / source.name, settings)
    else:
        raise ColorizeError(f"{source}: not an image ({', '.join(sorted(IMAGE_SUFFIXES))}), a .cbz/.zip archive or a folder")
    return plan


def _plan_file(plan: Plan, names: _OutputNames, path: Path, target: Path, settings: ColorizeSettings) -> None:
    out = names.claim(target.with_suffix(output_suffix(path.suffix, settings.format)), path.suffix)
    _refuse_overwriting(out, path)
    if out.exists() and not settings.overwrite:
        plan.already_done += 1
        return
    plan.tasks.append(PageTask(str(path), out, lambda: read_file_bytes(path, settings.max_pixels), settings.max_pixels))


def _plan_archive(plan: Plan, names: _OutputNames, path: Path, target: Path, settings: ColorizeSettings) -> None:
    pages = list_archive_pages(path, settings.archive_limits)  # every safety check, before anything is written
    out = names.claim(target, path.suffix)
    _refuse_overwriting(out, path)
    if out.exists() and not settings.overwrite:
        plan.already_done += len(pages)
        return
    job = ArchiveJob(path, out, out.with_name(f".{out.name}.pages"), [])
    entry_names = _OutputNames()
    for index, page in enumerate(pages):
        suffix = output_suffix(page.relative.suffix, settings.format)
        name = entry_names.claim(page.relative.with_suffix(suffix), page.relative.suffix)
        # Staged under its index, never its entry name: entries `x.png` and `x.png/y.png`, a name
        # over 255 bytes, or `A.png` beside `a.png` on a case-insensitive disk cannot all be files.
        # The index is stable for one archive, so a rerun still finds its staged pages.
        staged = job.staging / f"{index:05d}{suffix}"
        job.entries.append((name.as_posix(), staged))
        if staged.exists() and not settings.overwrite:
            plan.already_done += 1
            continue
        job.remaining += 1
        plan.tasks.append(PageTask(
            f"{path}:{page.name}", staged, lambda page=page: job.read(page), settings.max_pixels, job,
        ))
    plan.archives.append(job)


def prepare_output(output: Path) -> None:
    """Create the output folder and prove it writable, so a bad one fails before any model is built."""
    try:
        output.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".mangacolor-probe-", dir=output)
        os.close(fd)
        os.unlink(probe)
    except OSError as error:
        raise ColorizeError(f"output folder {output} is not writable: {error.strerror or error}") from None


# ---------------------------------------------------------------------------------------------
# Writing
