"""Speed measurements behind mangacolor-bench: model, data pipeline, end to end, colourise.

Each figure comes from the code that trains or colours, never from a copy of it:
- model: `Pix2Pix.training_step` driven by a minimal Lightning Trainer on one synthetic batch that
  is already on the device, so only networks, losses and optimizers are timed. FLOPs per image
  are counted on one such step (`torch.utils.flop_counter`, 2 FLOPs per multiply-add) and MFU is
  taken against the card's dense tensor-core peak from a small table ("unknown" elsewhere);
- data: `PagesDataModule`'s loader (decoding in workers), the copy to the device and its device
  transforms (crop, resize, flip, Lab), with no model;
- end to end: a real fit on a folder, loader and model together (no validation, no checkpoints);
- colourise: `PageColouriser` on pages of a given size.
Timed windows start after `warmup` untimed iterations (cuDNN autotuning, compiling, worker
start-up) and synchronise the device only at their two edges. With `bench.profile`, a model row
profiles a few more iterations after its window has closed (`mangacolor.profiling`). `run(cfg)`
measures what a composed `conf/bench.yaml` asks for and returns the report (`mangacolor.bench_report`
prints and writes it).
"""

from __future__ import annotations

import datetime as dt
import functools
import gc
import itertools
import logging
import os
import platform
import re
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import hydra
import lightning as L
import torch
from lightning.fabric.utilities.apply_func import move_data_to_device
from lightning.pytorch.callbacks import Callback
from omegaconf import DictConfig, OmegaConf
from torch.utils.flop_counter import FlopCounterMode

from mangacolor import profiling
from mangacolor.bench_report import row_summary
from mangacolor.colouring import PageColouriser
from mangacolor.data.files import UnreadableImage, find_images, read_image, read_page
from mangacolor.host_syncs import SyncCount, count_host_syncs
from mangacolor.inference import resolve_precision
from mangacolor.models.components import UNetGenerator
from mangacolor.models.generator_io import load_generator
from mangacolor.profiling import StepProfiler, synchronize
from mangacolor.resources import REPO_DIR

log = logging.getLogger("mangacolor.bench")

GIB = 2**30

# Dense (no sparsity) tensor-core peaks in TFLOP/s from NVIDIA's datasheets: (pattern in the
# device name, bf16/fp16, tf32). float32 training runs its convolutions and matmuls in TF32
# (cuDNN's default and `set_float32_matmul_precision("high")`), so "32" is held against TF32.
# The first pattern that matches wins: the specific H100 variants come before the SXM default.
PEAK_TFLOPS: tuple[tuple[str, float, float], ...] = (
    (r"H100 PCIe", 756.0, 378.0),
    (r"H100 NVL", 835.0, 417.5),
    (r"H100|H200", 989.4, 494.7),  # SXM ("H100 80GB HBM3"), H200 and GH200 share the peak
    (r"A100", 312.0, 156.0),
    (r"\bL4\b", 121.0, 60.0),
)


# ---- the machine ---------------------------------------------------------------------------
def device_for(accelerator: str) -> torch.device:
    """A Trainer accelerator name (auto, cpu, gpu, cuda) -> the one device the benchmark uses."""
    accelerator = str(accelerator)
    if accelerator == "cpu":
        return torch.device("cpu")
    if accelerator in ("gpu", "cuda"):
        if not torch.cuda.is_available():
            raise ValueError(f"trainer.accelerator={accelerator} but this machine has no CUDA GPU")
        return torch.device("cuda", torch.cuda.current_device())
    if accelerator == "auto":
        return device_for("cuda" if torch.cuda.is_available() else "cpu")
    raise ValueError(f"mangacolor-bench runs on cpu or cuda, not trainer.accelerator={accelerator}")


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def cpu_cores() -> int:
    """Cores this process may use (a container's limit, not the host's count)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def load_average() -> list[float] | None:
    """1, 5 and 15 minute load averages (runnable processes), where the OS reports them."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except (AttributeError, OSError):
        return None


