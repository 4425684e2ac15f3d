"""Where a model row's time goes: a `torch.profiler` look at a few training steps.

mangacolor-bench (`bench.profile=true`) profiles `bench.profile_iterations` further iterations of
each `model` row after its timed window has closed, so profiling never perturbs the timing. The
profile answers "why is this row short of its target?" in two figures:

- **busy fraction**: on a GPU, the time the device spends in kernels and copies (the union of
  their intervals, so overlapping streams count once) over the wall time of the profiled steps.
  Near 1: the step is bound by the device's work, and the shares below say which. Low: the
  device waits for the host (Python, Lightning, kernel launches, host syncs), and compiling or
  CUDA graphs would help more than faster kernels. On a CPU: the time inside operators (self
  time on the profiling thread) over wall time; the rest is Python and framework overhead.
- **shares** of that busy time by category: "optimizer" for all work inside `Optimizer.step`
  (on a GPU: kernels whose launching operator was, where the profiler links them), the rest from
  kernel names on a GPU and operator names on a CPU, by the first matching rule of
  `CATEGORY_RULES` (lower-cased names; "other" catches the rest, so the shares sum to 1).
  Deliberately coarse: enough to tell convolutions from the memory-bound rest, not a
  kernel-by-kernel account (that is in the table beside the JSON).

Profiled steps run somewhat slower than timed ones (the profiler's own host work); compare their
`wall_ms_per_iteration` with the row's `step_ms`. On a CPU, code that torch.compile generated runs
outside any operator, so compiled CPU rows under-count their busy time; on a GPU its Triton
kernels are device work like any other.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import torch
from lightning.pytorch.callbacks import Callback
from torch.autograd import DeviceType
from torch.profiler import ProfilerActivity, profile

# (category, pattern), first match wins. The order matters: cuDNN's layout transposes
# ("nchwToNhwc") and batch-norm kernels ("cudnn::bn_fw...") carry "cudnn" in their names too, and
# Inductor names its fused Triton kernels after the ops they fuse ("triton_poi_fused_convolution_
# leaky_relu" is an elementwise epilogue: convolutions themselves stay cuDNN kernels).
CATEGORY_RULES: tuple[tuple[str, str], ...] = (
    (
        "optimizer",
        r"adam|multi_tensor_apply|_foreach_|optimizer",
    ),  # Adam (fused, foreach) and grad clipping
    ("normalisation", r"batch_?norm|instance_?norm|layer_?norm|group_?norm|welford|bn_fw|bn_bw"),
    # Copies incl. dtype casts and cuDNN's layout conversions (not "transpose": conv_transpose2d)
    ("copies", r"memcpy|memset|copy|nchwtonhwc|nhwctonchw|contiguous|clone"),
    ("elementwise", r"^triton_(poi|per|red)_"),
    ("convolution", r"conv|cudnn|implicit_gemm|xmma|cutlass|gemm|wgrad|dgrad|fprop|mkldnn|onednn"),
    (
        "elementwise",
        r"elementwise|vectorized|unrolled|relu|tanh|sigmoid|dropout|bernoulli|fill|zero|"
        r"reduce|add|mul|sub|div|where|abs|pow|sqrt|exp|log|mean|sum|loss|clamp",
    ),
)
OPTIMIZER_STEP = (
    "Optimizer.step"  # torch.optim wraps every step in record_function("Optimizer.step#Adam.step")
)
CATEGORIES = ("convolution", "normalisation", "elementwise", "optimizer", "copies", "other")
TOP_OPS = 5  # names kept in the JSON; the full table is in profile_<row>.txt


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def categorise(name: str) -> str:
    lowered = name.lower()
    for category, pattern in CATEGORY_RULES:
        if re.search(pattern, lowered):
            return category
    return "other"


class StepProfiler(Callback):
    """Profiles iterations start+1 .. start+iterations of a fit, syncing the device at both edges.

    Start it at the iteration where the timed window closes (`IterationWindowTimer`'s end): that
    callback has synchronised the device just before, so nothing of the window leaks in.
    """

    def __init__(self, start: int, iterations: int, device: torch.device):
        if iterations < 1:
            raise ValueError(f"bench.profile_iterations must be at least 1, got {iterations}")
        self.start, self.iterations, self.device = start, iterations, device
        self.profiler: profile | None = None
        self.wall_seconds: float | None = None
        self._started = 0.0

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        iteration = pl_module.iteration
        if iteration == self.start:
            synchronize(self.device)
            self.profiler = profile(activities=activities(self.device))
            self.profiler.start()
            self._started = (
                time.perf_counter()
            )  # after start(): CUPTI's set-up is not a step's time
        elif iteration == self.start + self.iterations and self.profiler is not None:
            synchronize(self.device)
            self.wall_seconds = time.perf_counter() - self._started
            self.profiler.stop()

    def on_fit_end(self, trainer, pl_module) -> None:
        # A fit that stopped early must not leave the profiler recording the next rows; without
        # wall_seconds, write_outputs then reports the profile as missing.
        self._stop_unfinished()

    def on_exception(self, trainer, pl_module, exception) -> None:
        self._stop_unfinished()  # Lightning skips on_fit_end when the fit raises (out of memory, say)

    def _stop_unfinished(self) -> None:
        if self.profiler is not None and self.wall_seconds is None:
            self.profiler.stop()
            self.profiler = None


def activities(device: torch.device) -> list[ProfilerActivity]:
    return (
        [ProfilerActivity.CPU, ProfilerActivity.CUDA]
        if device.type == "cuda"
        else [ProfilerActivity.CPU]
    )


# ---- from events to figures -------------------------------------------------------------------------
def in_optimizer_step(event) -> bool:
    """Whether a host event ran inside `Optimizer.step` (torch's record_function around every step)."""
    while event is not None:
        if event.name.startswith(OPTIMIZER_STEP):
            return True
        event = event.cpu_parent
    return False


def event_category(name: str, launched_by=None) -> str:
    return (
        "optimizer"
        if launched_by is not None and in_optimizer_step(launched_by)
        else categorise(name)
    )


def device_events(events) -> list:
    """Every kernel, memcpy and memset the device ran."""
    return [e for e in events if e.device_type == DeviceType.CUDA]


def device_intervals(events) -> list[tuple[float, float, str]]:
    """(start µs, end µs, name) of every kernel, memcpy and memset the device ran."""
    return [(e.time_range.start, e.time_range.end, e.name) for e in device_events(events)]


def union_length(intervals: list[tuple[float, float, str]]) -> float:
    """Length of the union of the intervals: time when at least one of them was running."""
    total, reach = 0.0, float("-inf")
    for start, end, _ in sorted(intervals):
        if end > reach:
            total += end - max(start, reach)
            reach = end
    return total


def is_cpu_operator(event) -> bool:
    """An operator's own work on the host: `aten::conv2d`, not a wrapper whose self time is Python
    (`Optimizer.step#Adam.step`, `ProfilerStep#3`) or the autograd engine's bookkeeping."""
    return (
        event.device_type == DeviceType.CPU
        and "::" in event.name
        and not event.name.startswith("autograd::")
        and not getattr(event, "is_user_annotation", False)
    )


def linked_id(event) -> int:
    """The id of the host operator that launched a device event (0: none, or a torch too old to say)."""
    return getattr(event, "linked_correlation_id", 0) or 0


def launching_operator(event, operators: dict[int, Any]):
    return operators.get(linked_id(event)) if linked_id(event) else None


def timed_events(events, device: torch.device) -> list[tuple[str, float, str]]:
    """(name, µs, category) of what the busy fraction counts: device activity on a GPU, operators'
    self time on a CPU."""
    if device.type == "cuda":
        # Host operators by their own id, which their device work links back to
        operators = {
            e.id: e for e in events if e.device_type == DeviceType.CPU and not linked_id(e)
        }
        return [
            (
                e.name,
                e.time_range.end - e.time_range.start,
                event_category(e.name, launching_operator(e, operators)),
            )
            for e in device_events(events)
        ]
    return [
        (e.name, e.self_cpu_time_total, event_category(e.name, e))
        for e in events
        if is_cpu_operator(e)
    ]


def category_shares(timed: list[tuple[str, float, str]]) -> dict[str, float]:
    totals = dict.fromkeys(CATEGORIES, 0.0)
    for _, microseconds, category in timed:
        totals[category] += microseconds
    whole = sum(totals.values())
    return {category: (value / whole if whole else 0.0) for category, value in totals.items()}


def top_names(timed: list[tuple[str, float, str]], count: int = TOP_OPS) -> list[list]:
    """The `count` names with the most time, as [name (at most 100 characters), share]."""
    totals: dict[str, float] = {}
    for name, microseconds, _ in timed:
        totals[name] = totals.get(name, 0.0) + microseconds
    whole = sum(totals.values()) or 1.0
    ranked = sorted(totals.items(), key=lambda item: item[1], reverse=True)[:count]
    return [[name[:100], round(value / whole, 4)] for name, value in ranked]


def summarise(events, wall_seconds: float, iterations: int, device: torch.device) -> dict[str, Any]:
    """The compact breakdown a row's results carry (see the module's docstring)."""
    timed = timed_events(events, device)
    if device.type == "cuda":
        busy_us = union_length(device_intervals(events))
        measure = "device kernels and copies (union of their intervals) over wall time"
    else:
        busy_us = sum(microseconds for _, microseconds, _ in timed)
        measure = "CPU time inside operators (self time, profiling thread) over wall time"
    wall_us = wall_seconds * 1e6
    return {
        "iterations": iterations,
        "wall_ms_per_iteration": wall_us / 1000 / iterations,
        "busy_ms_per_iteration": busy_us / 1000 / iterations,
        "busy_fraction": busy_us / wall_us if wall_us else None,
        "busy_measure": measure,
        "shares": category_shares(timed),
        "top": top_names(timed),
    }


def sort_key(device: torch.device) -> str:
    return "self_device_time_total" if device.type == "cuda" else "self_cpu_time_total"


def write_outputs(
    step_profiler: StepProfiler, folder: Path, row_index: int, trace: bool
) -> dict[str, Any]:
    """Summarise a finished StepProfiler and write `profile_<row>.txt` (and `.json`, a Chrome trace)."""
    prof = step_profiler.profiler
    if prof is None or step_profiler.wall_seconds is None:
        raise RuntimeError("the profiled iterations never ran: training stopped before them")
    device = step_profiler.device
    summary = summarise(prof.events(), step_profiler.wall_seconds, step_profiler.iterations, device)
    folder.mkdir(parents=True, exist_ok=True)
    table_path = folder / f"profile_{row_index}.txt"
    table_path.write_text(profile_text(summary, prof, device))
    summary["table"] = table_path.name
    summary["trace"] = None
    if trace:
        trace_path = folder / f"profile_{row_index}.json"
        prof.export_chrome_trace(str(trace_path))
        summary["trace"] = trace_path.name
    return summary


def profile_text(summary: dict[str, Any], prof: profile, device: torch.device) -> str:
    header = [
        f"{summary['iterations']} profiled iterations: {summary['wall_ms_per_iteration']:.2f} ms wall, "
        f"{summary['busy_ms_per_iteration']:.2f} ms busy per iteration "
        f"(busy fraction {summary['busy_fraction']:.3f}: {summary['busy_measure']})",
        "shares of busy time: " + shares_text(summary["shares"]),
        f"categories from names by mangacolor.benchmark.profiling.CATEGORY_RULES; ops sorted by {sort_key(device)}",
        "",
    ]
    table = prof.key_averages().table(
        sort_by=sort_key(device), row_limit=40, max_name_column_width=90
    )
    return "\n".join(header) + table + "\n"


def shares_text(shares: dict[str, float]) -> str:
    return ", ".join(f"{category} {100 * share:.0f}%" for category, share in shares.items())


def profile_line(profile_summary: dict[str, Any]) -> str:
    """One line for the printed table and the markdown: busy fraction and shares."""
    busy = profile_summary.get("busy_fraction")
    busy_text = f"{100 * busy:.0f}%" if busy is not None else "-"
    return (
        f"profile: busy {busy_text} of {profile_summary['wall_ms_per_iteration']:.3g} ms/it; "
        f"{shares_text(profile_summary['shares'])} ({profile_summary['table']})"
    )
