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
            raise ValueError(
                f"device {device!r} asked for, but this machine has no CUDA GPU (use auto or cpu)"
            )
        return (
            torch.device(name)
            if name.startswith("cuda:")
            else torch.device("cuda", torch.cuda.current_device())
        )
    raise ValueError(f"device must be auto, cpu, gpu, cuda or cuda:N, got {device!r}")


def resolve_precision(precision: str | int, device: torch.device, bf16_cpu: bool = False) -> str:
    """'auto' -> bf16-mixed on a GPU that supports it, else 32-true (as training and eval decide).

    bf16_cpu (colourising): 'auto' is bf16-mixed on a CPU where bf16 was measured to colour faster
    than float32 and within the stated dE00 of it (`bf16_pays_on_cpu`). Training and eval leave it
    off, so their numbers do not depend on which CPU ran them.
    """
    precision = str(precision)
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    if precision != "auto":
        return precision
    if device.type == "cuda":
        return "bf16-mixed" if torch.cuda.is_bf16_supported() else "32-true"
    return "bf16-mixed" if bf16_cpu and device.type == "cpu" and bf16_pays_on_cpu() else "32-true"


def bf16_pays_on_cpu(capabilities: dict[str, object] | None = None) -> bool:
    """Whether bf16 autocast colours pages faster than float32 on this CPU, and correctly: a CPU that
    multiplies bf16 with AVX512-BF16 and has no AMX.

    Looked for, never assumed (docs/benchmarks.md, "CPU"): without AVX512-BF16 or AMX-BF16 oneDNN
    emulates bf16, slower than float32 (pytorch/pytorch#86270, #118499). With AVX512-BF16 alone (the
    2-core AMD EPYC of issue 14) bf16 coloured 1.86 times as fast. With AMX (a 2-core Xeon, family
    6 model 207) oneDNN's AMX kernels were 1.8 times as fast but now and then returned a batch of
    NaN (black pages) or of wrong colours, and with AMX turned off its AVX512-BF16 path was slower
    than float32: float32 there. Arm's BF16 is not measured here and stays float32.
    """
    capabilities = cpu_capabilities() if capabilities is None else capabilities
    return bool(capabilities.get("avx512_bf16")) and not capabilities.get("amx_bf16")


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


def autocast(precision: str, device: torch.device) -> contextlib.AbstractContextManager:
    """The autocast context for a resolved precision ('32-true' runs in float32 with no autocast)."""
    dtypes = {"bf16-mixed": torch.bfloat16, "16-mixed": torch.float16}
    if precision not in dtypes:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtypes[precision])
