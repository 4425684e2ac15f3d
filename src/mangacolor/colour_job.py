"""Colour a user's pages: one image, a folder tree (mirrored) or a comic archive, safely and resumably.

The job is planned before any model is built: every input is listed, every archive checked
(`mangacolor.archives`), every output path chosen, pages already done counted as skipped, and
the output folder proved writable. Then pages are decoded in background threads, coloured in
batches (`mangacolor.colouring`), and written each to a temporary name and renamed.

Archive pages are first written to a hidden folder beside the output `.cbz`
(`.<name>.cbz.pages/`, each page named by its index: `00000.png`...), so an interrupted archive
resumes page by page; when its last page is done they are packed, in the archive's own order and
under their own entry names, into the `.cbz` and the folder is removed.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import threading
import time
import zipfile
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path, PurePath
from typing import Any

import torch
from PIL import Image
from tqdm import tqdm

from mangacolor.archives import (
    ArchiveError,
    ArchiveLimits,
    ArchivePage,
    find_archives,
    is_archive_path,
    list_pages,
    read_page,
    write_cbz,
)
from mangacolor.atomic import atomic_write
from mangacolor.colouring import PageColouriser
from mangacolor.config_checks import ConfigError
from mangacolor.data.files import (
    DEFAULT_MAX_PIXELS,
    IMAGE_SUFFIXES,
    UnreadableImage,
    decode_image,
    find_images,
    is_image_path,
    printable,
    read_image,
)
from mangacolor.inference import PRECISIONS, resolve_device
from mangacolor.models.generator_io import load_generator

# format= choices -> the suffix written; "keep" keeps each page's own where it can hold a colour
# page (GIF cannot: 256 colours), else writes PNG.
FORMAT_SUFFIXES = {"png": ".png", "jpeg": ".jpg", "jpg": ".jpg", "webp": ".webp"}
KEPT_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff"})


class ColouriseError(Exception):
    """A problem that stops the whole job (missing input, output that cannot be written...)."""


@dataclass(frozen=True)
class ColouriseSettings:
    ckpt_path: Path
    input: Path
    output: Path
    size: int | None = None
    full_resolution: bool = False
    tile: int = 1024
    tile_overlap: int = 256
    batch_size: int = 4
    format: str = "keep"
    quality: int = 92
    overwrite: bool = False
    device: str = "auto"
    precision: str = "auto"
    num_workers: int = 2
    max_pixels: int = DEFAULT_MAX_PIXELS
    progress: bool = True
    archive_limits: ArchiveLimits = field(default_factory=ArchiveLimits)

    @classmethod
    def from_config(cls, cfg: Any) -> ColouriseSettings:
        """From the Hydra config; a bad value raises ConfigError naming its key."""
        values = {}
        for key in ("ckpt_path", "input", "output"):
            value = cfg.get(key)
            if value in (None, "", "???"):
                raise ConfigError(f"{key} is required: mangacolor-colorize ckpt_path=generator.pt input=PAGES output=DIR")
            values[key] = Path(os.path.expanduser(str(value)))
        archive = cfg.get("archive") or {}
        try:
            limits = ArchiveLimits(**{k: archive[k] for k in archive})
        except (TypeError, ValueError) as error:
            raise ConfigError(f"archive: {error}") from None
        numbers = ("size", "tile", "tile_overlap", "batch_size", "quality", "num_workers", "max_pixels")
        for key in numbers:
            if cfg.get(key) is not None:
                try:
                    values[key] = int(cfg[key])
                except (TypeError, ValueError):
                    raise ConfigError(f"{key} must be a whole number, got {cfg[key]!r}") from None
        for key in ("full_resolution", "overwrite", "progress", "format", "device", "precision"):
            if key in cfg:
                values[key] = cfg[key]
        settings = cls(**values, archive_limits=limits)
        settings.check()
        return settings

    def check(self) -> None:
        def require(condition: bool, message: str) -> None:
            if not condition:
                raise ConfigError(message)

        require(self.size is None or self.size >= 1, f"size must be null or a positive number of pixels, got {self.size}")
        require(self.tile >= 1, f"tile must be positive, got {self.tile}")
        require(0 <= self.tile_overlap < self.tile,
                f"tile_overlap must be at least 0 and less than tile ({self.tile}), got {self.tile_overlap}")
        require(self.batch_size >= 1, f"batch_size must be >= 1, got {self.batch_size}")
        require(str(self.format).lower() in ("keep", *FORMAT_SUFFIXES),
                f"format must be keep, png, jpeg or webp, got {self.format!r}")
        require(1 <= self.quality <= 100, f"quality must be in 1..100, got {self.quality}")
        require(self.num_workers >= 0, f"num_workers must be >= 0, got {self.num_workers}")
        require(self.max_pixels >= 1, f"max_pixels must be positive, got {self.max_pixels}")
        try:
            resolve_device(self.device)
        except (RuntimeError, ValueError) as error:
            raise ConfigError(f"device: {error}") from None
        if str(self.precision) not in PRECISIONS:
            raise ConfigError(f"precision must be one of {', '.join(PRECISIONS)}, got {self.precision!r}")


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
        return read_page(archive, page)

    def close(self) -> None:
        with self._lock:
            if self._zip is not None:
                self._zip.close()
                self._zip = None


@dataclass
class PageTask:
    name: str                              # how messages name the page
    output: Path
    load: Callable[[], torch.Tensor]       # -> uint8 RGB (3, H, W); raises UnreadableImage/ArchiveError
    archive: ArchiveJob | None = None


@dataclass
class Plan:
    tasks: list[PageTask] = field(default_factory=list)
    archives: list[ArchiveJob] = field(default_factory=list)
    skipped: int = 0                       # pages whose output already exists
    refused: list[str] = field(default_factory=list)   # archives refused, with the reason
    unlisted: list[str] = field(default_factory=list)  # entries that cannot be pages, with the reason


@dataclass
class Summary:
    coloured: int
    skipped: int
    unreadable: list[str]
    refused: list[str]
    seconds: float
    output: Path
    device: str
    resolution: str

    def line(self) -> str:
        parts = [f"{self.coloured} pages coloured", f"{self.skipped} skipped (already done)"]
        if self.unreadable:
            parts.append(f"{len(self.unreadable)} unreadable (named above)")
        if self.refused:
            parts.append(f"{len(self.refused)} archives refused (named above)")
        speed = (f", {self.coloured / self.seconds:.2f} pages/s" if self.coloured and self.seconds > 0 else "")
        return (f"mangacolor-colorize: {', '.join(parts)}{speed} on {self.device} at {self.resolution}. "
                f"Output folder {printable(self.output)}")


# ---------------------------------------------------------------------------------------------
# Planning: what to colour, where each page goes, what is already done


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
        raise ColouriseError(f"{source}: refused: its output {output} is the input itself; choose another output folder")


def plan_job(settings: ColouriseSettings) -> Plan:
    """Everything to do, checked before any model is built. Raises ColouriseError or ArchiveError."""
    source, output = settings.input, settings.output
    if not source.exists():
        raise ColouriseError(f"input not found: {source}")
    plan, names = Plan(), _OutputNames()
    if source.is_dir():
        if output.resolve().is_relative_to(source.resolve()):
            raise ColouriseError(
                f"output {output} is inside the input folder {source}: a rerun would colour the outputs; "
                "choose an output folder outside it"
            )
        not_pages: dict[str, str] = {}
        items = sorted([*find_images(source, not_pages), *find_archives(source, not_pages)])
        plan.unlisted = [f"{printable(path)}: {reason}" for path, reason in sorted(not_pages.items())]
        if not items:
            raise ColouriseError(
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
        raise ColouriseError(f"{source}: not an image ({', '.join(sorted(IMAGE_SUFFIXES))}), a .cbz/.zip archive or a folder")
    return plan


def _plan_file(plan: Plan, names: _OutputNames, path: Path, target: Path, settings: ColouriseSettings) -> None:
    out = names.claim(target.with_suffix(output_suffix(path.suffix, settings.format)), path.suffix)
    _refuse_overwriting(out, path)
    if out.exists() and not settings.overwrite:
        plan.skipped += 1
        return
    plan.tasks.append(PageTask(str(path), out, lambda: read_image(path, settings.max_pixels)))


def _plan_archive(plan: Plan, names: _OutputNames, path: Path, target: Path, settings: ColouriseSettings) -> None:
    pages = list_pages(path, settings.archive_limits)  # every safety check, before anything is written
    out = names.claim(target, path.suffix)
    _refuse_overwriting(out, path)
    if out.exists() and not settings.overwrite:
        plan.skipped += len(pages)
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
            plan.skipped += 1
            continue
        job.remaining += 1
        plan.tasks.append(PageTask(
            f"{path}:{page.name}", staged,
            lambda page=page: decode_image(job.read(page), f"{path}:{page.name}", settings.max_pixels), job,
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
        raise ColouriseError(f"output folder {output} is not writable: {error.strerror or error}") from None


# ---------------------------------------------------------------------------------------------
# Writing


def save_page(rgb: torch.Tensor, path: Path, quality: int) -> None:
    """uint8 RGB (3, H, W) -> an image file in the format its suffix names, atomically.

    A failure (disk full, permission) leaves no partial file and stops the job: every later page
    would fail the same way.
    """
    image = Image.fromarray(rgb.permute(1, 2, 0).contiguous().numpy())
    pil_format = Image.registered_extensions().get(path.suffix.lower(), "PNG")
    options = {"quality": quality} if pil_format in ("JPEG", "WEBP") else {}
    try:
        with atomic_write(path) as handle:
            image.save(handle, format=pil_format, **options)
    except OSError as error:
        raise ColouriseError(f"cannot write {path}: {error.strerror or error}; stopped, no partial file left") from None


def finish_archive(job: ArchiveJob, say: Callable[[str], None]) -> None:
    """Pack the staged pages, in the archive's order, into the output `.cbz`; drop the staging folder."""
    job.close()
    present = [(name, staged) for name, staged in job.entries if staged.exists()]
    if not present:
        say(f"{printable(job.source)}: no page could be coloured; no archive written")
        return
    try:
        write_cbz(job.output, present)
    except OSError as error:
        raise ColouriseError(f"cannot write {job.output}: {error.strerror or error}; stopped, no partial file left") from None
    shutil.rmtree(job.staging, ignore_errors=True)


