"""One studio session: its settings, its pages, its model, its token and its chapter run."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from mangacolor.colorize.archives import is_archive_path
from mangacolor.inference.hint_files import HintFileError, hint_file_for
from mangacolor.studio.chapter import ChapterRun
from mangacolor.studio.engine import ColorEngine
from mangacolor.studio.guard import new_token
from mangacolor.studio.hint_store import HINTS
from mangacolor.studio.pages import UPLOADS, PageBook
from mangacolor.studio.settings import StudioSettings


@dataclass
class Studio:
    settings: StudioSettings
    book: PageBook
    engine: ColorEngine
    token: str = field(default_factory=new_token)
    chapter: ChapterRun | None = None

    def __post_init__(self) -> None:
        # the chapter run holds the model's lock: previews wait for it instead of competing
        self.chapter = ChapterRun(self.settings, self.engine.lock, self.chapter_source)

    @property
    def hints_root(self) -> Path:
        return self.settings.output / HINTS

    def chapter_source(self) -> tuple[Path, Path | None]:
        """What "Colour the chapter" colours, and its hints (colorize's `hints=`): the hint
        folder, or for a single image its hint file. None while there are none yet, and for a
        model without hint inputs, which colours automatically (its previews say so)."""
        source = self.settings.input
        if source is None:
            source, hints = self.settings.output / UPLOADS, self.hints_root / UPLOADS
        elif source.is_file() and not is_archive_path(source):
            try:
                hints = hint_file_for(self.hints_root, source.name)
            except HintFileError:  # a .json and a .png: the run names them on the page
                hints = self.hints_root
        else:
            hints = self.hints_root
        if not self.engine.takes_hints or hints is None or not hints.exists():
            hints = None
        return source, hints
