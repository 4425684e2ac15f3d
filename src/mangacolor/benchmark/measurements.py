"""Speed measurements behind mangacolor-bench: model, data pipeline, end to end, colourise.

Each figure comes from the code that trains or colours, never from a copy of it:
- model: `Pix2Pix.training_step` driven by a minimal Lightning Trainer on one synthetic batch that
  is already on the device, so only networks, losses and optimizers are timed. FLOPs per image
  are counted on one such step (`torch.utils.flop_counter`, 2 FLOPs per multiply-add) and MFU is
  taken against the card's dense tensor-core peak from a small table ("unknown" elsewhere);
- data: `PagesDataModule`'s loader (decoding in workers), the copy to the device and its device
  transforms (crop, resize, flip, Lab, and the B&W page synthesis of data.input_styles), with no
  model;
- end to end: a real fit on a folder, loader and model together (no validation, no checkpoints);
- colourise: `PageColorizer` on pages of a given size.
Timed windows start after `warmup` untimed iterations (cuDNN autotuning, compiling, worker
start-up) and synchronise the device only at their two edges. With `bench.profile`, a model row
profiles a few more iterations after its window has closed (`mangacolor.benchmark.profiling`).
`run(cfg)` measures what a composed `conf/bench.yaml` asks for and returns the report
(`mangacolor.benchmark.report` prints and writes it).
"""

from __future__ import annotations

import gc
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.fabric.utilities.apply_func import move_data_to_device
from torch.utils.flop_counter import FlopCounterMode

from mangacolor.benchmark.host_syncs import count_host_syncs
from mangacolor.benchmark.profiling import StepProfiler, synchronize
from mangacolor.benchmark.timers import (
    HostSyncCounter,
    IterationWindowTimer,
    ModelFactory,
    RepeatedBatch,
    synthetic_batch,
    timing_trainer,
)
from mangacolor.data.encoded_jpegs import read_page
from mangacolor.data.files import UnreadableImage

log = logging.getLogger("mangacolor.bench")


# ---- model speed -----------------------------------------------------------------------------
def parameter_counts(model: L.LightningModule) -> dict[str, int]:
    return {
        name: sum(p.numel() for p in getattr(model, name).parameters())
        for name in ("generator", "discriminator")
    }


def training_flops_per_image(
    make_model: ModelFactory, size: int, device: torch.device, precision: str
) -> float:
    """FLOPs of one full training iteration (D and G updates, forward and backward) per image.

    Counted on a real `training_step` at batch size 1, uncompiled (compiling changes no maths).
    """
    model = make_model(iterations=1, log_every=1, compile=False)
    with FlopCounterMode(display=False) as counter:
        timing_trainer(device, precision, [], benchmark=False).fit(
            model, train_dataloaders=RepeatedBatch(synthetic_batch(1, size, device), 1)
        )
    return float(counter.get_total_flops())


def measure_model_speed(
    make_model: ModelFactory,
    size: int,
    batch_size: int,
    precision: str,
    device: torch.device,
    warmup: int,
    iterations: int,
    benchmark: bool = True,
    profiler: StepProfiler | None = None,
) -> dict[str, Any]:
    """Training iterations/s and images/s on one synthetic device batch, plus peak memory.

    With a `profiler` (a StepProfiler starting at warmup + iterations), its iterations run after
    the timed window has closed, in the same fit: nothing is compiled or autotuned twice.
    """
    if iterations < 1:
        raise ValueError(f"bench.iterations must be at least 1, got {iterations}")
    timed_end = warmup + iterations
    total = timed_end + (profiler.iterations if profiler else 0)
    model = make_model(
        iterations=total, log_every=total
    )  # the one host sync lands after the window
    timer = IterationWindowTimer(warmup, end=timed_end)
    syncs = HostSyncCounter(warmup, device)
    # In this order: the sync counter stops before the timer opens its window (with a sync of its
    # own), and the timer closes (and syncs) before the profiler starts.
    callbacks = [syncs, timer, profiler] if profiler else [syncs, timer]
    trainer = timing_trainer(device, precision, callbacks, benchmark)
    trainer.fit(
        model, train_dataloaders=RepeatedBatch(synthetic_batch(batch_size, size, device), total)
    )
    return {
        **timer.rates(batch_size),
        **syncs.results(),
        **{f"{k}_params": v for k, v in parameter_counts(model).items()},
    }


