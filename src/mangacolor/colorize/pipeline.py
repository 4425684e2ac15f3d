"""The writing pipeline of a colorize job: pages decoded ahead in threads, coloured in batches,
written each atomically in threads; a page already in colour copied through; an archive's staged
pages packed into its `.cbz` when its last page is done (`mangacolor.colorize.job` plans and runs
it).
"""

from __future__ import annotations

import io
import shutil
import sys
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import torch
from PIL import Image

from mangacolor.colorize.archives import (
    ArchiveError,
    write_cbz,
)
from mangacolor.colorize.planning import (
    ArchiveJob,
    PageTask,
    Plan,
)
from mangacolor.colorize.settings import ColorizeError, ColorizeSettings
from mangacolor.data.files import (
    UnreadableImage,
    printable,
)
from mangacolor.hints.marks import PageHints
from mangacolor.inference.hint_files import HintFileError
from mangacolor.inference.page_colorizer import PageColorizer
from mangacolor.inference.page_kind import is_color_page
from mangacolor.runtime.atomic import atomic_write
from mangacolor.runtime.progress import Progress

# ---------------------------------------------------------------------------------------------
# Writing: each page atomically, each archive packed when done


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
        raise ColorizeError(
            f"cannot write {path}: {error.strerror or error}; stopped, no partial file left"
        ) from None


def keep_color_page(data: bytes, rgb: torch.Tensor, path: Path, quality: int) -> None:
    """A page already in colour -> its output, byte for byte when the file already is in the format
    the output's name asks for, else re-encoded (like `save_page`). Atomic; a failure stops the
    job."""
    wanted = Image.registered_extensions().get(path.suffix.lower(), "PNG")
    try:
        with Image.open(io.BytesIO(data)) as image:  # reads the header only
            held = image.format
    except Exception:  # noqa: BLE001 - it decoded once already; if the header now puzzles Pillow, re-encode
        held = None
    if held != wanted:
        save_page(rgb, path, quality)
        return
    try:
        with atomic_write(path) as handle:
            handle.write(data)
    except OSError as error:
        raise ColorizeError(
            f"cannot write {path}: {error.strerror or error}; stopped, no partial file left"
        ) from None


def finish_archive(job: ArchiveJob, say: Callable[[str], None]) -> None:
    """Pack the staged pages, in the archive's order, into the output `.cbz`; drop the staging
    folder."""
    job.close()
    if job.waiting:  # packing now would leave those pages out and mark the archive done
        say(
            f"{printable(job.source)}: not packed yet: {len(job.waiting)} pages wait for their "
            "hint files (named above); fix them and rerun"
        )
        return
    present = [(name, staged) for name, staged in job.entries if staged.exists()]
    if not present:
        say(f"{printable(job.source)}: no page could be coloured; no archive written")
        return
    try:
        write_cbz(job.output, present)
    except OSError as error:
        raise ColorizeError(
            f"cannot write {job.output}: {error.strerror or error}; stopped, no partial file left"
        ) from None
    shutil.rmtree(job.staging, ignore_errors=True)


# ---------------------------------------------------------------------------------------------
# Running


@dataclass
class LoadedPage:
    data: bytes  # the file as it is
    rgb: torch.Tensor  # uint8 RGB (3, H, W)
    in_color: bool  # already in colour (and recolor_color_pages is off): copied, not coloured
    hints: PageHints | None = None  # from its hint file; a page given hints is always coloured


def run_pages(
    plan: Plan,
    colorizer: PageColorizer,
    settings: ColorizeSettings,
    say: Callable[[str], None],
    on_page: Callable[[int, int], None] | None = None,
) -> tuple[list[str], int, list[str]]:
    """Decode ahead in threads, colour in batches, write in threads.
    Returns the unreadable pages, how many colour pages were copied and the pages refused for
    their hint files."""
    for job in plan.archives:
        if job.remaining == 0:  # every page was staged by an interrupted run: only packing is left
            finish_archive(job, say)
    pipeline = PagePipeline(plan, colorizer, settings, say, on_page)
    try:
        pipeline.run()
    finally:
        pipeline.close()
    return pipeline.unreadable, pipeline.copied, pipeline.hint_refused