# ---------------------------------------------------------------------------------------------
# Running


def colorize(settings: ColouriseSettings, say: Callable[[str], None] | None = None) -> Summary:
    """Colour everything `settings.input` holds into `settings.output`; returns what was done."""
    say = say or (lambda message: tqdm.write(message, file=sys.stderr))
    if not settings.ckpt_path.is_file():
        raise ColouriseError(f"checkpoint not found: {settings.ckpt_path} (ckpt_path: a generator.pt or a training .ckpt)")
    plan = plan_job(settings)
    for message in plan.unlisted:
        say(f"skipped {message}")
    for message in plan.refused:
        say(f"refused {message}")
    prepare_output(settings.output)
    device = resolve_device(settings.device)
    generator, _config = load_generator(settings.ckpt_path)
    short_side = None if settings.full_resolution else settings.size or generator.training_size or generator.multiple
    try:
        colouriser = PageColouriser(generator, short_side, settings.tile, settings.tile_overlap,
                                    settings.batch_size, device, str(settings.precision))
    except ValueError as error:
        raise ConfigError(f"tile / tile_overlap: {error}") from None

    start = time.perf_counter()
    unreadable = _run(plan, colouriser, settings, say)
    return Summary(
        coloured=len(plan.tasks) - len(unreadable), skipped=plan.skipped, unreadable=plan.unlisted + unreadable,
        refused=plan.refused, seconds=time.perf_counter() - start, output=settings.output,
        device=f"{device} ({colouriser.precision})",
        resolution="full resolution" if short_side is None else f"{short_side} px on the shorter side",
    )


