"""Plan a colourise job before any model is built: every input listed, every archive checked
(`mangacolor.colorize.archives`), every output path chosen, pages already done counted as skipped,
and the output folder proved writable. Inputs are never overwritten.

With `hints=`, each page's hint file is found here (`mangacolor.colorize.hint_folder`): a page whose
hint file is newer than its output is not done, and a hint file that cannot be used (a `.json` and
a `.png` for one page) is kept with its page's task, which then fails alone when it is loaded.
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
from mangacolor.colorize.hint_folder import HintFolder, hints_newer
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
from mangacolor.hints.marks import PageHints
from mangacolor.inference.hint_files import HintFileError, read_hint_file

KEPT_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff"})


@dataclass
class ArchiveJob:
    """One input archive becoming one output `.cbz`."""

    source: Path
    output: Path
    staging: Path  # finished pages wait here until the archive is packed
    entries: list[tuple[str, Path]]  # (name in the output archive, staged file), archive order
    remaining: int = 0  # pages not yet finished (written or failed) in this run
    waiting: list[str] = field(default_factory=list)  # pages whose hint files failed: not packed
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
    name: str  # how messages name the page
    output: Path
    read: Callable[[], bytes]  # the page's file as it is; raises UnreadableImage/ArchiveError
    max_pixels: int
    archive: ArchiveJob | None = None
    hint_file: Path | None = None  # the page's hint file (hints=); None: automatic
    hint_error: HintFileError | None = None  # its hint files could not be chosen (both kinds)

    def load(self) -> tuple[bytes, torch.Tensor]:
        """The page's bytes (a colour page is copied as they are) and its uint8 RGB (3, H, W).
        Raises UnreadableImage or ArchiveError."""
        data = self.read()
        return data, decode_image(data, self.name, self.max_pixels)

    def read_hints(self, page_size: tuple[int, int]) -> PageHints | None:
        """The page's hints, checked against its (height, width); None without a hint file.
        Raises HintFileError naming the file and the field."""
        if self.hint_error is not None:
            raise self.hint_error
        return None if self.hint_file is None else read_hint_file(self.hint_file, page_size)


@dataclass
class Plan:
    tasks: list[PageTask] = field(default_factory=list)
    archives: list[ArchiveJob] = field(default_factory=list)
    already_done: int = 0  # pages whose output already exists
    refused: list[str] = field(default_factory=list)  # archives refused, with the reason
    unlisted: list[str] = field(
        default_factory=list
    )  # entries that cannot be pages, with the reason
    hints: HintFolder | None = None  # where the pages' hint files are (hints=)


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
        raise ColorizeError(
            f"{source}: refused: its output {output} is the input itself; choose another output folder"
        )


def plan_job(settings: ColorizeSettings) -> Plan:
    """Everything to do, checked before any model is built. Raises ColorizeError or ArchiveError."""
    source, output = settings.input, settings.output
    if not source.exists():
        raise ColorizeError(f"input not found: {source}")
    plan = Plan(hints=HintFolder.for_job(settings.hints, source, output))
    names = _OutputNames()
    if source.is_dir():
        if output.resolve().is_relative_to(source.resolve()):
            raise ColorizeError(
                f"output {output} is inside the input folder {source}: a rerun would colour the outputs; "
                "choose an output folder outside it"
            )
        not_pages: dict[str, str] = {}
        items = sorted([*find_images(source, not_pages), *find_archives(source, not_pages)])
        plan.unlisted = [
            f"{printable(path)}: {reason}" for path, reason in sorted(not_pages.items())
        ]
        if not items:
            raise ColorizeError(
                f"{source}: no images ({', '.join(sorted(IMAGE_SUFFIXES))}) or comic archives (.cbz, .zip) found"
            )
        for path in items:
            relative = path.relative_to(source)
            if is_archive_path(path):
                try:
                    _plan_archive(
                        plan,
                        names,
                        path,
                        output / relative.with_suffix(".cbz"),
                        settings,
                        hint_prefix=relative.with_suffix(""),
                    )
                except ArchiveError as error:
                    plan.refused.append(printable(str(error)))
            else:
                _plan_file(plan, names, path, output / relative, settings, relative)
    elif is_archive_path(source):
        _plan_archive(plan, names, source, output / f"{source.stem}.cbz", settings)
    elif is_image_path(source):
        _plan_file(plan, names, source, output / source.name, settings, PurePath(source.name))
    else:
        raise ColorizeError(
            f"{source}: not an image ({', '.join(sorted(IMAGE_SUFFIXES))}), a .cbz/.zip archive or a folder"
        )
    return plan


def _page_hints(plan: Plan, relative: PurePath) -> tuple[Path | None, HintFileError | None]:
    """A page's hint file, or the error that says why none can be chosen."""
    if plan.hints is None:
        return None, None
    try:
        return plan.hints.find(relative), None
    except HintFileError as error:
        return None, error


