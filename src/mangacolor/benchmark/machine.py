"""Facts about the machine a benchmark ran on: CPU, cores, load, GPU, torch, commit, and the card's peak."""

from __future__ import annotations

import os
import platform
import re
import subprocess
from pathlib import Path
from typing import Any

import lightning as L
import torch

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


# Dense peak FLOPs per cycle per core on a CPU, by the instructions that would do the work; the
# first the CPU has wins. AMX's tile unit does 1024 bf16 FLOP a cycle (Intel, 4th Gen Xeon on).
# The AVX-512 figures assume two 512-bit FMA units (Intel server cores: 16 float32 lanes x 2 FLOP
# x 2 units, twice that for VDPBF16PS's bf16 pairs); an AMD Zen 4 core runs 512-bit FMAs as two
# halves, half these. bf16 without AMX-BF16 or AVX512-BF16 is emulated: no bf16 peak is claimed.
CPU_FLOPS_PER_CYCLE: dict[str, tuple[tuple[str, int], ...]] = {
    "bf16": (("amx_bf16", 1024), ("avx512_bf16", 128)),
    "float32": (("avx512_f", 64), ("avx2", 32)),
}


def cpu_clock_ghz() -> tuple[float | None, str]:
    """The cores' clock and where it came from: the highest the kernel's cpufreq allows, else
    /proc/cpuinfo's "cpu MHz" (a VM reports its nominal clock there)."""
    try:
        khz = int(Path("/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq").read_text())
        return khz / 1e6, "cpufreq cpuinfo_max_freq"
    except (OSError, ValueError):
        pass
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("cpu MHz"):
                return float(line.split(":", 1)[1]) / 1000, "cpu MHz in /proc/cpuinfo"
    except (OSError, ValueError):
        pass
    return None, "clock unknown"


def cpu_peak_tflops(
    precision: str, capabilities: dict[str, object], cores: int, clock: tuple[float | None, str]
) -> tuple[float | None, str]:
    """(peak TFLOP/s of `cores` cores for this precision, how it was worked out), or (None, why not)."""
    ghz, clock_source = clock
    kind = "bf16" if precision in ("bf16-mixed", "bf16-true") else "float32"
    for flag, rate in CPU_FLOPS_PER_CYCLE[kind]:
        if capabilities.get(flag) and ghz is not None:
            return (
                cores * ghz * rate / 1000,
                f"{cores} cores x {ghz:.2f} GHz ({clock_source}) x {rate} {kind} FLOP/cycle ({flag})",
            )
    return None, f"no {kind} peak known for this CPU"


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
    return (
        len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    )


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
        # oneDNN's instruction limit (e.g. AVX512_CORE_BF16: no AMX), where one was set.
        "onednn_max_cpu_isa": os.environ.get("ONEDNN_MAX_CPU_ISA"),
    }
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        info.update(
            gpu=props.name,
            gpu_memory_gib=round(props.total_memory / GIB, 1),
            gpu_count=torch.cuda.device_count(),
            cudnn=torch.backends.cudnn.version(),
        )
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
            return subprocess.run(
                ["git", "-C", str(folder), *args],
                capture_output=True,
                text=True,
                timeout=20,
                check=True,
            ).stdout.strip()

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