def describe_machine(device: torch.device) -> dict[str, Any]:
    info: dict[str, Any] = {
        "device": device.type,
        "cpu": cpu_model(),
        "cpu_cores": cpu_cores(),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "lightning": L.__version__,
        "python": platform.python_version(),
        # Other work on the machine slows every row: read the figures against this.
        "load_average_at_start": load_average(),
    }
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        info.update(gpu=props.name, gpu_memory_gib=round(props.total_memory / GIB, 1),
                    gpu_count=torch.cuda.device_count(), cudnn=torch.backends.cudnn.version())
        info["name"] = props.name
    else:
        info["name"] = f"{info['cpu']} ({info['cpu_cores']} cores)"
    return info


def git_commit(folder: Path) -> str:
    """Short commit of the checkout at `folder`, '-dirty' when tracked files differ from it.

    An installed wheel has no checkout (and `git -C` would find an unrelated parent repository),
    so only a folder that holds `.git` itself is asked. Elsewhere MANGACOLOR_COMMIT names it: a
    copy of the working tree sent to a GPU machine travels without `.git`.
    """
    if not (folder / ".git").exists():
        return os.environ.get("MANGACOLOR_COMMIT") or "unknown (not a git checkout)"
    try:
        def git(*args: str) -> str:
            return subprocess.run(["git", "-C", str(folder), *args], capture_output=True, text=True,
                                  timeout=20, check=True).stdout.strip()

        commit = git("rev-parse", "--short", "HEAD")
        dirty = git("status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.SubprocessError):
        return "unknown (git failed)"
    return commit + ("-dirty" if dirty else "")


def peak_tflops(device_name: str, precision: str) -> float | None:
    """The card's dense peak for this training precision, or None when the card is not in the table."""
    for pattern, half, tf32 in PEAK_TFLOPS:
        if re.search(pattern, device_name):
            if precision in ("bf16-mixed", "16-mixed", "bf16-true", "16-true"):
                return half
            if precision in ("32", "32-true"):
                return tf32
            return None
    return None


# ---- model speed -----------------------------------------------------------------------------
def synthetic_batch(batch_size: int, size: int, device: torch.device, seed: int = 0) -> dict:
    """A training batch ({"L", "ab"} in [-1, 1]) made on the device: no loader, no copy."""
    generator = torch.Generator(device=device).manual_seed(seed)
    lightness = torch.rand(batch_size, 1, size, size, device=device, generator=generator) * 2 - 1
    ab = (torch.rand(batch_size, 2, size, size, device=device, generator=generator) * 2 - 1) * 0.3
    return {"L": lightness, "ab": ab}


class RepeatedBatch:
    """The same batch `count` times: an iterable Lightning can fit on, with nothing to load."""

    def __init__(self, batch: dict, count: int):
        self.batch, self.count = batch, count

    def __iter__(self) -> Iterator[dict]:
        return itertools.repeat(self.batch, self.count)

    def __len__(self) -> int:
        return self.count


class IterationWindowTimer(Callback):
    """Times iterations warmup+1 .. `end` (default: the model's last), syncing the device only at
    the two edges."""

    def __init__(self, warmup: int, end: int | None = None):
        if warmup < 1:
            raise ValueError(f"bench.warmup must be at least 1 (the first step autotunes), got {warmup}")
        self.warmup, self.end = warmup, end
        self._start: float | None = None
        self._start_cpu = 0.0
        self._start_iteration = 0
        self.cpu_seconds: float | None = None
        self.seconds: float | None = None
        self.iterations = 0
        self.peak_memory_gib: float | None = None

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        iteration, device = pl_module.iteration, pl_module.device
        if iteration == self.warmup:
            synchronize(device)
            if device.type == "cuda":
                torch.cuda.reset_peak_memory_stats(device)
            self._start, self._start_iteration = time.perf_counter(), iteration
            self._start_cpu = time.process_time()
        elif iteration >= (self.end or pl_module.hparams.iterations) and self._start is not None and self.seconds is None:
            synchronize(device)
            self.seconds = time.perf_counter() - self._start
            self.cpu_seconds = time.process_time() - self._start_cpu
            self.iterations = iteration - self._start_iteration
            if device.type == "cuda":
                self.peak_memory_gib = torch.cuda.max_memory_allocated(device) / GIB

    def rates(self, images_per_iteration: int) -> dict[str, float | None]:
        if not self.seconds or not self.iterations:
            raise RuntimeError("the timed window never closed: training stopped before its last iteration")
        per_second = self.iterations / self.seconds
        return {
            "iterations_per_s": per_second,
            "images_per_s": per_second * images_per_iteration,
            "step_ms": 1000.0 / per_second,
            "timed_iterations": self.iterations,
            "peak_memory_gib": self.peak_memory_gib,
            # CPU time of this process (all its threads, not loader workers) per iteration: the
            # host's work per step on a GPU; on a shared CPU it grows much less than wall time.
            "process_cpu_s_per_iteration": self.cpu_seconds / self.iterations,
        }


def timing_trainer(device: torch.device, precision: str, callbacks: list, benchmark: bool = True) -> L.Trainer:
    """One device, nothing written: no logger, no checkpoints, no validation, no progress bar."""
    return L.Trainer(
        accelerator=device.type, devices=[device.index or 0] if device.type == "cuda" else 1,
        precision=precision, benchmark=benchmark if device.type == "cuda" else None,
        logger=False, enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
        num_sanity_val_steps=0, limit_val_batches=0, max_epochs=-1, callbacks=callbacks,
        use_distributed_sampler=False,
    )


class HostSyncCounter(Callback):
    """Counts the host's waits for the device over one whole iteration (Lightning's loop included).

    The last warm-up iteration is counted: warm, yet before the timed window, so the counting
    (CUDA's sync debug mode) never touches a timed step. Place it before the window's timer, whose
    own synchronisation opens the window and must not be counted. Nothing is counted with a single
    warm-up iteration (that one autotunes and compiles) or on a CPU.
    """

    def __init__(self, iteration: int, device: torch.device):
        self.iteration, self.device = iteration, device
        self.syncs = SyncCount()
        self._counting = None

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if pl_module.iteration + 1 == self.iteration and self.iteration >= 2:
            self._counting = count_host_syncs(self.device)
            self.syncs = self._counting.__enter__()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self._stop_counting()

    def on_exception(self, trainer, pl_module, exception) -> None:
        self._stop_counting()  # e.g. out of memory: the sweep goes on, without the debug mode left on

    def _stop_counting(self) -> None:
        if self._counting is not None:
            self._counting.__exit__(None, None, None)
            self._counting = None

    def results(self) -> dict[str, Any]:
        return {"host_syncs_per_iteration": self.syncs.count, "host_sync_lines": self.syncs.where}


ModelFactory = Callable[..., L.LightningModule]
"""make_model(iterations=..., log_every=..., **overrides) -> a fresh Pix2Pix."""


def parameter_counts(model: L.LightningModule) -> dict[str, int]:
    return {name: sum(p.numel() for p in getattr(model, name).parameters())
            for name in ("generator", "discriminator")}


def training_flops_per_image(make_model: ModelFactory, size: int, device: torch.device, precision: str) -> float:
    """FLOPs of one full training iteration (D and G updates, forward and backward) per image.

    Counted on a real `training_step` at batch size 1, uncompiled (compiling changes no maths).
    """
    model = make_model(iterations=1, log_every=1, compile=False)
    with FlopCounterMode(display=False) as counter:
        timing_trainer(device, precision, [], benchmark=False).fit(
            model, train_dataloaders=RepeatedBatch(synthetic_batch(1, size, device), 1))
    return float(counter.get_total_flops())


def measure_model_speed(
    make_model: ModelFactory, size: int, batch_size: int, precision: str, device: torch.device,
    warmup: int, iterations: int, benchmark: bool = True, profiler: StepProfiler | None = None,
) -> dict[str, Any]:
    """Training iterations/s and images/s on one synthetic device batch, plus peak memory.

    With a `profiler` (a StepProfiler starting at warmup + iterations), its iterations run after
    the timed window has closed, in the same fit: nothing is compiled or autotuned twice.
    """
    if iterations < 1:
        raise ValueError(f"bench.iterations must be at least 1, got {iterations}")
    timed_end = warmup + iterations
    total = timed_end + (profiler.iterations if profiler else 0)
    model = make_model(iterations=total, log_every=total)  # the one host sync lands after the window
    timer = IterationWindowTimer(warmup, end=timed_end)
    syncs = HostSyncCounter(warmup, device)
    # In this order: the sync counter stops before the timer opens its window (with a sync of its
    # own), and the timer closes (and syncs) before the profiler starts.
    callbacks = [syncs, timer, profiler] if profiler else [syncs, timer]
    trainer = timing_trainer(device, precision, callbacks, benchmark)
    trainer.fit(model, train_dataloaders=RepeatedBatch(synthetic_batch(batch_size, size, device), total))
    return {**timer.rates(batch_size), **syncs.results(),
            **{f"{k}_params": v for k, v in parameter_counts(model).items()}}


def measure_unless_out_of_memory(device: torch.device, measure: Callable[[], dict[str, Any]]) -> dict[str, Any]:
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


def add_flop_figures(results: dict[str, Any], flops_per_image: float, peak: float | None) -> dict[str, Any]:
    """Achieved TFLOP/s and MFU (None where the peak is unknown) from a measured images/s."""
    achieved = flops_per_image * results["images_per_s"] / 1e12
    return {**results, "gflop_per_image": flops_per_image / 1e9, "achieved_tflops": achieved,
            "peak_tflops": peak, "mfu": achieved / peak if peak else None}


# ---- data pipeline ---------------------------------------------------------------------------
def measure_data_pipeline(datamodule, device: torch.device, warmup: int, batches: int) -> dict[str, Any]:
    """Images/s from files through decode workers, the copy to the device and the device transforms.

    `datamodule` is a PagesDataModule; batches are moved as Lightning moves them (non-blocking from
    pinned memory) and transformed by the datamodule's own `to_lab_batch`. A second, shorter figure
    times the device transforms alone on the last batch.
    """
    if warmup < 1 or batches < 1:
        raise ValueError(f"bench.warmup and bench.data_batches must be at least 1, got {warmup}, {batches}")
    datamodule.setup("fit")
    worker = measure_worker_reads(datamodule)
    loader = datamodule.train_dataloader()
    iterator = iter(loader)
    images, start, batch = 0, 0.0, None
    for number in range(1, warmup + batches + 1):
        batch = move_data_to_device(next(iterator), device)
        datamodule.note_bad_files(batch["bad"])
        out = datamodule.to_lab_batch(batch, train=True, batch_number=number)
        if number == warmup:
            synchronize(device)
            start = time.perf_counter()
        elif number > warmup and out["L"] is not None:
            images += out["L"].shape[0]
    synchronize(device)
    seconds = time.perf_counter() - start
    del iterator, loader  # stops the (persistent) workers

    # With data.decode_on_device the batch holds encoded JPEGs, decoded again by each call: so
    # "transforms alone" includes the device decode there, and images are counted from the output.
    repeats, transformed = max(1, batches // 2), 0
    transform_start = time.perf_counter()
    for number in range(repeats):
        out = datamodule.to_lab_batch(batch, train=True, batch_number=number)
        transformed += out["L"].shape[0] if out["L"] is not None else 0
    synchronize(device)
    transform_seconds = time.perf_counter() - transform_start
    with count_host_syncs(device) as syncs:  # each wait stops the host from running ahead of the GPU
        datamodule.to_lab_batch(batch, train=True, batch_number=repeats)
    return {
        **worker,
        "images_per_s": images / seconds,
        "batches_per_s": batches / seconds,
        "timed_images": images,
        "transforms_images_per_s": transformed / transform_seconds,
        "train_pages": len(datamodule.train_paths),
        "bad_files": len(datamodule.bad_files),
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
    return {"worker_pages_per_s": read / seconds if seconds > 0 else None, "worker_pages_timed": read}


def add_data_ratios(rows: list[dict[str, Any]]) -> None:
    """Each data row's images/s over the model's at the same batch size and precision (>= 1: the
    loader keeps up). Without a model row at that batch size the ratio is None."""
    models = [r for r in rows if r["task"] == "model" and "error" not in r["results"]]
    for row in (r for r in rows if r["task"] == "data"):
        match = next((m for m in models if m["settings"]["batch_size"] == row["settings"]["batch_size"]
                      and m["settings"]["precision"] == row["settings"]["precision"]), None)
        model_rate = match["results"]["images_per_s"] if match else None
        row["results"]["model_images_per_s"] = model_rate
        row["results"]["ratio_to_model"] = row["results"]["images_per_s"] / model_rate if model_rate else None


# ---- end to end --------------------------------------------------------------------------------
def measure_end_to_end(
    make_model: ModelFactory, datamodule, precision: str, device: torch.device,
    warmup: int, iterations: int, benchmark: bool = True,
) -> dict[str, Any]:
    """Training images/s on a real folder: loader, transforms and model together."""
    total = warmup + iterations
    model = make_model(iterations=total)
    timer = IterationWindowTimer(warmup)
    timing_trainer(device, precision, [timer], benchmark).fit(model, datamodule=datamodule)
    return {**timer.rates(datamodule.batch_size), "bad_files": len(datamodule.bad_files)}


# ---- colourise ---------------------------------------------------------------------------------
def sample_page(height: int, width: int, source: torch.Tensor | None = None) -> torch.Tensor:
    """A uint8 RGB page (3, H, W): a real page resized when given, else smooth colour gradients."""
    if source is not None:
        resized = torch.nn.functional.interpolate(source[None].float(), size=(height, width), mode="bilinear",
                                                  antialias=True, align_corners=False)
        return resized[0].round().clamp(0, 255).to(torch.uint8)
    y = torch.linspace(0, 1, height)[:, None].expand(height, width)
    x = torch.linspace(0, 1, width)[None, :].expand(height, width)
    return (torch.stack([y, x, (x + y) / 2]) * 255).round().to(torch.uint8)


def measure_colourise(colouriser, page: torch.Tensor, pages_per_call: int, warmup: int, calls: int) -> dict[str, Any]:
    """Pages/s for `colouriser.colour` (a PageColouriser), uint8 pages in and out on the CPU."""
    pages = [page] * pages_per_call
    for _ in range(warmup):
        colouriser.colour(pages)
    start = time.perf_counter()
    for _ in range(calls):
        colouriser.colour(pages)  # returns CPU tensors: the device has finished
    seconds = time.perf_counter() - start
    return {"pages_per_s": calls * pages_per_call / seconds, "ms_per_page": 1000 * seconds / (calls * pages_per_call)}


# ---- the run mangacolor-bench configures ---------------------------------------------------------
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


def _colouriser(cfg: DictConfig, device: torch.device, precision: str) -> PageColouriser:
    options = cfg.bench.colourise
    if options.generator:
        generator, _ = load_generator(options.generator)
    else:
        generator = UNetGenerator(**OmegaConf.to_container(cfg.model.generator, resolve=True))
    return PageColouriser(generator, short_side=options.short_side, tile=options.tile, overlap=options.overlap,
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
    device = device_for(cfg.trainer.accelerator)
    machine = describe_machine(device)
    commit = git_commit(REPO_DIR)
    date = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    size, benchmark = cfg.data.size, bool(cfg.trainer.get("benchmark", True))
    precisions = [resolve_precision(p, device) for p in _choices(bench.precisions, cfg.trainer.precision)]
    rows: list[dict[str, Any]] = []

    def report(complete: bool) -> dict[str, Any]:
        return {"format": "mangacolor-bench-1", "date": date, "command": " ".join(["mangacolor-bench", *argv]),
                "commit": commit, "machine": machine, "load_average_at_end": load_average(),
                "complete": complete, "rows": rows}

    def add_row(task: str, settings: dict, results: dict) -> None:
        row = {"task": task, "machine": machine["name"], "torch": torch.__version__, "commit": commit,
               "settings": settings, "results": results}
        rows.append(row)
        log.info("%s: %s", task, " | ".join(row_summary(row)))
        if on_row is not None:
            on_row(report(complete=False))

    def make_model(**overrides):
        return hydra.utils.instantiate(cfg.model, **overrides)

    networks = {"generator": OmegaConf.to_container(cfg.model.generator, resolve=True),
                "discriminator": OmegaConf.to_container(cfg.model.discriminator, resolve=True)}

    if "model" in bench.tasks:
        flops = training_flops_per_image(make_model, size, device, precisions[0])
        for precision, batch_size, compile_, channels_last in itertools.product(
            precisions, _choices(bench.batch_sizes, cfg.data.batch_size),
            _choices(bench.compile, cfg.model.compile), _choices(bench.channels_last, cfg.model.channels_last),
        ):
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
                peak = peak_tflops(machine["name"], precision) if device.type == "cuda" else None
                results = add_flop_figures(results, flops, peak)
                if profiler is not None:
                    results["profile"] = _profile_row(profiler, cfg, len(rows))
            add_row("model", settings, results)

    if "data" in bench.tasks:
        for workers, decode_on_device in itertools.product(_choices(bench.data_workers, cfg.data.num_workers),
                                                           decode_choices(cfg)):
            overrides = {"num_workers": workers}
            if decode_on_device is not None:
                overrides["decode_on_device"] = bool(decode_on_device)
            datamodule = hydra.utils.instantiate(cfg.data, **overrides)
            results = measure_data_pipeline(datamodule, device, bench.warmup, bench.data_batches)
            add_row("data", {"folder": _data_folder(cfg), "size": size, "window": cfg.data.window,
                             "batch_size": cfg.data.batch_size, "colourful_draws": cfg.data.colourful_draws,
                             "workers": workers,
                             "decode_on_device": overrides.get("decode_on_device", cfg.data.get("decode_on_device")),
                             "precision": precisions[0],
                             "warmup_batches": bench.warmup, "batches": bench.data_batches}, results)
        add_data_ratios(rows)

    if "end_to_end" in bench.tasks:
        results = measure_end_to_end(make_model, hydra.utils.instantiate(cfg.data), precisions[0], device,
                                     bench.warmup, bench.iterations, benchmark)
        add_row("end_to_end", {"folder": _data_folder(cfg), "size": size, "batch_size": cfg.data.batch_size,
                               "workers": cfg.data.num_workers, "precision": precisions[0],
                               "compile": bool(cfg.model.compile), "channels_last": bool(cfg.model.channels_last),
                               "warmup": bench.warmup, "iterations": bench.iterations, **networks}, results)

    if "colourise" in bench.tasks:
        options = bench.colourise
        page = sample_page(options.page_height, options.page_width, _source_page(cfg))
        for precision in precisions:
            colouriser = _colouriser(cfg, device, precision)
            results = measure_colourise(colouriser, page, options.pages_per_call, 1, options.calls)
            add_row("colourise", {"page_height": options.page_height, "page_width": options.page_width,
                                  "short_side": options.short_side, "tile": options.tile, "overlap": options.overlap,
                                  "batch_size": options.batch_size, "pages_per_call": options.pages_per_call,
                                  "precision": colouriser.precision,
                                  "generator": options.generator or networks["generator"]}, results)

    return report(complete=True)
