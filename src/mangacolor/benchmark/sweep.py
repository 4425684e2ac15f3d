"""The run mangacolor-bench configures: every row a composed `conf/bench.yaml` asks for, in order,
with the report rewritten after each row (`mangacolor.benchmark.report`)."""

from __future__ import annotations

import datetime as dt
import functools
import itertools
import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import hydra
import torch
from omegaconf import DictConfig, OmegaConf

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
from mangacolor.data.files import UnreadableImage, find_images, read_image
from mangacolor.data.print_styles import STYLES, style_probabilities
from mangacolor.inference.generator_file import load_generator
from mangacolor.inference.page_colorizer import PageColorizer
from mangacolor.models.components import UNetGenerator
from mangacolor.runtime.bundled import REPO_DIR
from mangacolor.runtime.devices import cpu_capabilities, resolve_device, resolve_precision
from mangacolor.runtime.fast_path import fast_generator, resolve_channels_last, set_threads
from mangacolor.runtime.progress import Progress

log = logging.getLogger("mangacolor.bench")

TASKS = ("model", "data", "end_to_end", "colourise")


def _choices(values, default) -> list:
    return list(values) if values is not None else [default]


def _data_folder(cfg: DictConfig) -> str | None:
    """The folder the data rows read: data_dir when set (the datamodule splits it), else train_dir."""
    return cfg.data.get("data_dir") or cfg.data.get("train_dir")


def _source_page(cfg: DictConfig) -> torch.Tensor | None:
    """The first readable page of the data folder, to colour at the benchmark's page size."""
    folder = _data_folder(cfg)
    if not folder or not Path(folder).is_dir():
        return None
    for path in find_images(folder)[:16]:
        try:
            return read_image(path)
        except UnreadableImage:
            continue
    return None


def _colorizer(cfg: DictConfig, device: torch.device, precision: str, channels_last: bool = False,
               compile: bool = False) -> PageColorizer:
    """The colouriser a colourise row times, built as mangacolor-colorize builds it."""
    options = cfg.bench.colourise
    if options.generator:
        generator, _ = load_generator(options.generator)
    else:
        generator = UNetGenerator(**OmegaConf.to_container(cfg.model.generator, resolve=True))
    if compile:
        torch._dynamo.reset()  # each compiled row compiles its own generator afresh
    generator = fast_generator(generator.to(device), channels_last, compile, precision)
    return PageColorizer(generator, short_side=options.short_side, tile=options.tile, overlap=options.overlap,
                          batch_size=options.batch_size, device=device, precision=precision)


def decode_choices(cfg: DictConfig) -> list:
    """The data rows' `data.decode_on_device` values: bench.data_decode_on_device's list, or [None]
    (the datamodule's own setting, passed on as it is)."""
    choices = cfg.bench.get("data_decode_on_device")
    if choices is None:
        return [None]
    if "decode_on_device" not in cfg.data:  # checked before any measurement, not after the model rows
        raise ValueError("bench.data_decode_on_device needs data.decode_on_device, which this data config lacks")
    return list(choices)


def input_style_choices(cfg: DictConfig) -> list:
    """The data rows' input styles: each of bench.data_input_styles alone (a style name), or [None]
    (data.input_styles as configured)."""
    choices = cfg.bench.get("data_input_styles")
    if choices is None:
        return [None]
    unknown = sorted(set(choices) - set(STYLES))
    if unknown:
        raise ValueError(f"bench.data_input_styles: unknown {unknown}; choose from {', '.join(STYLES)}")
    return list(choices)


def hint_choices(cfg: DictConfig) -> list:
    """The data rows' `data.hints.enabled` values: bench.data_hints' list, or [None] (as configured)."""
    choices = cfg.bench.get("data_hints")
    if choices is None:
        return [None]
    if "hints" not in cfg.data:  # checked before any measurement, not after the model rows
        raise ValueError("bench.data_hints needs data.hints, which this data config lacks")
    return [bool(choice) for choice in choices]


def hints_enabled(cfg: DictConfig, choice: bool | None) -> bool:
    """Whether a data row simulates colour hints: its choice, or the config's."""
    if choice is not None:
        return choice
    hints = cfg.data.get("hints")
    return bool(hints is not None and hints.get("enabled", False))


def configured_input_styles(cfg: DictConfig, style: str | None) -> dict[str, float]:
    """{style: probability} a data row runs with: one style alone, or the config's."""
    if style is not None:
        return {style: 1.0}
    styles = cfg.data.get("input_styles")
    return style_probabilities(OmegaConf.to_container(styles) if styles is not None else None)


def wants_profile(setting: Any, batch_size: int) -> bool:
    """bench.profile: false, true (every model row) or a list of batch sizes to profile."""
    if setting is None or isinstance(setting, bool):
        return bool(setting)
    return batch_size in setting


