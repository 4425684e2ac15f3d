"""Comic archives (`.cbz` / `.zip`): list their pages safely, read them boundedly, write new ones.

An archive from the web is untrusted. Before any page is read, its central directory is checked:
- an entry whose name is absolute (`/x`, `C:x`, `\\\\server\\x`) or climbs out (`..`) makes the whole
  archive refused: no honest comic needs one, and its other pages are not worth the risk;
- declared uncompressed sizes are bounded per entry and in total, and so is the compression ratio
  of large entries (zip bombs). `zipfile` never returns more than an entry's declared size, so
  the declared sizes bound what is actually decompressed;
- directories, `__MACOSX/` resource forks, hidden files and non-image entries are left out.
Pages are read into memory one at a time and never extracted to disk under their own names.
"""

from __future__ import annotations

import os
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from mangacolor.data.files import IMAGE_SUFFIXES, find_files
from mangacolor.runtime.atomic import atomic_write

ARCHIVE_SUFFIXES = frozenset({".cbz", ".zip"})

# Below this size a high ratio is harmless (a blank page compresses 1000:1); above it, the ratio
# check applies. A real zip bomb needs large entries or very many of them (max_total_bytes).
RATIO_CHECKED_ABOVE_BYTES = 1 << 20

_DRIVE = re.compile(r"^[A-Za-z]:")


class ArchiveError(Exception):
    """An archive that is damaged, empty or unsafe; str() names the archive and the reason."""

    def __init__(self, path: os.PathLike | str, reason: str):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


@dataclass(frozen=True)
class ArchiveLimits:
    """Bounds on what an archive may make us decompress (bytes are uncompressed, as declared)."""

    max_entry_bytes: int = 256 << 20
    max_total_bytes: int = 8 << 30
    max_ratio: float = 100.0
    max_entries: int = 10_000

    def __post_init__(self) -> None:
        for name in ("max_entry_bytes", "max_total_bytes", "max_ratio", "max_entries"):
            if getattr(self, name) <= 0:
                raise ValueError(
                    f"archive limit {name} must be positive, got {getattr(self, name)}"
                )


@dataclass(frozen=True)
class ArchivePage:
    """One image entry: its name in the archive and the safe relative path it maps to."""

    info: zipfile.ZipInfo
    relative: PurePosixPath

    @property
    def name(self) -> str:
        return self.info.filename


def is_archive_path(path: Path) -> bool:
    return path.suffix.lower() in ARCHIVE_SUFFIXES


def safe_relative_name(name: str) -> PurePosixPath | None:
    """The entry name as a relative path that stays inside any folder, or None if it would not.

    Backslashes count as separators too: archives made on Windows use them, and a `..\\` must
    not slip through as an ordinary character.
    """
    if not name or "\x00" in name:
        return None
    if name.startswith(("/", "\\")) or _DRIVE.match(name):
        return None
    parts = [part for part in re.split(r"[/\\]+", name) if part not in ("", ".")]
    if not parts or any(part == ".." for part in parts):
        return None
    return PurePosixPath(*parts)


def _is_page_entry(info: zipfile.ZipInfo, relative: PurePosixPath) -> bool:
    if info.is_dir():
        return False
    if relative.parts[0] == "__MACOSX" or any(part.startswith(".") for part in relative.parts):
        return False  # macOS resource forks (`._page.png`) and hidden files are not pages
    return relative.suffix.lower() in IMAGE_SUFFIXES


def list_archive_pages(
    path: os.PathLike | str, limits: ArchiveLimits = ArchiveLimits()
) -> list[ArchivePage]:
    """The image pages of an archive in the archive's own order, after every safety check.

    Raises ArchiveError for a damaged, empty or unsafe archive, naming the entry at fault.
    """
    path = Path(path)
    try:
        with zipfile.ZipFile(path) as archive:
            infos = archive.infolist()
    except FileNotFoundError:
        raise ArchiveError(path, "archive not found") from None
    except (zipfile.BadZipFile, OSError, ValueError) as error:
        raise ArchiveError(path, f"not a readable zip archive ({error})") from None

    if len(infos) > limits.max_entries:
        raise ArchiveError(
            path, f"{len(infos)} entries exceeds the limit of {limits.max_entries} (max_entries)"
        )
    pages: list[ArchivePage] = []
    total = 0
    for info in infos:
        relative = safe_relative_name(info.filename)
        if relative is None:
            raise ArchiveError(
                path, f"refused: entry {info.filename!r} would be written outside the output folder"
            )
        if not _is_page_entry(info, relative):
            continue
        _check_entry_size(path, info, limits)
        total += info.file_size
        if total > limits.max_total_bytes:
            raise ArchiveError(
                path,
                f"refused: pages uncompress to more than {limits.max_total_bytes} bytes (max_total_bytes)",
            )
        pages.append(ArchivePage(info, relative))
    if not pages:
        raise ArchiveError(path, "no image pages in the archive")
    return pages


def _check_entry_size(path: Path, info: zipfile.ZipInfo, limits: ArchiveLimits) -> None:
    if info.flag_bits & 0x1:
        raise ArchiveError(path, f"entry {info.filename!r} is encrypted")
    if info.file_size > limits.max_entry_bytes:
        raise ArchiveError(
            path,
            f"refused: entry {info.filename!r} uncompresses to {info.file_size} bytes, "
            f"over the limit of {limits.max_entry_bytes} (max_entry_bytes)",
        )
    if info.file_size > RATIO_CHECKED_ABOVE_BYTES:
        ratio = info.file_size / max(info.compress_size, 1)
        if ratio > limits.max_ratio:
            raise ArchiveError(
                path,
                f"refused: entry {info.filename!r} has compression ratio {ratio:.0f}, "
                f"over the limit of {limits.max_ratio:g} (max_ratio): a zip bomb?",
            )


def read_archive_entry(archive: zipfile.ZipFile, page: ArchivePage) -> bytes:
    """The entry's bytes, never more than its declared (and checked) size. Raises ArchiveError."""
    try:
        with archive.open(page.info) as handle:
            return handle.read(page.info.file_size)
    except Exception as error:  # noqa: BLE001 - BadZipFile, zlib.error, EOFError...: one bad page
        raise ArchiveError(
            f"{archive.filename}:{page.name}", f"damaged entry ({type(error).__name__}: {error})"
        ) from None


def write_cbz(path: os.PathLike | str, pages: list[tuple[str, Path]]) -> Path:
    """Write (name in archive, file) pairs, in order, as a `.cbz`, atomically.

    Pages are stored, not deflated: JPEG, PNG and WebP are already compressed.
    """
    with atomic_write(path) as handle:
        with zipfile.ZipFile(handle, "w", compression=zipfile.ZIP_STORED) as archive:
            for name, file in pages:
                archive.write(file, arcname=name)
    return Path(path)


def find_archives(folder: os.PathLike | str, unlisted: dict[str, str] | None = None) -> list[Path]:
    """Every `.cbz` / `.zip` file under `folder` (recursive, any case of suffix), sorted.

    Entries that cannot be archives are left out and reported exactly as `find_images` does:
    recorded in `unlisted` (path -> reason) or warned about.
    """
    return find_files(folder, ARCHIVE_SUFFIXES, unlisted, "archive")