def measure_unless_out_of_memory(
    device: torch.device, measure: Callable[[], dict[str, Any]]
) -> dict[str, Any]:
    """`measure()`, or {"error": "out of memory: ..."} when it ran out of device memory, with that
    memory given back: a batch sweep records the largest batches as too large and goes on."""
    try:
        return measure()
    except torch.OutOfMemoryError as error:
        message = str(error).splitlines()[0] if str(error) else "out of memory"
    # Outside the except block: the traceback, and the model and batch its frames hold, are gone.
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()
    log.warning("out of memory: %s", message)
    return {"error": f"out of memory: {message}"}


def add_flop_figures(
    results: dict[str, Any], flops_per_image: float, peak: float | None, peak_how: str | None = None
) -> dict[str, Any]:
    """Achieved TFLOP/s and MFU (None where the peak is unknown) from a measured images/s."""
    achieved = flops_per_image * results["images_per_s"] / 1e12
    return {
        **results,
        "gflop_per_image": flops_per_image / 1e9,
        "achieved_tflops": achieved,
        "peak_tflops": peak,
        "peak_how": peak_how,
        "mfu": achieved / peak if peak else None,
    }


# ---- data pipeline ---------------------------------------------------------------------------
def _time_transforms_alone(datamodule, batch, device: torch.device, repeats: int) -> tuple:
    """(images, wall seconds, CPU seconds, host syncs) of the device transforms alone, run
    `repeats` times on `batch`, then once more counting the host's waits for the GPU."""
    # With data.decode_on_device the batch holds encoded JPEGs, decoded again by each call: so
    # "transforms alone" includes the device decode there, and images are counted from the output.
    # The process's CPU time as well: on a CPU it prices the transforms (the B&W page synthesis
    # included) per page even when other jobs share the cores and stretch the wall time.
    transformed = 0
    transform_start, transform_cpu_start = time.perf_counter(), time.process_time()
    for number in range(repeats):
        out = datamodule.to_lab_batch(batch, train=True, batch_number=number)
        transformed += out["L"].shape[0] if out["L"] is not None else 0
    synchronize(device)
    transform_seconds = time.perf_counter() - transform_start
    transform_cpu_seconds = time.process_time() - transform_cpu_start
    with count_host_syncs(
        device
    ) as syncs:  # each wait stops the host from running ahead of the GPU
        datamodule.to_lab_batch(batch, train=True, batch_number=repeats)
    return transformed, transform_seconds, transform_cpu_seconds, syncs