def check_bench_config(cfg: DictConfig) -> None:
    """Mistakes that would otherwise surface only after minutes of measuring."""
    unknown = set(cfg.bench.tasks) - set(TASKS)
    if unknown:
        raise ValueError(f"bench.tasks: unknown {sorted(unknown)}; choose from {', '.join(TASKS)}")
    if "data" in cfg.bench.tasks:
        decode_choices(cfg)
        input_style_choices(cfg)
        hint_choices(cfg)
    if cfg.bench.get("profile") is not False and cfg.bench.profile_iterations < 1:
        raise ValueError(f"bench.profile_iterations must be at least 1, got {cfg.bench.profile_iterations}")


def _profile_row(profiler: StepProfiler, cfg: DictConfig, row_index: int) -> dict[str, Any]:
    """The row's profile summary, its files written beside bench.json.

    A profile that fails (the profiler's event API shifts between torch releases, and the GPU
    path cannot run in CI) is logged and recorded as an error: the row's timing still stands.
    """
    try:
        return profiling.write_outputs(profiler, Path(cfg.bench.json).parent, row_index,
                                       bool(cfg.bench.get("profile_trace", False)))
    except Exception as error:  # noqa: BLE001 -- see above
        log.exception("profiling model row %d failed", row_index)
        return {"error": f"{type(error).__name__}: {error}"}


