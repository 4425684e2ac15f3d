"""What every row of one mangacolor-bench run shares (`Bench`: its settings, device and machine)
and the report the rows are recorded in (`Report`), with the device's peak FLOPs (`peak_of`).
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from omegaconf import OmegaConf

from mangacolor.benchmark.machine import (
    cpu_clock_ghz,
    cpu_peak_tflops,
    load_average,
    peak_tflops,
)
from mangacolor.benchmark.report import row_summary
from mangacolor.benchmark.settings import BenchSettings
from mangacolor.runtime.devices import cpu_capabilities
from mangacolor.runtime.instantiate import instantiate
from mangacolor.runtime.progress import Progress


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
