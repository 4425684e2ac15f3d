"""The pages the studio shows: those of `input` (an image, a folder or an archive), then uploads.

The browser names a page only by its index in this list; no path it sends is ever used. Each page
has a relative path, which names its hint file (`output/hints/<relative path>.json`, the layout
`mangacolor-colorize hints=` reads): relative to the input folder for a folder's pages, the member
path for an archive's (under the archive's own relative path without its suffix when the archive
lies in an input folder), the file name for a single image, and `pages/<name>` for an upload,
which is saved under `output/pages/` with its own name, a number added rather than overwriting.
"""

from __future__ import annotations

import io
import re
import threading
import zipfile
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import torch
from PIL import Image

from mangacolor.colorize.archives import (
    ArchiveError,
    find_archives,
    is_archive_path,
    list_archive_pages,
    read_archive_entry,
)
from mangacolor.data.files import (
    IMAGE_SUFFIXES,
    UnreadableImage,
    decode_image,
    find_images,
    is_image_path,
    printable,
    read_file_bytes,
)
from mangacolor.runtime.atomic import atomic_write

UPLOADS = "pages"  # the folder under output where uploads are kept, and their hint prefix
DECODED_KEPT = 4  # decoded pages kept in memory: the one shown and its neighbours
_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9._ ()+-]+")


class UploadRefused(ValueError):
    """An upload that is not a usable page; str() is the message the page shows."""


@dataclass(frozen=True)
class StudioPage:
    index: int
    name: str  # what the page list shows
    relative: PurePosixPath  # names its hint file and its saved outputs
    read: Callable[[], bytes]  # the page's file; raises UnreadableImage or ArchiveError
    uploaded: bool = False


def upload_name(filename: str) -> str:
    """A browser's file name reduced to a plain file name: no folders, no odd characters."""
    base = PurePosixPath(str(filename).replace("\\", "/")).name
    base = _UNSAFE_NAME.sub("_", base).strip(" .")
    return base or "page.png"


class PageBook:
    """The list of pages, decoding on demand (a few kept), and uploads."""

    def __init__(
        self,
        input_path: Path | None,
        output: Path,
        max_pixels: int,
        archive_limits,
        max_upload_bytes: int,
    ):
        self.input, self.output = input_path, output
        self.max_pixels, self.max_upload_bytes = max_pixels, max_upload_bytes
        self.archive_limits = archive_limits
        self.uploads = output / UPLOADS
        self.unlisted: list[str] = []  # input entries that are not pages, with the reason
        self._lock = threading.Lock()
        self._decoded: OrderedDict[int, torch.Tensor] = OrderedDict()
        self.pages: list[StudioPage] = []
        for name, relative, read in self._input_pages():
            self._add(name, relative, read)
        if self.uploads.is_dir():
            for path in sorted(
                p for p in self.uploads.iterdir() if p.is_file() and is_image_path(p)
            ):
                self._add_upload(path)

    # ---- listing ------------------------------------------------------------------------------
    def _input_pages(self):
        source = self.input
        if source is None:
            return
        if source.is_dir():
            unlisted: dict[str, str] = {}
            for path in sorted([*find_images(source, unlisted), *find_archives(source, unlisted)]):
                relative = PurePosixPath(path.relative_to(source).as_posix())
                if is_archive_path(path):
                    yield from self._archive_pages(path, relative.with_suffix(""))
                else:
                    yield relative.as_posix(), relative, self._file_reader(path)
            self.unlisted += [f"{printable(p)}: {why}" for p, why in sorted(unlisted.items())]
        elif is_archive_path(source):
            yield from self._archive_pages(source, None)
        elif is_image_path(source):
            yield source.name, PurePosixPath(source.name), self._file_reader(source)
        else:
            raise ValueError(f"{source}: not an image, a .cbz/.zip archive or a folder")

    def _archive_pages(self, path: Path, prefix: PurePosixPath | None):
        try:
            # colorize's guards, every entry checked
            pages = list_archive_pages(path, self.archive_limits)
        except ArchiveError as error:
            if prefix is None:
                raise
            self.unlisted.append(printable(str(error)))
            return
        lock = threading.Lock()

        for page in pages:

            def read(page=page) -> bytes:
                with lock, zipfile.ZipFile(path) as archive:
                    return read_archive_entry(archive, page)

            relative = page.relative if prefix is None else prefix / page.relative
            yield f"{path.name}: {page.relative.as_posix()}", relative, read

    def _file_reader(self, path: Path) -> Callable[[], bytes]:
        return lambda: read_file_bytes(path, self.max_pixels)

    def _add(self, name, relative, read, uploaded=False) -> StudioPage:
        page = StudioPage(len(self.pages), name, relative, read, uploaded)
        self.pages.append(page)
        return page

    def _add_upload(self, path: Path) -> StudioPage:
        relative = PurePosixPath(UPLOADS, path.name)
        return self._add(f"uploaded: {path.name}", relative, self._file_reader(path), uploaded=True)

    # ---- reading ------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.pages)

    def page(self, index: int) -> StudioPage:
        if not 0 <= index < len(self.pages):
            raise IndexError(f"no page {index}: there are {len(self.pages)}")
        return self.pages[index]

    def rgb(self, index: int) -> torch.Tensor:
        """The page as uint8 RGB (3, H, W). Raises UnreadableImage or ArchiveError."""
        page = self.page(index)
        with self._lock:
            if index in self._decoded:
                self._decoded.move_to_end(index)
                return self._decoded[index]
        rgb = decode_image(page.read(), page.name, self.max_pixels)
        with self._lock:
            self._decoded[index] = rgb
            while len(self._decoded) > DECODED_KEPT:
                self._decoded.popitem(last=False)
        return rgb

    # ---- uploads ------------------------------------------------------------------------------
    def upload(self, filename: str, data: bytes) -> StudioPage:
        """Check a dropped file as colorize checks a page, keep it under output/pages/, list it.
        Raises UploadRefused with the message to show."""
        name = upload_name(filename)
        if PurePosixPath(name).suffix.lower() not in IMAGE_SUFFIXES:
            raise UploadRefused(
                f"{name}: not a page: the studio takes {', '.join(sorted(IMAGE_SUFFIXES))}"
            )
        if len(data) > self.max_upload_bytes:
            raise UploadRefused(
                f"{name}: {len(data)} bytes, over the limit of {self.max_upload_bytes} "
                "(max_upload_bytes)"
            )
        try:
            # size, pixel count and format, as colorize's guards
            decode_image(data, name, self.max_pixels)
        except UnreadableImage as error:
            raise UploadRefused(str(error)) from None
        with self._lock:
            self.uploads.mkdir(parents=True, exist_ok=True)
            target = self._free_name(self.uploads / name)
            with atomic_write(target) as handle:
                handle.write(data)
            return self._add_upload(target)

    @staticmethod
    def _free_name(path: Path) -> Path:
        """`path`, or `stem_2.ext`, `stem_3.ext`... : the first that does not exist."""
        candidate, counter = path, 2
        while candidate.exists():
            candidate = path.with_name(f"{path.stem}_{counter}{path.suffix}")
            counter += 1
        return candidate


def png_bytes(rgb: torch.Tensor) -> bytes:
    """uint8 RGB (3, H, W) or RGBA (4, H, W) -> PNG bytes."""
    array = rgb.permute(1, 2, 0).contiguous().numpy()
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()
