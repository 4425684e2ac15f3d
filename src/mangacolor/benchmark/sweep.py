"""The run mangacolor-bench configures: every row its settings (`BenchSettings`) ask for, in order,
with the report rewritten after each row (`mangacolor.benchmark.report`).

Every row is planned first (`plan_rows`), so the progress display knows the total; then each task's
rows are measured by their own function (`mangacolor.benchmark.rows`), all recorded in one
`Report` (`mangacolor.benchmark.run_context`).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from mangacolor.benchmark.machine import describe_machine, git_commit
from mangacolor.benchmark.rows import (
    measure_colorize_rows,
    measure_data_rows,
    measure_end_to_end_row,
    measure_model_rows,
)
from mangacolor.benchmark.run_context import Bench, Report
from mangacolor.benchmark.settings import (
    BenchSettings,
    decode_choices,
    hint_choices,
    input_style_choices,
)
from mangacolor.runtime.bundled import REPO_DIR
from mangacolor.runtime.devices import resolve_device, resolve_precision
from mangacolor.runtime.fast_path import resolve_channels_last
from mangacolor.runtime.progress import Progress


def _choices(values, default) -> list:
    return list(values) if values is not None else [default]


@dataclass(frozen=True)
class RowPlan:
    """Every row a run measures, planned before the first, so the progress display knows the
    total."""

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
    # A bar of rows on a terminal; in a log, each row's result in a line with the count and time
    # left.
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
