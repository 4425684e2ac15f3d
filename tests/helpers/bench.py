"""mangacolor-bench at tiny sizes: the overrides that make every row take a second, and the config
and settings the tests hand the library."""

from __future__ import annotations

import json
from pathlib import Path

from omegaconf import DictConfig

from helpers.configs import compose_config
from mangacolor.benchmark.settings import BenchSettings

TINY_BENCH = [
    "+debug=tiny",
    "bench.warmup=1",
    "bench.iterations=1",
    "bench.data_batches=1",
    "bench.colourise.page_height=72",
    "bench.colourise.page_width=48",
    "bench.colourise.calls=1",
    "bench.colourise.pages_per_call=2",
    "bench.colourise.tile=64",
    "bench.colourise.tile_overlap=16",
]


def compose_bench(overrides: list[str]) -> DictConfig:
    """conf/bench.yaml composed with `overrides`, as mangacolor-bench composes it."""
    return compose_config("bench", overrides)


def bench_settings(overrides: list[str]) -> BenchSettings:
    """What mangacolor-bench hands `sweep.run`: the settings from the composed config."""
    return BenchSettings.from_config(compose_bench(overrides))


def read_report(output: Path) -> dict:
    """The one bench.json a run under paths.output_dir=`output` wrote."""
    reports = list(output.glob("bench/*/bench.json"))
    assert len(reports) == 1, reports
    return json.loads(reports[0].read_text())
