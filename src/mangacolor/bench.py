"""mangacolor-bench: how fast this machine trains, feeds data and colours pages.

Composes `conf/bench.yaml` (the training config plus a `bench` section), runs the measurements in
`mangacolor.benchmarking`, prints a table and writes every row, with machine, torch version,
settings and commit, to JSON.
"""

from __future__ import annotations

import json
import logging
import sys

import hydra
import torch
from omegaconf import DictConfig

from mangacolor import benchmarking
from mangacolor.atomic import atomic_write
from mangacolor.resources import config_dir, register_resolvers


def main() -> None:
    register_resolvers()

    @hydra.main(config_path=str(config_dir()), config_name="bench", version_base="1.3")
    def _main(cfg: DictConfig) -> None:
        for name in ("lightning.pytorch", "lightning.fabric"):  # "GPU available: ..." once per row
            logging.getLogger(name).setLevel(logging.WARNING)
        torch.set_float32_matmul_precision("high")  # as mangacolor-train: TF32 for float32 maths
        report = benchmarking.run(cfg, sys.argv[1:])
        with atomic_write(cfg.bench.json) as handle:
            handle.write(json.dumps(report, indent=2).encode())
        print(benchmarking.format_table(report["rows"]))
        print(f"mangacolor-bench: {len(report['rows'])} rows on {report['machine']['name']}, torch "
              f"{torch.__version__}, commit {report['commit']}; JSON at {cfg.bench.json}", flush=True)

    _main()


if __name__ == "__main__":
    main()