class PagePipeline:
    """One job's pages in flight: decoded ahead in a thread pool, coloured in batches on this
    thread, written back in the pool. At most a batch and a pool's worth wait in memory."""

    def __init__(
        self,
        plan: Plan,
        colorizer: PageColorizer,
        settings: ColorizeSettings,
        say: Callable[[str], None],
        on_page: Callable[[int, int], None] | None = None,
    ) -> None:
        self.plan, self.colorizer, self.settings, self.say = plan, colorizer, settings, say
        self.on_page = on_page  # (pages done, pages in all) after each page, e.g. the studio's bar
        self.done = 0
        self.unreadable: list[str] = []
        self.hint_refused: list[str] = []
        self.copied = 0
        self.workers = max(1, settings.num_workers)
        self.pool = ThreadPoolExecutor(self.workers, thread_name_prefix="mangacolor-pages")
        self.loads: deque[tuple[PageTask, Future]] = deque()
        self.writes: list[tuple[PageTask, Future]] = []
        self.batch: list[tuple[PageTask, torch.Tensor, PageHints | None]] = []
        self.pending = iter(plan.tasks)
        # A bar on a terminal, a plain line every so often in a log (mangacolor.runtime.progress).
        self.bar = Progress(
            len(plan.tasks),
            "colouring",
            "page",
            stream=sys.stderr,
            mode="auto" if settings.progress else "off",
        )

    def run(self) -> None:
        """Every page of the plan through: read, coloured (or copied), written."""
        for _ in range(self.settings.batch_size + 2 * self.workers):
            self.load_next()
        while self.loads:
            task, future = self.loads.popleft()
            self.load_next()
            self.take(task, future)
        if self.batch:
            self.color_and_write()
        self.wait_for_writes()

    def take(self, task: PageTask, future: Future) -> None:
        """One decoded page: skipped if unreadable, copied if already in colour, else batched."""
        try:
            loaded = future.result()
        except (UnreadableImage, ArchiveError) as error:
            self.unreadable.append(printable(str(error)))
            self.say(f"skipped {printable(str(error))}")
            self.bar.update(1)
            self.finished(task)
            return
        except HintFileError as error:
            # Nothing is written, so the page is not done: a rerun tries it again.
            self.hint_refused.append(printable(task.name))
            self.say(f"not coloured {printable(task.name)}: {printable(str(error))}")
            if task.archive is not None:
                task.archive.waiting.append(task.name)
            self.bar.update(1)
            self.finished(task)
            return
        if loaded.in_color:
            self.copied += 1
            if len(self.writes) >= self.settings.batch_size + self.workers:
                self.wait_for_writes()  # bound the pages waiting in memory
            written = self.pool.submit(
                keep_color_page, loaded.data, loaded.rgb, task.output, self.settings.quality
            )
            self.writes.append((task, written))
            return
        self.batch.append((task, loaded.rgb, loaded.hints))
        if len(self.batch) >= self.settings.batch_size:
            self.color_and_write()

    def load(self, task: PageTask) -> LoadedPage:
        data, rgb = task.load()
        hints = task.read_hints(tuple(rgb.shape[-2:]))
        copy = not hints and not self.settings.recolor_color_pages and is_color_page(rgb)
        return LoadedPage(data, rgb, copy, hints)

    def load_next(self) -> None:
        task = next(self.pending, None)
        if task is not None:
            self.loads.append((task, self.pool.submit(self.load, task)))

    def color_and_write(self) -> None:
        colored = self.colorizer.color(
            [page for _, page, _ in self.batch], hints=[hints for _, _, hints in self.batch]
        )
        self.wait_for_writes()  # at most one batch of pages waits in memory to be written
        for (task, _, _), rgb in zip(self.batch, colored, strict=True):
            written = self.pool.submit(save_page, rgb, task.output, self.settings.quality)
            self.writes.append((task, written))
        self.batch.clear()

    def wait_for_writes(self) -> None:
        for task, future in self.writes:
            future.result()  # ColorizeError (disk full, permission) stops the job here
            self.bar.update(1)
            self.finished(task)
        self.writes.clear()

    def finished(self, task: PageTask) -> None:
        """A page done (written or skipped): its archive is packed when it was the last one."""
        self.done += 1
        if self.on_page is not None:
            self.on_page(self.done, len(self.plan.tasks))
        job = task.archive
        if job is not None:
            job.remaining -= 1
            if job.remaining == 0:
                finish_archive(job, self.say)

    def close(self) -> None:
        """Whatever happened: loads not started are cancelled, the pool stopped, archives closed."""
        for _, future in self.loads:
            future.cancel()
        self.pool.shutdown(wait=True, cancel_futures=True)
        self.bar.close()
        for job in self.plan.archives:
            job.close()
