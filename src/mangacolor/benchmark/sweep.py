"""The run mangacolor-bench configures: every row its settings (`BenchSettings`) ask for, in order,
with the report rewritten after each row (`mangacolor.benchmark.report`).

Every row is planned first (`plan_rows`), so the progress display knows the total; then each task's
rows are measured by their own function, all recorded in one `Report`.
"""

from __future__ import annotations

import datetime as dt
import functools
import itertools
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import hydra
import torch
from omegaconf import OmegaConf

from mangacolor.benchmark import profiling
from mangacolor.benchmark.machine import (
    cpu_clock_ghz,
    cpu_peak_tflops,
    describe_machine,
    git_commit,
    load_average,
    peak_tflops,
)
from mangacolor.benchmark.measurements import (
    add_colorize_flop_figures,
    add_data_ratios,
    add_flop_figures,
    colorize_flops_per_page,
    measure_colorize,
    measure_data_pipeline,
    measure_end_to_end,
    measure_model_speed,
    measure_unless_out_of_memory,
    sample_page,
    training_flops_per_image,
)
from mangacolor.benchmark.profiling import StepProfiler
from mangacolor.benchmark.report import row_summary
from mangacolor.benchmark.settings import (
    BenchSettings,
    decode_choices,
    hint_choices,
    hints_enabled,
    input_style_choices,
    wants_profile,
)
from mangacolor.data.files import UnreadableImage, find_images, read_image
from mangacolor.data.print_settings import style_probabilities
from mangacolor.inference.generator_file import load_generator
from mangacolor.inference.page_colorizer import PageColorizer
from mangacolor.models.components import UNetGenerator
from mangacolor.runtime.bundled import REPO_DIR
from mangacolor.runtime.devices import cpu_capabilities, resolve_device, resolve_precision
from mangacolor.runtime.fast_path import fast_generator, resolve_channels_last, set_threads
from mangacolor.runtime.instantiate import instantiate
from mangacolor.runtime.progress import Progress
from mangacolor.styles import STYLES

log = logging.getLogger("mangacolor.bench")


def _choices(values, default) -> list:
    return list(values) if values is not None else [default]


def _data_folder(settings: BenchSettings) -> str | None:
    """The folder the data rows read: data_dir when set (the datamodule splits it), else train_dir."""
    return settings.data.get("data_dir") or settings.data.get("train_dir")


def _source_page(settings: BenchSettings) -> torch.Tensor | None:
    """The first readable page of the data folder, to colour at the benchmark's page size."""
    folder = _data_folder(settings)
    if not folder or not Path(folder).is_dir():
        return None
    for path in find_images(folder)[:16]:
        try:
            return read_image(path)
        except UnreadableImage:
            continue
    return None


def _colorizer(
    settings: BenchSettings,
    device: torch.device,
    precision: str,
    channels_last: bool = False,
    compile: bool = False,
) -> PageColorizer:
    """The colouriser a colourise row times, built as mangacolor-colorize builds it."""
    options = settings.bench.colourise
    if options.generator:
        generator, _ = load_generator(options.generator)
    else:
        generator = UNetGenerator(**OmegaConf.to_container(settings.model.generator, resolve=True))
    if compile:
        torch._dynamo.reset()  # each compiled row compiles its own generator afresh
    generator = fast_generator(generator.to(device), channels_last, compile, precision)
    return PageColorizer(
        generator,
        short_side=options.short_side,
        tile=options.tile,
        tile_overlap=options.tile_overlap,
        batch_size=options.batch_size,
        device=device,
        precision=precision,
    )


def configured_input_styles(settings: BenchSettings, style: str | None) -> dict[str, float]:
    """{style: probability} a data row runs with: one style alone, or the config's."""
    if style is not None:
        return {style: 1.0}
    styles = settings.data.get("input_styles")
    return style_probabilities(OmegaConf.to_container(styles) if styles is not None else None)


def _profile_row(profiler: StepProfiler, settings: BenchSettings, row_index: int) -> dict[str, Any]:
    """The row's profile summary, its files written beside bench.json.

    A profile that fails (the profiler's event API shifts between torch releases, and the GPU
    path cannot run in CI) is logged and recorded as an error: the row's timing still stands.
    """
    try:
        return profiling.write_outputs(
            profiler,
            Path(settings.bench.json).parent,
            row_index,
            bool(settings.bench.get("profile_trace", False)),
        )
    except Exception as error:  # noqa: BLE001 -- see above
        log.exception("profiling model row %d failed", row_index)
        return {"error": f"{type(error).__name__}: {error}"}


