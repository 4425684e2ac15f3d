"""Where a colourise job's pages find their hint files (`hints=`), and which files found no page.

A page's hint file mirrors the page's path relative to the input folder with `.json` or `.png` in
place of its suffix (`inference.hint_files.hint_file_for`): `ch1/003.jpg` -> `<hints>/ch1/003.json`.
An archive's pages go by their member paths, under the archive's own relative path without its
suffix when the archive lies in an input folder (`extra.cbz` member `a/01.png` ->
`<hints>/extra/a/01.json`), the layout the studio writes. A single page may instead be given its
hint file itself (`hints=page.json`).

Every lookup happens while the job is planned, on one thread, so what no page claimed is known
when the job ends (`unmatched`). A page whose hint file is newer than its output is coloured again
(`hints_newer`): editing a hint file and rerunning never keeps the old colouring.
"""

from __future__ import annotations

import os
from pathlib import Path, PurePath

from mangacolor.colorize.archives import is_archive_path
from mangacolor.colorize.settings import ColorizeError
from mangacolor.inference.hint_files import HINT_SUFFIXES, hint_file_for


class HintFolder:
    """A job's hint files: a folder mirroring the input, or one file for a single-page input."""

    def __init__(self, root: Path | None = None, single: Path | None = None):
        self.root, self.single = root, single
        self.matched: set[Path] = set()

    @classmethod
    def for_job(cls, hints: Path | None, source: Path, output: Path) -> HintFolder | None:
        """The job's hint files, checked before anything runs; None without `hints=`.
        Raises ColorizeError naming what is wrong."""
        if hints is None:
            return None
        single_page = source.is_file() and not is_archive_path(source)
        if hints.is_file():
            if not single_page:
                raise ColorizeError(
                    f"hints={hints} is a file: one hint file goes with one page; "
                    f"for {source} give the folder of hint files"
                )
            if hints.suffix.lower() not in HINT_SUFFIXES:
                raise ColorizeError(f"hints={hints}: not a hint file (.json or .png) or a folder")
            return cls(single=hints)
        if not hints.is_dir():
            raise ColorizeError(f"hints folder not found: {hints}")
        if source.is_dir() and hints.resolve().is_relative_to(source.resolve()):
            raise ColorizeError(
                f"hints folder {hints} is inside the input folder {source}: its "
                "files would be taken for pages; keep hint files outside it"
            )
        # Pages and coloured pages are images too: under the hints folder they would be read as
        # hint layers (a page as its own) and listed as hint files that match no page.
        for what, path in (("input", source), ("output", output)):
            if _overlap(hints, path):
                one = "; for one page, give its hint file: hints=page.json" * (what == "input")
                raise ColorizeError(
                    f"hints folder {hints} and the {what} {path} lie one inside "
                    f"the other: keep hint files apart from the pages{one}"
                )
        return cls(root=hints)

    def find(self, relative: PurePath) -> Path | None:
        """The hint file of the page at `relative` (its path under the input, or member path), or
        None. Both a `.json` and a `.png` raise HintFileError naming them."""
        if self.single is not None:
            found = self.single
        else:
            found = hint_file_for(self.root, relative)
        if found is not None:
            self.matched.add(found.resolve())
        return found

    def unmatched(self) -> list[Path]:
        """Hint files under the folder that no page of the input claimed, sorted."""
        if self.root is None:
            return []
        files = []
        for folder, subfolders, names in os.walk(self.root):
            subfolders[:] = sorted(name for name in subfolders if not name.startswith("."))
            for name in sorted(names):
                path = Path(folder, name)
                hint_like = Path(name).suffix.lower() in HINT_SUFFIXES
                if hint_like and not name.startswith(".") and path.resolve() not in self.matched:
                    files.append(path)
        return files


def _overlap(folder: Path, path: Path) -> bool:
    folder, path = folder.resolve(), path.resolve()
    return path.is_relative_to(folder) or folder.is_relative_to(path)


def hints_newer(hint_file: Path | None, output: Path) -> bool:
    """Whether a page's hint file was written since its output (or at the same tick: a coarse
    clock must not keep an old colouring), so the page is coloured again."""
    if hint_file is None:
        return False
    try:
        return hint_file.stat().st_mtime_ns >= output.stat().st_mtime_ns
    except OSError:
        return True
