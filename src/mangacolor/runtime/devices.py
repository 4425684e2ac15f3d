"""Which device and precision a command runs on: one resolver for training, eval, colourise, bench.

Accepts Lightning's accelerator names (`auto`, `cpu`, `gpu`, `cuda`) and torch's `cuda:N`, so a
config's `trainer.accelerator` and a command's `device` mean the same thing everywhere.
"""

from __future__ import annotations

import contextlib

import torch

PRECISIONS = ("auto", "32-true", "32", "bf16-mixed", "16-mixed")  # Lightning's names


def resolve_device(device: str) -> torch.device:
    """'auto' -> the current CUDA GPU when there is one, else the CPU; 'cpu', 'gpu', 'cuda', 'cuda:N'."""
    name = str(device)
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cpu":
        return torch.device("cpu")
    if name in ("gpu", "cuda") or name.startswith("cuda:"):
        if not torch.cuda.is_available():
            raise ValueError(f"device {device!r} asked for, but this machine has no CUDA GPU (use auto or cpu)")
        return torch.device(name) if name.startswith("cuda:") else torch.device("cuda", torch.cuda.current_device())
    raise ValueError(f"device must be auto, cpu, gpu, cuda or cuda:N, got {device!r}")


def resolve_precision(precision: str | int, device: torch.device, bf16_cpu: bool = False) -> str:
    """'auto' -> bf16-mixed on a GPU that supports it, else 32-true (as training and eval decide).

    bf16_cpu (colourising): 'auto' is bf16-mixed on a CPU with native bf16 as well
    (`native_bf16_cpu`), where it stays within a stated dE00 of float32 (docs/benchmarks.md).
    Training and eval leave it off, so their numbers do not depend on which CPU ran them.
    """
    precision = str(precision)
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    if precision != "auto":
        return precision
    if device.type == "cuda":
        return "bf16-mixed" if torch.cuda.is_bf16_supported() else "32-true"
    return "bf16-mixed" if bf16_cpu and device.type == "cpu" and native_bf16_cpu() else "32-true"


# Instructions that multiply bf16 in hardware. Without them oneDNN emulates bf16 and autocast runs
# slower than float32 (pytorch/pytorch#86270, #118499), so they are looked for, never assumed.
# Arm's BF16 is left out: not measured here, and reported to gain little in PyTorch (#90828).
NATIVE_BF16_FLAGS = ("amx_bf16", "avx512_bf16")


def cpu_capabilities() -> dict[str, object]:
    """The CPU's features as torch's cpuinfo reports them (`torch.cpu.get_capabilities`, in recent torch),
    else the flags of /proc/cpuinfo (Linux), else nothing."""
    get = getattr(torch.cpu, "get_capabilities", None)
    if get is not None:
        try:
            return dict(get())
        except RuntimeError:
            pass
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("flags"):
                    return {flag: True for flag in line.split(":", 1)[1].split()}
    except OSError:
        pass
    return {}


def native_bf16_cpu(capabilities: dict[str, object] | None = None) -> bool:
    """Whether this CPU computes bf16 in hardware: AMX-BF16 or AVX512-BF16."""
    capabilities = cpu_capabilities() if capabilities is None else capabilities
    return any(capabilities.get(flag) for flag in NATIVE_BF16_FLAGS)


def autocast(precision: str, device: torch.device) -> contextlib.AbstractContextManager:
    """The autocast context for a resolved precision ('32-true' runs in float32 with no autocast)."""
    dtypes = {"bf16-mixed": torch.bfloat16, "16-mixed": torch.float16}
    if precision not in dtypes:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtypes[precision])