def _done(
    output: Path, hints: tuple[Path | None, HintFileError | None], settings: ColorizeSettings
) -> bool:
    """Whether a page's output stands: it exists, no overwrite was asked, and the page's hints
    are usable and no newer than it."""
    hint_file, hint_error = hints
    return (
        output.exists()
        and not settings.overwrite
        and hint_error is None
        and not hints_newer(hint_file, output)
    )


def _plan_file(
    plan: Plan,
    names: _OutputNames,
    path: Path,
    target: Path,
    settings: ColorizeSettings,
    relative: PurePath,
) -> None:
    out = names.claim(target.with_suffix(output_suffix(path.suffix, settings.format)), path.suffix)
    _refuse_overwriting(out, path)
    hints = _page_hints(plan, relative)
    if _done(out, hints, settings):
        plan.already_done += 1
        return
    plan.tasks.append(
        PageTask(
            str(path),
            out,
            lambda: read_file_bytes(path, settings.max_pixels),
            settings.max_pixels,
            None,
            *hints,
        )
    )


def _plan_archive(
    plan: Plan,
    names: _OutputNames,
    path: Path,
    target: Path,
    settings: ColorizeSettings,
    hint_prefix: PurePath | None = None,
) -> None:
    pages = list_archive_pages(
        path, settings.archive_limits
    )  # every safety check, before anything is written
    out = names.claim(target, path.suffix)
    _refuse_overwriting(out, path)
    # Members' hint files by member path (under the archive's own path in an input folder). A
    # packed archive stands only while none of its pages' hints changed since.
    members = [
        page.relative if hint_prefix is None else hint_prefix / page.relative for page in pages
    ]
    hints = [_page_hints(plan, member) for member in members]
    if all(_done(out, page_hints, settings) for page_hints in hints):
        plan.already_done += len(pages)
        return
    job = ArchiveJob(path, out, out.with_name(f".{out.name}.pages"), [])
    entry_names = _OutputNames()
    for index, (page, page_hints) in enumerate(zip(pages, hints)):
        suffix = output_suffix(page.relative.suffix, settings.format)
        name = entry_names.claim(page.relative.with_suffix(suffix), page.relative.suffix)
        # Staged under its index, never its entry name: entries `x.png` and `x.png/y.png`, a name
        # over 255 bytes, or `A.png` beside `a.png` on a case-insensitive disk cannot all be files.
        # The index is stable for one archive, so a rerun still finds its staged pages.
        staged = job.staging / f"{index:05d}{suffix}"
        job.entries.append((name.as_posix(), staged))
        if _done(staged, page_hints, settings):
            plan.already_done += 1
            continue
        job.remaining += 1
        plan.tasks.append(
            PageTask(
                f"{path}:{page.name}",
                staged,
                lambda page=page: job.read(page),
                settings.max_pixels,
                job,
                *page_hints,
            )
        )
    plan.archives.append(job)


def prepare_output(output: Path) -> None:
    """Create the output folder and prove it writable, so a bad one fails before any model is built."""
    try:
        output.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".mangacolor-probe-", dir=output)
        os.close(fd)
        os.unlink(probe)
    except OSError as error:
        raise ColorizeError(
            f"output folder {output} is not writable: {error.strerror or error}"
        ) from None


# ---------------------------------------------------------------------------------------------
# Writing