@dataclass
class Bench:
    """What every row of one run shares: its settings, the device and the machine it measures."""

    settings: BenchSettings
    device: torch.device
    machine: dict[str, Any]
    precisions: list[str]  # the model, data and end-to-end rows' precisions, resolved

    def make_model(self, **overrides):
        return instantiate(
            self.settings.model, **overrides
        )  # the model's rules fail as the ConfigError they are

    @functools.cached_property
    def networks(self) -> dict[str, Any]:
        """The generator's and discriminator's settings, recorded in each training row."""
        model = self.settings.model
        return {
            "generator": OmegaConf.to_container(model.generator, resolve=True),
            "discriminator": OmegaConf.to_container(model.discriminator, resolve=True),
        }

    def peak(self, precision: str) -> tuple[float | None, str | None]:
        return peak_of(self.machine, self.device, precision)


@dataclass
class Report:
    """The report mangacolor-bench writes, row by row, and the progress display over its rows."""

    machine: dict[str, Any]
    commit: str
    command: str
    progress: Progress
    on_row: Callable[[dict[str, Any]], None] | None = None
    date: str = field(default_factory=lambda: dt.datetime.now(dt.UTC).isoformat(timespec="seconds"))
    rows: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self, complete: bool) -> dict[str, Any]:
        return {
            "format": "mangacolor-bench-1",
            "date": self.date,
            "command": self.command,
            "commit": self.commit,
            "machine": self.machine,
            "load_average_at_end": load_average(),
            "complete": complete,
            "rows": self.rows,
        }

    def add_row(self, task: str, settings: dict, results: dict) -> None:
        """One measured row: recorded, shown, and the report so far handed to `on_row`."""
        row = {
            "task": task,
            "machine": self.machine["name"],
            "torch": torch.__version__,
            "commit": self.commit,
            "settings": settings,
            "results": results,
        }
        self.rows.append(row)
        text = f"{task}: {' | '.join(row_summary(row))}"
        if self.progress.mode == "bar":
            self.progress.write(text)
        self.progress.update(1, {"": text} if self.progress.mode == "lines" else None)
        if self.on_row is not None:
            self.on_row(self.as_dict(complete=False))


@dataclass(frozen=True)
class RowPlan:
    """Every row a run measures, planned before the first, so the progress display knows the total."""

    model: list[tuple]  # (precision, batch_size, compile, channels_last)
    data: list[tuple]  # (workers, decode_on_device, input style)
    end_to_end: bool
    colorize: list[tuple]  # (precision, channels_last, compile, threads): see colorize_plan

    @property
    def total(self) -> int:
        return len(self.model) + len(self.data) + int(self.end_to_end) + len(self.colorize)


def plan_rows(bench: Bench) -> RowPlan:
    settings, tasks = bench.settings, bench.settings.bench.tasks
    options = settings.bench
    model_rows = (
        list(
            itertools.product(
                bench.precisions,
                _choices(options.batch_sizes, settings.data.batch_size),
                _choices(options.compile, settings.model.compile),
                _choices(options.channels_last, settings.model.channels_last),
            )
        )
        if "model" in tasks
        else []
    )
    data_rows = (
        list(
            itertools.product(
                _choices(options.data_workers, settings.data.num_workers),
                decode_choices(settings),
                input_style_choices(settings),
                hint_choices(settings),
            )
        )
        if "data" in tasks
        else []
    )
    colorize_rows = colorize_plan(settings, bench.device) if "colourise" in tasks else []
    return RowPlan(model_rows, data_rows, "end_to_end" in tasks, colorize_rows)


