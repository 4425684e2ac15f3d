"""mangacolor-bench's settings: the `bench` section of conf/bench.yaml, checked before anything is
measured, with the training config's sections its rows build from.

The model and data sections are carried as they are: each row instantiates them (their `_target_`)
with its own overrides, as mangacolor-train would.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from omegaconf import DictConfig

from mangacolor.runtime.renamed_keys import refuse_renamed_keys
from mangacolor.styles import STYLES

TASKS = ("model", "data", "end_to_end", "colourise")


@dataclass(frozen=True)
class BenchSettings:
    bench: DictConfig  # what to measure: tasks, the lists whose product makes the rows, outputs
    model: DictConfig  # instantiated for each model and end-to-end row
    data: DictConfig  # instantiated for each data and end-to-end row
    trainer: DictConfig  # accelerator, precision, cuDNN benchmark: as mangacolor-train reads them

    @classmethod
    def from_config(cls, cfg: Any) -> BenchSettings:
        """From the composed conf/bench.yaml; a mistake is a ValueError naming its key, before any row."""
        refuse_renamed_keys("bench", cfg)
        check_bench_config(cfg)
        return cls(bench=cfg.bench, model=cfg.model, data=cfg.data, trainer=cfg.trainer)


def decode_choices(cfg: Any) -> list:
    """The data rows' `data.decode_on_device` values: bench.data_decode_on_device's list, or [None]
    (the datamodule's own setting, passed on as it is)."""
    choices = cfg.bench.get("data_decode_on_device")
    if choices is None:
        return [None]
    if (
        "decode_on_device" not in cfg.data
    ):  # checked before any measurement, not after the model rows
        raise ValueError(
            "bench.data_decode_on_device needs data.decode_on_device, which this data config lacks"
        )
    return list(choices)


def input_style_choices(cfg: Any) -> list:
    """The data rows' input styles: each of bench.data_input_styles alone (a style name), or [None]
    (data.input_styles as configured)."""
    choices = cfg.bench.get("data_input_styles")
    if choices is None:
        return [None]
    unknown = sorted(set(choices) - set(STYLES))
    if unknown:
        raise ValueError(
            f"bench.data_input_styles: unknown {unknown}; choose from {', '.join(STYLES)}"
        )
    return list(choices)


def hint_choices(cfg: Any) -> list:
    """The data rows' `data.hints.enabled` values: bench.data_hints' list, or [None] (as configured)."""
    choices = cfg.bench.get("data_hints")
    if choices is None:
        return [None]
    if "hints" not in cfg.data:  # checked before any measurement, not after the model rows
        raise ValueError("bench.data_hints needs data.hints, which this data config lacks")
    return [bool(choice) for choice in choices]


def hints_enabled(cfg: Any, choice: bool | None) -> bool:
    """Whether a data row simulates colour hints: its choice, or the config's."""
    if choice is not None:
        return choice
    hints = cfg.data.get("hints")
    return bool(hints is not None and hints.get("enabled", False))


def wants_profile(setting: Any, batch_size: int) -> bool:
    """bench.profile: false, true (every model row) or a list of batch sizes to profile."""
    if setting is None or isinstance(setting, bool):
        return bool(setting)
    return batch_size in setting


def check_bench_config(cfg: Any) -> None:
    """Mistakes that would otherwise surface only after minutes of measuring."""
    unknown = set(cfg.bench.tasks) - set(TASKS)
    if unknown:
        raise ValueError(f"bench.tasks: unknown {sorted(unknown)}; choose from {', '.join(TASKS)}")
    if "data" in cfg.bench.tasks:
        decode_choices(cfg)
        input_style_choices(cfg)
        hint_choices(cfg)
    if cfg.bench.get("profile") is not False and cfg.bench.profile_iterations < 1:
        raise ValueError(
            f"bench.profile_iterations must be at least 1, got {cfg.bench.profile_iterations}"
        )
