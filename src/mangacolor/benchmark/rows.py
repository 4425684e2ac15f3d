"""Each task's rows measured and recorded: the model, data, end-to-end and colourise rows of a
mangacolor-bench run (`mangacolor.benchmark.sweep` plans them and calls these in order).
"""

from __future__ import annotations

import functools
import logging
from pathlib import Path
from typing import Any

import hydra
import torch
from omegaconf import OmegaConf

from mangacolor.benchmark import profiling
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
from mangacolor.benchmark.run_context import Bench, Report
from mangacolor.benchmark.settings import BenchSettings, hints_enabled, wants_profile
from mangacolor.data.files import UnreadableImage, find_images, read_image
from mangacolor.data.print_settings import style_probabilities
from mangacolor.inference.generator_file import load_generator
from mangacolor.inference.page_colorizer import PageColorizer
from mangacolor.models.components import UNetGenerator
from mangacolor.runtime.fast_path import fast_generator, set_threads
from mangacolor.styles import STYLES

log = logging.getLogger("mangacolor.bench")


def _data_folder(settings: BenchSettings) -> str | None:
    """The folder the data rows read: data_dir when set (the datamodule splits it), else
    train_dir."""
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
                "error": (
                    f"compile failed: {type(error).__name__}: {str(error).splitlines()[0][:200]}"
                )
            }
        if "error" not in results:
            results = add_colorize_flop_figures(results, flops, *bench.peak(precision))
        report.add_row("colourise", settings, results)
        torch.set_num_threads(threads_before)
