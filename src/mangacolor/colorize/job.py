"""Colour a user's pages: one image, a folder tree (mirrored) or a comic archive, safely and resumably.

The job is planned before any model is built: every input is listed, every archive checked
(`mangacolor.colorize.archives`), every output path chosen, pages already done counted as skipped, and
the output folder proved writable. Then pages are decoded in background threads, coloured in
batches (`mangacolor.inference.page_colorizer`), and written each to a temporary name and renamed.

A page already in colour (`mangacolor.inference.page_kind.is_color_page`, checked in the decoding
threads) is not coloured again: its file is copied through byte for byte, or re-encoded when the
output's name asks for another format than the file holds (`format=webp`, a GIF kept as PNG).
`recolor_color_pages=true` colours such pages like any other (from their lightness).

Archive pages are first written to a hidden folder beside the output `.cbz`
(`.<name>.cbz.pages/`, each page named by its index: `00000.png`...), so an interrupted archive
resumes page by page; when its last page is done they are packed, in the archive's own order and
under their own entry names, into the `.cbz` and the folder is removed.

With `hints=` (a hint generator only), each page is coloured with its hint file
(`mangacolor.colorize.hint_folder`), read in the decoding threads against the page's size. A page
whose hint file cannot be used is named with the file and the field, is not coloured (nor copied,
nor packed into its archive, which waits for it) and is tried again by a rerun; the other pages
go on. Hint files that match no page are named when the job ends.
"""

from __future__ import annotations

import io
import shutil
import sys
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import torch
from PIL import Image
from tqdm import tqdm

from mangacolor.colorize.archives import (
    ArchiveError,
    write_cbz,
)
from mangacolor.colorize.planning import (
    ArchiveJob,
    PageTask,
    Plan,
    plan_job,
    prepare_output,
)
from mangacolor.colorize.settings import ColorizeError, ColorizeSettings
from mangacolor.data.files import (
    UnreadableImage,
    printable,
)
from mangacolor.hints.marks import PageHints
from mangacolor.inference.compose import check_compose
from mangacolor.inference.generator_file import load_generator, takes_hints
from mangacolor.inference.hint_files import HintFileError
from mangacolor.inference.onnx_generator import OnnxGenerator, is_onnx_file
from mangacolor.inference.page_colorizer import PageColorizer, generator_predicts
from mangacolor.inference.page_kind import is_color_page
from mangacolor.runtime.atomic import atomic_write
from mangacolor.runtime.config_errors import ConfigError
from mangacolor.runtime.devices import resolve_device, resolve_precision
from mangacolor.runtime.fast_path import fast_generator, resolve_channels_last, set_threads
from mangacolor.runtime.progress import Progress


@dataclass
class Summary:
    colored: int
    already_done: int
    unreadable: list[str]
    refused: list[str]
    seconds: float
    output: Path
    device: str
    resolution: str
    copied: int = 0  # pages already in colour, copied as they were
    composed: dict[str, int] = field(default_factory=dict)  # pages coloured in each compose mode
    compose: str = "auto"
    chroma: float = 1.0  # the colour strength, said when it is not 1
    # pages not coloured because their hint files failed, and hint files that match no page
    hint_refused: list[str] = field(default_factory=list)
    unmatched_hints: list[str] = field(default_factory=list)
    upsample: str = "bilinear"  # how colour was enlarged, said when guided

    def line(self) -> str:
        parts = [f"{self.colored} pages coloured", f"{self.already_done} skipped (already done)"]
        if self.copied:
            parts.append(f"{self.copied} already in colour, copied as they were")
        if self.unreadable:
            parts.append(f"{len(self.unreadable)} unreadable (named above)")
        if self.refused:
            parts.append(f"{len(self.refused)} archives refused (named above)")
        if self.hint_refused:
            parts.append(
                f"{len(self.hint_refused)} not coloured for their hint files "
                "(named above; fix them and rerun)"
            )
        if self.unmatched_hints:
            parts.append(f"{len(self.unmatched_hints)} hint files match no page (named above)")
        speed = (
            f", {self.colored / self.seconds:.2f} pages/s"
            if self.colored and self.seconds > 0
            else ""
        )
        composed = ", ".join(f"{count} {mode}" for mode, count in sorted(self.composed.items()))
        how = f", compose {self.compose}" + (f" ({composed})" if composed else "")
        how += f", chroma {self.chroma:g}" if self.chroma != 1.0 else ""
        how += f", upsample {self.upsample}" if self.upsample != "bilinear" else ""
        return (
            f"mangacolor-colorize: {', '.join(parts)}{speed} on {self.device} at {self.resolution}{how}. "
            f"Output folder {printable(self.output)}"
        )


