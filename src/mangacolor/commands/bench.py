"""mangacolor-bench: how fast this machine trains, feeds data and colours pages.

Composes `conf/bench.yaml` (the training config plus a `bench` section), runs the measurements in
`mangacolor.benchmark.sweep`, prints a table and writes every row, with machine, torch version,
settings and commit, to JSON and as a markdown table (`mangacolor.benchmark.report`). Both files are
rewritten after each row, so a run cut short keeps what it measured. Also `python -m mangacolor.commands.bench`.
"""

from __future__ import annotations

import functools
import logging
import sys

import hydra
import torch
from omegaconf import DictConfig

from mangacolor.benchmark import sweep
from mangacolor.benchmark.report import format_bench_table, summary_line, write_report
from mangacolor.benchmark.settings import BenchSettings
from mangacolor.commands.user_errors import exit_on_user_error
from mangacolor.runtime.bundled import config_dir, register_resolvers
from mangacolor.runtime.renamed_keys import refuse_renamed_overrides


def main() -> None:
    with exit_on_user_error("mangacolor-bench"):
        refuse_renamed_overrides("bench", sys.argv[1:])
    register_resolvers()

    @hydra.main(config_path=str(config_dir()), config_name="bench", version_base="1.3")
    def _main(cfg: DictConfig) -> None:
        for name in ("lightning.pytorch", "lightning.fabric"):  # "GPU available: ..." once per row
            logging.getLogger(name).setLevel(logging.WARNING)
        torch.set_float32_matmul_precision("high")  # as mangacolor-train: TF32 for float32 maths
        with exit_on_user_error("mangacolor-bench", ValueError):
            settings = BenchSettings.from_config(cfg)
            write = functools.partial(
                write_report, json_path=settings.bench.json, markdown=settings.bench.markdown
            )
            report = sweep.run(settings, sys.argv[1:], on_row=write)
        write(report)
        print(format_bench_table(report["rows"]))
        print(summary_line(report, settings.bench.json), flush=True)

    _main()


if __name__ == "__main__":
    main()