def run(cfg: DictConfig, argv: Sequence[str] = (),
        on_row: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
    """Measure every task in `cfg.bench.tasks` over the product of the `cfg.bench` lists.

    Returns the report mangacolor-bench writes as JSON: machine, commit, the command (`argv`: its
    arguments) and one row per measurement, each with its settings and results. `on_row` gets the
    report so far (`"complete": false`) after each row, so a run cut short keeps its rows.
    """
    check_bench_config(cfg)
    bench = cfg.bench
    device = resolve_device(cfg.trainer.accelerator)
    machine = describe_machine(device)
    commit = git_commit(REPO_DIR)
    date = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    size, benchmark = cfg.data.size, bool(cfg.trainer.get("benchmark", True))
    precisions = [resolve_precision(p, device) for p in _choices(bench.precisions, cfg.trainer.precision)]
    rows: list[dict[str, Any]] = []

    # Every row planned first, so the progress display knows the total.
    tasks = bench.tasks
    model_rows = list(itertools.product(
        precisions, _choices(bench.batch_sizes, cfg.data.batch_size), _choices(bench.compile, cfg.model.compile),
        _choices(bench.channels_last, cfg.model.channels_last))) if "model" in tasks else []
    data_rows = list(itertools.product(_choices(bench.data_workers, cfg.data.num_workers), decode_choices(cfg),
                                       input_style_choices(cfg), hint_choices(cfg))) if "data" in tasks else []
    colourise_rows = colourise_plan(cfg, device) if "colourise" in tasks else []
    total = len(model_rows) + len(data_rows) + ("end_to_end" in tasks) + len(colourise_rows)
    # A bar of rows on a terminal; in a log, each row's result in a line with the count and time left.
    progress = Progress(total, "mangacolor-bench", "row", every=1)

    def report(complete: bool) -> dict[str, Any]:
        return {"format": "mangacolor-bench-1", "date": date, "command": " ".join(["mangacolor-bench", *argv]),
                "commit": commit, "machine": machine, "load_average_at_end": load_average(),
                "complete": complete, "rows": rows}

    def add_row(task: str, settings: dict, results: dict) -> None:
        row = {"task": task, "machine": machine["name"], "torch": torch.__version__, "commit": commit,
               "settings": settings, "results": results}
        rows.append(row)
        text = f"{task}: {' | '.join(row_summary(row))}"
        if progress.mode == "bar":
            progress.write(text)
        progress.update(1, {"": text} if progress.mode == "lines" else None)
        if on_row is not None:
            on_row(report(complete=False))

    def make_model(**overrides):
        return hydra.utils.instantiate(cfg.model, **overrides)

    networks = {"generator": OmegaConf.to_container(cfg.model.generator, resolve=True),
                "discriminator": OmegaConf.to_container(cfg.model.discriminator, resolve=True)}

    if model_rows:
        flops = training_flops_per_image(make_model, size, device, precisions[0])
        for precision, batch_size, compile_, channels_last in model_rows:
            if compile_:
                # Each compiled row compiles afresh for its own shapes, as a training run would;
                # otherwise the second batch size makes dynamo recompile with a dynamic batch size.
                torch._dynamo.reset()
            factory = functools.partial(make_model, compile=bool(compile_), channels_last=bool(channels_last))
            profiler = (StepProfiler(bench.warmup + bench.iterations, bench.profile_iterations, device)
                        if wants_profile(bench.profile, batch_size) else None)
            settings = {"size": size, "batch_size": batch_size, "precision": precision,
                        "compile": bool(compile_), "channels_last": bool(channels_last),
                        "warmup": bench.warmup, "iterations": bench.iterations,
                        "profile_iterations": bench.profile_iterations if profiler else 0, **networks}
            results = measure_unless_out_of_memory(device, lambda: measure_model_speed(
                factory, size, batch_size, precision, device, bench.warmup, bench.iterations, benchmark, profiler))
            if "error" not in results:
                results = add_flop_figures(results, flops, *peak_of(machine, device, precision))
                if profiler is not None:
                    results["profile"] = _profile_row(profiler, cfg, len(rows))
            add_row("model", settings, results)

    if data_rows:
        for workers, decode_on_device, style, hints in data_rows:
            overrides = {"num_workers": workers}
            if decode_on_device is not None:
                overrides["decode_on_device"] = bool(decode_on_device)
            if style is not None:  # every style named, so a merge with the configured weights leaves this one
                overrides["input_styles"] = {name: float(name == style) for name in STYLES}
            if hints is not None:  # merged into data.hints: its ranges stay the configured ones
                overrides["hints"] = {"enabled": hints}
            datamodule = hydra.utils.instantiate(cfg.data, **overrides)
            results = measure_data_pipeline(datamodule, device, bench.warmup, bench.data_batches)
            add_row("data", {"folder": _data_folder(cfg), "size": size, "window": cfg.data.window,
                             "batch_size": cfg.data.batch_size, "colourful_draws": cfg.data.colourful_draws,
                             "workers": workers,
                             "decode_on_device": overrides.get("decode_on_device", cfg.data.get("decode_on_device")),
                             "input_styles": configured_input_styles(cfg, style),
                             "hints": hints_enabled(cfg, hints),
                             "precision": precisions[0],
                             "warmup_batches": bench.warmup, "batches": bench.data_batches}, results)
        add_data_ratios(rows)

    if "end_to_end" in tasks:
        results = measure_end_to_end(make_model, hydra.utils.instantiate(cfg.data), precisions[0], device,
                                     bench.warmup, bench.iterations, benchmark)
        add_row("end_to_end", {"folder": _data_folder(cfg), "size": size, "batch_size": cfg.data.batch_size,
                               "workers": cfg.data.num_workers, "precision": precisions[0],
                               "compile": bool(cfg.model.compile), "channels_last": bool(cfg.model.channels_last),
                               "warmup": bench.warmup, "iterations": bench.iterations, **networks}, results)

    if colourise_rows:
        options = bench.colourise
        page = sample_page(options.page_height, options.page_width, _source_page(cfg))
        threads_before = torch.get_num_threads()
        flops = colorize_flops_per_page(_colorizer(cfg, device, "32-true"), page)
        for precision, channels_last, compile_, threads in colourise_rows:
            threads_used = set_threads(threads)
            settings = {"page_height": options.page_height, "page_width": options.page_width,
                        "short_side": options.short_side, "tile": options.tile, "overlap": options.overlap,
                        "batch_size": options.batch_size, "pages_per_call": options.pages_per_call,
                        "precision": precision, "channels_last": channels_last, "compile": compile_,
                        "threads": threads_used, "generator": options.generator or networks["generator"]}
            try:
                colorizer = _colorizer(cfg, device, precision, channels_last, compile_)
                results = measure_colorize(colorizer, page, options.pages_per_call, 1, options.calls)
            except Exception as error:  # noqa: BLE001 -- torch.compile needs a working C++ toolchain on a CPU
                if not compile_:
                    raise
                log.warning("compiled colourise row failed: %s", error)
                results = {"error": f"compile failed: {type(error).__name__}: {str(error).splitlines()[0][:200]}"}
            if "error" not in results:
                results = add_colorize_flop_figures(results, flops, *peak_of(machine, device, precision))
            add_row("colourise", settings, results)
            torch.set_num_threads(threads_before)

    progress.close()
    return report(complete=True)


def colourise_plan(cfg: DictConfig, device: torch.device) -> list[tuple[str, bool, bool, int | None]]:
    """(precision, channels_last, compile, threads) of each colourise row. Unset lists mean what
    mangacolor-colorize does by default: precision auto (bf16 where it pays, `bf16_pays_on_cpu`),
    channels_last auto, no compiling, torch's threads."""
    bench = cfg.bench
    plan = []
    for precision, channels_last, compile_, threads in itertools.product(
        _choices(bench.precisions, "auto"), _choices(bench.channels_last, "auto"), _choices(bench.compile, False),
        _choices(bench.colourise.get("threads"), None),
    ):
        resolved = resolve_precision(precision, device, bf16_cpu=True)
        plan.append((resolved, resolve_channels_last(channels_last, device, resolved), bool(compile_), threads))
    return plan


def peak_of(machine: dict[str, Any], device: torch.device, precision: str) -> tuple[float | None, str | None]:
    """The device's dense peak for this precision and how it was found: the card's datasheet, or the
    CPU's cores x clock x FLOPs per cycle (`cpu_peak_tflops`)."""
    if device.type == "cuda":
        peak = peak_tflops(machine["name"], precision)
        return peak, "NVIDIA datasheet, dense" if peak else None
    capabilities = cpu_capabilities()
    if "AMX" not in (machine.get("onednn_max_cpu_isa") or "AMX").upper():  # AMX turned off for oneDNN
        capabilities = {flag: value for flag, value in capabilities.items() if not flag.startswith("amx")}
    return cpu_peak_tflops(precision, capabilities, machine["cpu_cores"], cpu_clock_ghz())