# ---------------------------------------------------------------------------------------------
# Planning: what to colour, where each page goes, what is already done


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
    the output's name asks for, else re-encoded (like `save_page`). Atomic; a failure stops the job."""
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
    """Pack the staged pages, in the archive's order, into the output `.cbz`; drop the staging folder."""
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


def colorize(
    settings: ColorizeSettings,
    say: Callable[[str], None] | None = None,
    on_page: Callable[[int, int], None] | None = None,
) -> Summary:
    """Colour everything `settings.input` holds into `settings.output`; returns what was done.
    `on_page(done, total)` is called as each page is finished (the studio's progress)."""
    say = say or (lambda message: tqdm.write(message, file=sys.stderr))
    if not settings.ckpt_path.is_file():
        raise ColorizeError(
            f"checkpoint not found: {settings.ckpt_path} (ckpt_path: a generator.pt, a training .ckpt or an exported .onnx)"
        )
    plan = plan_job(settings)
    for message in plan.unlisted:
        say(f"skipped {message}")
    for message in plan.refused:
        say(f"refused {message}")
    prepare_output(settings.output)
    device = resolve_device(settings.device)
    # The CPU fast path: auto is bf16 on a CPU where it was measured faster and within the stated dE00
    # of float32 (docs/benchmarks.md), NHWC where that helps, and the threads asked for.
    precision = resolve_precision(settings.precision, device, bf16_cpu=True)
    channels_last = resolve_channels_last(settings.channels_last, device, precision)
    threads = set_threads(settings.threads)
    compile_generator = settings.compile
    if is_onnx_file(settings.ckpt_path):
        # An exported file (mangacolor-export) runs in onnxruntime, in float32 on the CPU: torch's
        # precision, layout and compiling do not apply to it.
        generator = OnnxGenerator(settings.ckpt_path, threads)
        precision, channels_last, compile_generator = "32-true", False, False
    else:
        generator, _config = load_generator(settings.ckpt_path)
    if settings.hints is not None and not takes_hints(generator):
        raise ColorizeError(
            f"hints={settings.hints}: {settings.ckpt_path} takes no hints (it "
            "was trained without hint inputs); colour without hints=, or use a "
            "generator trained with model.hints"
        )
    try:
        check_compose(settings.compose, generator_predicts(generator), str(settings.ckpt_path))
    except ValueError as error:
        raise ColorizeError(str(error)) from None
    short_side = (
        None
        if settings.full_resolution
        else settings.short_side or generator.training_size or generator.multiple
    )
    generator = fast_generator(generator.to(device), channels_last, compile_generator, precision)
    try:
        colorizer = PageColorizer(
            generator,
            short_side,
            settings.tile,
            settings.tile_overlap,
            settings.batch_size,
            device,
            precision,
            compose=settings.compose,
            descreen=settings.descreen,
            chroma=settings.chroma,
            upsample=settings.upsample,
        )
    except ValueError as error:
        raise ConfigError(f"tile / tile_overlap: {error}") from None
    fast = [
        colorizer.precision,
        *(["channels_last"] if channels_last else []),
        *(["compiled"] if compile_generator else []),
    ]
    if isinstance(generator, OnnxGenerator):
        fast.append("onnxruntime")
    if device.type == "cpu":
        fast.append(f"{threads} threads")

    start = time.perf_counter()
    unreadable, copied, hint_refused = _run(plan, colorizer, settings, say, on_page)
    unmatched = [printable(path) for path in (plan.hints.unmatched() if plan.hints else [])]
    for path in unmatched:
        say(f"hint file matches no page: {path}")
    return Summary(
        colored=len(plan.tasks) - len(unreadable) - copied - len(hint_refused),
        already_done=plan.already_done,
        unreadable=plan.unlisted + unreadable,
        refused=plan.refused,
        seconds=time.perf_counter() - start,
        output=settings.output,
        device=f"{device} ({', '.join(fast)})",
        resolution="full resolution"
        if short_side is None
        else f"{short_side} px on the shorter side",
        copied=copied,
        composed=dict(colorizer.composed),
        compose=settings.compose,
        chroma=settings.chroma,
        hint_refused=hint_refused,
        unmatched_hints=unmatched,
        upsample=settings.upsample,
    )


@dataclass
class LoadedPage:
    data: bytes  # the file as it is
    rgb: torch.Tensor  # uint8 RGB (3, H, W)
    in_color: bool  # already in colour (and recolor_color_pages is off): copied, not coloured
    hints: PageHints | None = None  # from its hint file; a page given hints is always coloured


def _run(
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