def measure_data_pipeline(
    datamodule, device: torch.device, warmup: int, batches: int
) -> dict[str, Any]:
    """Images/s from files through decode workers, the copy to the device and the device transforms.

    `datamodule` is a PagesDataModule; batches are moved as Lightning moves them (non-blocking from
    pinned memory) and transformed by the datamodule's own `to_lab_batch`. A second, shorter figure
    times the device transforms alone on the last batch.
    """
    if warmup < 1 or batches < 1:
        raise ValueError(
            f"bench.warmup and bench.data_batches must be at least 1, got {warmup}, {batches}"
        )
    datamodule.setup("fit")
    worker = measure_worker_reads(datamodule)
    loader = datamodule.train_dataloader()
    iterator = iter(loader)
    images, start, batch = 0, 0.0, None
    for number in range(1, warmup + batches + 1):
        batch = move_data_to_device(next(iterator), device)
        datamodule.note_unreadable(batch["unreadable"])
        out = datamodule.to_lab_batch(batch, train=True, batch_number=number)
        if number == warmup:
            synchronize(device)
            start = time.perf_counter()
        elif number > warmup and out["L"] is not None:
            images += out["L"].shape[0]
    synchronize(device)
    seconds = time.perf_counter() - start
    del iterator, loader  # stops the (persistent) workers

    repeats = max(1, batches // 2)
    transformed, transform_seconds, transform_cpu_seconds, syncs = _time_transforms_alone(
        datamodule, batch, device, repeats
    )
    return {
        **worker,
        "images_per_s": images / seconds,
        "batches_per_s": batches / seconds,
        "timed_images": images,
        "transforms_images_per_s": transformed / transform_seconds,
        "transforms_cpu_ms_per_image": 1000 * transform_cpu_seconds / transformed
        if transformed
        else None,
        "train_pages": len(datamodule.train_paths),
        "bad_files": len(datamodule.unreadable),
        "host_syncs_per_batch": syncs.count,
        "host_sync_lines": syncs.where,
    }


def measure_worker_reads(datamodule, pages: int = 200) -> dict[str, Any]:
    """Pages/s one loader worker hands over: `read_page` as the workers call it (decoding, or with
    data.decode_on_device only reading and checking plain JPEGs), in this process, on the first
    `pages` training pages with their files already in the OS cache. Times the number of workers,
    an upper bound on what the loader can feed."""
    paths = datamodule.train_paths[:pages]
    for path in paths:
        Path(path).read_bytes()  # from the disk into the OS cache, untimed
    read, start = 0, time.perf_counter()
    for path in paths:
        try:
            read_page(path, datamodule.max_pixels, datamodule.decode_on_device)
            read += 1
        except UnreadableImage:
            continue
    seconds = time.perf_counter() - start
    return {
        "worker_pages_per_s": read / seconds if seconds > 0 else None,
        "worker_pages_timed": read,
    }


def add_data_ratios(rows: list[dict[str, Any]]) -> None:
    """Each data row's images/s over the model's at the same batch size and precision (>= 1: the
    loader keeps up). Without a model row at that batch size the ratio is None."""
    models = [r for r in rows if r["task"] == "model" and "error" not in r["results"]]
    for row in (r for r in rows if r["task"] == "data"):
        match = next(
            (
                m
                for m in models
                if m["settings"]["batch_size"] == row["settings"]["batch_size"]
                and m["settings"]["precision"] == row["settings"]["precision"]
            ),
            None,
        )
        model_rate = match["results"]["images_per_s"] if match else None
        row["results"]["model_images_per_s"] = model_rate
        row["results"]["ratio_to_model"] = (
            row["results"]["images_per_s"] / model_rate if model_rate else None
        )


# ---- end to end --------------------------------------------------------------------------------
def measure_end_to_end(
    make_model: ModelFactory,
    datamodule,
    precision: str,
    device: torch.device,
    warmup: int,
    iterations: int,
    benchmark: bool = True,
) -> dict[str, Any]:
    """Training images/s on a real folder: loader, transforms and model together."""
    total = warmup + iterations
    model = make_model(iterations=total)
    timer = IterationWindowTimer(warmup)
    timing_trainer(device, precision, [timer], benchmark).fit(model, datamodule=datamodule)
    return {**timer.rates(datamodule.batch_size), "bad_files": len(datamodule.unreadable)}


# ---- colourise ---------------------------------------------------------------------------------
def sample_page(height: int, width: int, source: torch.Tensor | None = None) -> torch.Tensor:
    """A uint8 RGB page (3, H, W): a real page resized when given, else smooth colour gradients."""
    if source is not None:
        resized = torch.nn.functional.interpolate(
            source[None].float(),
            size=(height, width),
            mode="bilinear",
            antialias=True,
            align_corners=False,
        )
        return resized[0].round().clamp(0, 255).to(torch.uint8)
    y = torch.linspace(0, 1, height)[:, None].expand(height, width)
    x = torch.linspace(0, 1, width)[None, :].expand(height, width)
    return (torch.stack([y, x, (x + y) / 2]) * 255).round().to(torch.uint8)


def measure_colorize(
    colorizer, page: torch.Tensor, pages_per_call: int, warmup: int, calls: int
) -> dict[str, Any]:
    """Pages/s for `colorizer.colour` (a PageColorizer), uint8 pages in and out on the CPU."""
    pages = [page] * pages_per_call
    for _ in range(warmup):
        colorizer.color(pages)
    start, start_cpu = time.perf_counter(), time.process_time()
    for _ in range(calls):
        colorizer.color(pages)  # returns CPU tensors: the device has finished
    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - start_cpu
    timed = calls * pages_per_call
    # CPU time of this process (all its threads) per page: on a shared CPU it grows much less than
    # the wall time when other jobs compete for the cores.
    return {
        "pages_per_s": timed / seconds,
        "ms_per_page": 1000 * seconds / timed,
        "process_cpu_s_per_page": cpu_seconds / timed,
    }


def colorize_flops_per_page(colorizer, page: torch.Tensor) -> float:
    """FLOPs of colouring one page (`torch.utils.flop_counter`: the network's convolutions on the
    padded tiles, 2 per multiply-add; the colour maths is not counted). Count it uncompiled."""
    with FlopCounterMode(display=False) as counter:
        colorizer.color([page])
    return float(counter.get_total_flops())


def add_colorize_flop_figures(
    results: dict[str, Any], flops_per_page: float, peak: float | None, peak_how: str | None = None
) -> dict[str, Any]:
    """Achieved TFLOP/s and the fraction of the device's peak (None where unknown) from pages/s."""
    achieved = flops_per_page * results["pages_per_s"] / 1e12
    return {
        **results,
        "gflop_per_page": flops_per_page / 1e9,
        "achieved_tflops": achieved,
        "peak_tflops": peak,
        "peak_how": peak_how,
        "mfu": achieved / peak if peak else None,
    }