def run(
    settings: BenchSettings,
    argv: Sequence[str] = (),
    on_row: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Measure every task in `settings.bench.tasks` over the product of the `bench` lists.

    Returns the report mangacolor-bench writes as JSON: machine, commit, the command (`argv`: its
    arguments) and one row per measurement, each with its settings and results. `on_row` gets the
    report so far (`"complete": false`) after each row, so a run cut short keeps its rows.
    """
    device = resolve_device(settings.trainer.accelerator)
    machine = describe_machine(device)
    commit = git_commit(REPO_DIR)
    asked = _choices(settings.bench.precisions, settings.trainer.precision)
    precisions = [resolve_precision(precision, device) for precision in asked]
    bench = Bench(settings, device, machine, precisions)
    plan = plan_rows(bench)
    # A bar of rows on a terminal; in a log, each row's result in a line with the count and time left.
    progress = Progress(plan.total, "mangacolor-bench", "row", every=1)
    report = Report(machine, commit, " ".join(["mangacolor-bench", *argv]), progress, on_row)
    if plan.model:
        measure_model_rows(bench, plan.model, report)
    if plan.data:
        measure_data_rows(bench, plan.data, report)
    if plan.end_to_end:
        measure_end_to_end_row(bench, report)
    if plan.colorize:
        measure_colorize_rows(bench, plan.colorize, report)
    progress.close()
    return report.as_dict(complete=True)


def measure_model_rows(bench: Bench, rows: list[tuple], report: Report) -> None:
    """The training step's speed at each (precision, batch size, compile, channels_last)."""
    options, size, device = bench.settings.bench, bench.settings.data.size, bench.device
    cudnn_benchmark = bool(bench.settings.trainer.get("benchmark", True))
    flops = training_flops_per_image(bench.make_model, size, device, bench.precisions[0])
    for precision, batch_size, compile_, channels_last in rows:
        if compile_:
            # Each compiled row compiles afresh for its own shapes, as a training run would;
            # otherwise the second batch size makes dynamo recompile with a dynamic batch size.
            torch._dynamo.reset()
        factory = functools.partial(
            bench.make_model, compile=bool(compile_), channels_last=bool(channels_last)
        )
        profiler = (
            StepProfiler(options.warmup + options.iterations, options.profile_iterations, device)
            if wants_profile(options.profile, batch_size)
            else None
        )
        settings = {
            "size": size,
            "batch_size": batch_size,
            "precision": precision,
            "compile": bool(compile_),
            "channels_last": bool(channels_last),
            "warmup": options.warmup,
            "iterations": options.iterations,
            "profile_iterations": options.profile_iterations if profiler else 0,
            **bench.networks,
        }
        results = measure_unless_out_of_memory(
            device,
            functools.partial(
                measure_model_speed,
                factory,
                size,
                batch_size,
                precision,
                device,
                options.warmup,
                options.iterations,
                cudnn_benchmark,
                profiler,
            ),
        )
        if "error" not in results:
            results = add_flop_figures(results, flops, *bench.peak(precision))
            if profiler is not None:
                results["profile"] = _profile_row(profiler, bench.settings, len(report.rows))
        report.add_row("model", settings, results)


def measure_data_rows(bench: Bench, rows: list[tuple], report: Report) -> None:
    """The data pipeline's speed at each (workers, decode_on_device, input style, hints)."""
    options, data = bench.settings.bench, bench.settings.data
    for workers, decode_on_device, style, hints in rows:
        overrides = {"num_workers": workers}
        if decode_on_device is not None:
            overrides["decode_on_device"] = bool(decode_on_device)
        if (
            style is not None
        ):  # every style named, so a merge with the configured weights leaves this one
            overrides["input_styles"] = {name: float(name == style) for name in STYLES}
        if hints is not None:  # merged into data.hints: its ranges stay the configured ones
            overrides["hints"] = {"enabled": hints}
        datamodule = hydra.utils.instantiate(data, **overrides)
        results = measure_data_pipeline(
            datamodule, bench.device, options.warmup, options.data_batches
        )
        report.add_row(
            "data",
            {
                "folder": _data_folder(bench.settings),
                "size": data.size,
                "window": data.window,
                "batch_size": data.batch_size,
                "colourful_draws": data.colourful_draws,
                "workers": workers,
                "decode_on_device": overrides.get("decode_on_device", data.get("decode_on_device")),
                "input_styles": configured_input_styles(bench.settings, style),
                "hints": hints_enabled(bench.settings, hints),
                "precision": bench.precisions[0],
                "warmup_batches": options.warmup,
                "batches": options.data_batches,
            },
            results,
        )
    add_data_ratios(report.rows)


def measure_end_to_end_row(bench: Bench, report: Report) -> None:
    """Training steps fed by the real data pipeline, at the configured settings."""
    options, data, model = bench.settings.bench, bench.settings.data, bench.settings.model
    results = measure_end_to_end(
        bench.make_model,
        hydra.utils.instantiate(data),
        bench.precisions[0],
        bench.device,
        options.warmup,
        options.iterations,
        bool(bench.settings.trainer.get("benchmark", True)),
    )
    report.add_row(
        "end_to_end",
        {
            "folder": _data_folder(bench.settings),
            "size": data.size,
            "batch_size": data.batch_size,
            "workers": data.num_workers,
            "precision": bench.precisions[0],
            "compile": bool(model.compile),
            "channels_last": bool(model.channels_last),
            "warmup": options.warmup,
            "iterations": options.iterations,
            **bench.networks,
        },
        results,
    )


def measure_colorize_rows(bench: Bench, rows: list[tuple], report: Report) -> None:
    """Whole pages coloured as mangacolor-colorize colours them, at each (precision, channels_last,
    compile, threads)."""
    options, device = bench.settings.bench.colourise, bench.device
    page = sample_page(options.page_height, options.page_width, _source_page(bench.settings))
    threads_before = torch.get_num_threads()
    flops = colorize_flops_per_page(_colorizer(bench.settings, device, "32-true"), page)
    for precision, channels_last, compile_, threads in rows:
        threads_used = set_threads(threads)
        settings = {
            "page_height": options.page_height,
            "page_width": options.page_width,
            "short_side": options.short_side,
            "tile": options.tile,
            "overlap": options.tile_overlap,
            "batch_size": options.batch_size,
            "pages_per_call": options.pages_per_call,
            "precision": precision,
            "channels_last": channels_last,
            "compile": compile_,
            "threads": threads_used,
            "generator": options.generator or bench.networks["generator"],
        }
        try:
            colorizer = _colorizer(bench.settings, device, precision, channels_last, compile_)
            results = measure_colorize(colorizer, page, options.pages_per_call, 1, options.calls)
        except Exception as error:  # noqa: BLE001 -- torch.compile needs a working C++ toolchain on a CPU
            if not compile_:
                raise
            log.warning("compiled colourise row failed: %s", error)
            results = {
                "error": f"compile failed: {type(error).__name__}: {str(error).splitlines()[0][:200]}"
            }
        if "error" not in results:
            results = add_colorize_flop_figures(results, flops, *bench.peak(precision))
        report.add_row("colourise", settings, results)
        torch.set_num_threads(threads_before)


def colorize_plan(
    settings: BenchSettings, device: torch.device
) -> list[tuple[str, bool, bool, int | None]]:
    """(precision, channels_last, compile, threads) of each colourise row. Unset lists mean what
    mangacolor-colorize does by default: precision auto (bf16 where it pays, `bf16_pays_on_cpu`),
    channels_last auto, no compiling, torch's threads."""
    bench = settings.bench
    plan = []
    for precision, channels_last, compile_, threads in itertools.product(
        _choices(bench.precisions, "auto"),
        _choices(bench.channels_last, "auto"),
        _choices(bench.compile, False),
        _choices(bench.colourise.get("threads"), None),
    ):
        resolved = resolve_precision(precision, device, bf16_cpu=True)
        plan.append(
            (
                resolved,
                resolve_channels_last(channels_last, device, resolved),
                bool(compile_),
                threads,
            )
        )
    return plan


def peak_of(
    machine: dict[str, Any], device: torch.device, precision: str
) -> tuple[float | None, str | None]:
    """The device's dense peak for this precision and how it was found: the card's datasheet, or the
    CPU's cores x clock x FLOPs per cycle (`cpu_peak_tflops`)."""
    if device.type == "cuda":
        peak = peak_tflops(machine["name"], precision)
        return peak, "NVIDIA datasheet, dense" if peak else None
    capabilities = cpu_capabilities()
    if (
        "AMX" not in (machine.get("onednn_max_cpu_isa") or "AMX").upper()
    ):  # AMX turned off for oneDNN
        capabilities = {
            flag: value for flag, value in capabilities.items() if not flag.startswith("amx")
        }
    return cpu_peak_tflops(precision, capabilities, machine["cpu_cores"], cpu_clock_ghz())