def _run(plan: Plan, colouriser: PageColouriser, settings: ColouriseSettings, say) -> list[str]:
    """Decode ahead in threads, colour in batches, write in threads. Returns the unreadable pages."""
    unreadable: list[str] = []

    def finished(task: PageTask) -> None:
        job = task.archive
        if job is not None:
            job.remaining -= 1
            if job.remaining == 0:
                finish_archive(job, say)

    for job in plan.archives:
        if job.remaining == 0:  # every page was staged by an interrupted run: only packing is left
            finish_archive(job, say)

    workers = max(1, settings.num_workers)
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="mangacolor-pages")
    loads: deque[tuple[PageTask, Future]] = deque()
    writes: list[tuple[PageTask, Future]] = []
    pending = iter(plan.tasks)
    bar = tqdm(total=len(plan.tasks), unit="page", desc="colouring", disable=not settings.progress,
               file=sys.stderr, dynamic_ncols=True)

    def load_next() -> None:
        task = next(pending, None)
        if task is not None:
            loads.append((task, pool.submit(task.load)))

    def wait_for_writes() -> None:
        for task, future in writes:
            future.result()  # ColouriseError (disk full, permission) stops the job here
            bar.update(1)
            finished(task)
        writes.clear()

    def colour_and_write(batch: list[tuple[PageTask, torch.Tensor]]) -> None:
        coloured = colouriser.colour([page for _, page in batch])
        wait_for_writes()  # at most one batch of pages waits in memory to be written
        for (task, _), rgb in zip(batch, coloured):
            writes.append((task, pool.submit(save_page, rgb, task.output, settings.quality)))
        batch.clear()

    try:
        for _ in range(settings.batch_size + 2 * workers):
            load_next()
        batch: list[tuple[PageTask, torch.Tensor]] = []
        while loads:
            task, future = loads.popleft()
            load_next()
            try:
                batch.append((task, future.result()))
            except (UnreadableImage, ArchiveError) as error:
                unreadable.append(printable(str(error)))
                say(f"skipped {printable(str(error))}")
                bar.update(1)
                finished(task)
                continue
            if len(batch) >= settings.batch_size:
                colour_and_write(batch)
        if batch:
            colour_and_write(batch)
        wait_for_writes()
    finally:
        for _, future in loads:
            future.cancel()
        pool.shutdown(wait=True, cancel_futures=True)
        bar.close()
        for job in plan.archives:
            job.close()
    return unreadable
