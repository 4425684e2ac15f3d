""" "Colour the chapter": colorize's own job over `input` with every page's hints, in a thread,
with its progress for the page to poll. It holds the model lock while it runs, so previews wait
instead of competing with it for the CPU."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable
from pathlib import Path

from mangacolor.colorize.job import colorize
from mangacolor.colorize.settings import ColorizeSettings

CHAPTER_OUTPUT = "colored"  # the folder under output


@dataclasses.dataclass
class ChapterState:
    running: bool = False
    done: int = 0
    total: int = 0
    messages: list[str] = dataclasses.field(default_factory=list)
    summary: str = ""
    error: str = ""


class ChapterRun:
    """locate() says, when a run starts, what to colour and its hints (a folder, a file or None)."""

    def __init__(
        self, settings, lock: threading.Lock, locate: Callable[[], tuple[Path, Path | None]]
    ):
        self.settings, self.lock, self.locate = settings, lock, locate
        self.source, self.hints = locate()
        self.state = ChapterState()
        self._thread: threading.Thread | None = None

    @property
    def output(self) -> Path:
        return self.settings.output / CHAPTER_OUTPUT

    def colorize_settings(self) -> ColorizeSettings:
        values = dict(
            ckpt_path=self.settings.ckpt_path,
            input=self.source,
            output=self.output,
            short_side=self.settings.short_side,
            compose=self.settings.compose,
            chroma=self.settings.chroma,
            device=self.settings.device,
            max_pixels=self.settings.max_pixels,
            archive_limits=self.settings.archive_limits,
            overwrite=True,
            progress=False,
            format="png",
            hints=self.hints,
        )
        return ColorizeSettings(**values)

    def start(self, compose: str, chroma: float) -> bool:
        """Start unless one is running; False when one already is."""
        if self.state.running:
            return False
        self.settings = dataclasses.replace(self.settings, compose=compose, chroma=chroma)
        self.source, self.hints = self.locate()
        self.state = ChapterState(running=True)
        self._thread = threading.Thread(target=self._run, name="mangacolor-chapter", daemon=True)
        self._thread.start()
        return True

    def _run(self) -> None:
        state = self.state

        def on_page(done: int, total: int) -> None:
            state.done, state.total = done, total

        try:
            with self.lock:
                summary = colorize(
                    self.colorize_settings(), say=state.messages.append, on_page=on_page
                )
            state.summary = summary.line()
        except Exception as error:  # noqa: BLE001 - shown on the page; the server goes on
            state.error = f"{type(error).__name__}: {error}" if not str(error) else str(error)
        finally:
            state.running = False

    def join(self, timeout: float | None = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout)
