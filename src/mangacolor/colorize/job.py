"""Colour a user's pages: one image, a folder tree (mirrored) or a comic archive, safely and
resumably.

The job is planned before any model is built: every input is listed, every archive checked
(`mangacolor.colorize.archives`), every output path chosen, pages already done counted as skipped,
and the output folder proved writable. Then pages are decoded in background threads, coloured in
batches (`mangacolor.inference.page_colorizer`), and written each to a temporary name and renamed
(`mangacolor.colorize.pipeline`).

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

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
from tqdm import tqdm

from mangacolor.colorize.pipeline import run_pages
from mangacolor.colorize.planning import plan_job, prepare_output
from mangacolor.colorize.settings import ColorizeError, ColorizeSettings
from mangacolor.data.files import printable
from mangacolor.inference.compose import check_compose
from mangacolor.inference.generator_file import load_generator, takes_hints
from mangacolor.inference.onnx_generator import OnnxGenerator, is_onnx_file
from mangacolor.inference.page_colorizer import PageColorizer, generator_predicts
from mangacolor.runtime.config_errors import ConfigError
from mangacolor.runtime.devices import resolve_device, resolve_precision
from mangacolor.runtime.fast_path import fast_generator, resolve_channels_last, set_threads


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
            f"mangacolor-colorize: {', '.join(parts)}{speed} on {self.device} at "
            f"{self.resolution}{how}. Output folder {printable(self.output)}"
        )


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
            f"checkpoint not found: {settings.ckpt_path} (ckpt_path: a generator.pt, a training "
            ".ckpt or an exported .onnx)"
        )
    plan = plan_job(settings)
    for message in plan.unlisted:
        say(f"skipped {message}")
    for message in plan.refused:
        say(f"refused {message}")
    prepare_output(settings.output)
    device = resolve_device(settings.device)
    generator, fast = _load_generator(settings, device)
    short_side = (
        None
        if settings.full_resolution
        else settings.short_side or generator.training_size or generator.multiple
    )
    generator = fast_generator(
        generator.to(device), fast.channels_last, fast.compile, fast.precision
    )
    colorizer = _page_colorizer(settings, generator, short_side, device, fast.precision)

    start = time.perf_counter()
    unreadable, copied, hint_refused = run_pages(plan, colorizer, settings, say, on_page)
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
        device=f"{device} ({', '.join(fast.words(colorizer, generator, device))})",
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
class FastPath:
    """How the generator runs: its precision, layout, compiling and CPU threads."""

    precision: str
    channels_last: bool
    compile: bool
    threads: int

    def words(self, colorizer: PageColorizer, generator: object, device: torch.device) -> list[str]:
        """The fast path as the summary line says it, e.g. ["bf16-mixed", "4 threads"]."""
        fast = [
            colorizer.precision,
            *(["channels_last"] if self.channels_last else []),
            *(["compiled"] if self.compile else []),
        ]
        if isinstance(generator, OnnxGenerator):
            fast.append("onnxruntime")
        if device.type == "cpu":
            fast.append(f"{self.threads} threads")
        return fast


def _load_generator(settings: ColorizeSettings, device: torch.device) -> tuple[object, FastPath]:
    """The generator (a torch one or an exported .onnx) and how it will run, checked against
    hints= and compose=."""
    # The CPU fast path: auto is bf16 on a CPU where it was measured faster and within the stated
    # dE00 of float32 (docs/benchmarks.md), NHWC where that helps, and the threads asked for.
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
    return generator, FastPath(precision, channels_last, compile_generator, threads)


def _page_colorizer(
    settings: ColorizeSettings,
    generator: object,
    short_side: int | None,
    device: torch.device,
    precision: str,
) -> PageColorizer:
    try:
        return PageColorizer(
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
