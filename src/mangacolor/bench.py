"""mangacolor-bench: how fast this machine trains, feeds data and colours pages.

Composes `conf/bench.yaml` (the training config plus a `bench` section), runs the measurements in
`mangacolor.benchmarking`, prints a table and writes every row, with machine, torch version,
settings and commit, to JSON.
"""

from __future__ import annotations

import datetime as dt
import functools
import itertools
import json
import logging
import sys
from pathlib import Path
from typing import Any

import hydra
import torch
from omegaconf import DictConfig, OmegaConf

from mangacolor import benchmarking as bm
from mangacolor.atomic import atomic_write
from mangacolor.resources import REPO_DIR, config_dir, register_resolvers
from mangacolor.inference import resolve_precision

log = logging.getLogger("mangacolor.bench")
TASKS = ("model", "data", "end_to_end", "colourise")


def _choices(values, default) -> list:
    return list(values) if values is not None else [default]


def _data_folder(cfg: DictConfig) -> str | None:
    """The folder the data rows read: data_dir when set (the datamodule splits it), else train_dir."""
    return cfg.data.get("data_dir") or cfg.data.get("train_dir")


def _source_page(cfg: DictConfig) -> torch.Tensor | None:
    """The first readable page of the data folder, to colour at the benchmark's page size."""
    from mangacolor.data.files import UnreadableImage, find_images, read_image

    folder = _data_folder(cfg)
    if not folder or not Path(folder).is_dir():
        return None
    for path in find_images(folder)[:16]:
        try:
            return read_image(path)
        except UnreadableImage:
            continue
    return None


def _colouriser(cfg: DictConfig, device: torch.device):
    from mangacolor.colouring import PageColouriser
    from mangacolor.models.components import UNetGenerator
    from mangacolor.models.generator_io import load_generator

    options = cfg.bench.colourise
    if options.generator:
        generator, _ = load_generator(options.generator)
    else:
        generator = UNetGenerator(**OmegaConf.to_container(cfg.model.generator, resolve=True))
    return PageColouriser(generator, short_side=options.short_side, tile=options.tile, overlap=options.overlap,
                          batch_size=options.batch_size, device=device)


def run_benchmarks(cfg: DictConfig) -> dict[str, Any]:
    bench = cfg.bench
    unknown = set(bench.tasks) - set(TASKS)
    if unknown:
        raise ValueError(f"bench.tasks: unknown {sorted(unknown)}; choose from {', '.join(TASKS)}")
    device = bm.device_for(cfg.trainer.accelerator)
    machine = bm.describe_machine(device)
    commit = bm.git_commit(REPO_DIR)
    size, benchmark = cfg.data.size, bool(cfg.trainer.get("benchmark", True))
    precisions = [resolve_precision(p, device) for p in _choices(bench.precisions, cfg.trainer.precision)]
    rows: list[dict[str, Any]] = []

    def add_row(task: str, settings: dict, results: dict) -> None:
        row = {"task": task, "machine": machine["name"], "torch": torch.__version__, "commit": commit,
               "settings": settings, "results": results}
        rows.append(row)
        log.info("%s: %s", task, " | ".join(bm.row_summary(row)))

    def make_model(**overrides):
        return hydra.utils.instantiate(cfg.model, **overrides)

    networks = {"generator": OmegaConf.to_container(cfg.model.generator, resolve=True),
                "discriminator": OmegaConf.to_container(cfg.model.discriminator, resolve=True)}

    if "model" in bench.tasks:
        flops = bm.training_flops_per_image(make_model, size, device, precisions[0])
        for precision, batch_size, compile_, channels_last in itertools.product(
            precisions, _choices(bench.batch_sizes, cfg.data.batch_size),
            _choices(bench.compile, cfg.model.compile), _choices(bench.channels_last, cfg.model.channels_last),
        ):
            factory = functools.partial(make_model, compile=bool(compile_), channels_last=bool(channels_last))
            results = bm.measure_model_speed(factory, size, batch_size, precision, device,
                                             bench.warmup, bench.iterations, benchmark)
            peak = bm.peak_tflops(machine["name"], precision) if device.type == "cuda" else None
            add_row("model", {"size": size, "batch_size": batch_size, "precision": precision,
                              "compile": bool(compile_), "channels_last": bool(channels_last),
                              "warmup": bench.warmup, "iterations": bench.iterations, **networks},
                    bm.add_flop_figures(results, flops, peak))

    if "data" in bench.tasks:
        for workers in _choices(bench.data_workers, cfg.data.num_workers):
            datamodule = hydra.utils.instantiate(cfg.data, num_workers=workers)
            results = bm.measure_data_pipeline(datamodule, device, bench.warmup, bench.data_batches)
            add_row("data", {"folder": _data_folder(cfg), "size": size, "window": cfg.data.window,
                             "batch_size": cfg.data.batch_size, "colourful_draws": cfg.data.colourful_draws,
                             "workers": workers, "precision": precisions[0],
                             "warmup_batches": bench.warmup, "batches": bench.data_batches}, results)
        bm.add_data_ratios(rows)

    if "end_to_end" in bench.tasks:
        results = bm.measure_end_to_end(make_model, hydra.utils.instantiate(cfg.data), precisions[0], device,
                                        bench.warmup, bench.iterations, benchmark)
        add_row("end_to_end", {"folder": _data_folder(cfg), "size": size, "batch_size": cfg.data.batch_size,
                               "workers": cfg.data.num_workers, "precision": precisions[0],
                               "compile": bool(cfg.model.compile), "channels_last": bool(cfg.model.channels_last),
                               "warmup": bench.warmup, "iterations": bench.iterations, **networks}, results)

    if "colourise" in bench.tasks:
        options = bench.colourise
        colouriser = _colouriser(cfg, device)
        page = bm.sample_page(options.page_height, options.page_width, _source_page(cfg))
        results = bm.measure_colourise(colouriser, page, options.pages_per_call, 1, options.calls)
        add_row("colourise", {"page_height": options.page_height, "page_width": options.page_width,
                              "short_side": options.short_side, "tile": options.tile, "overlap": options.overlap,
                              "batch_size": options.batch_size, "pages_per_call": options.pages_per_call,
                              "precision": str(colouriser.autocast_dtype or torch.float32).replace("torch.", ""),
                              "generator": options.generator or networks["generator"]}, results)

    return {
        "format": "mangacolor-bench-1",
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "command": " ".join(["mangacolor-bench", *sys.argv[1:]]),
        "commit": commit,
        "machine": machine,
        "load_average_at_end": bm.load_average(),
        "rows": rows,
    }


def main() -> None:
    register_resolvers()

    @hydra.main(config_path=str(config_dir()), config_name="bench", version_base="1.3")
    def _main(cfg: DictConfig) -> None:
        for name in ("lightning.pytorch", "lightning.fabric"):  # "GPU available: ..." once per row
            logging.getLogger(name).setLevel(logging.WARNING)
        torch.set_float32_matmul_precision("high")  # as mangacolor-train: TF32 for float32 maths
        report = run_benchmarks(cfg)
        with atomic_write(cfg.bench.json) as handle:
            handle.write(json.dumps(report, indent=2).encode())
        print(bm.format_table(report["rows"]))
        print(f"mangacolor-bench: {len(report['rows'])} rows on {report['machine']['name']}, torch "
              f"{torch.__version__}, commit {report['commit']}; JSON at {cfg.bench.json}", flush=True)

    _main()


if __name__ == "__main__":
    main()
