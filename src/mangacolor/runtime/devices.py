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


def resolve_precision(precision: str | int, device: torch.device) -> str:
    """'auto' -> bf16-mixed on a GPU that supports it, else 32-true (as training decides)."""
    precision = str(precision)
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    if precision != "auto":
        return precision
    bf16_ok = device.type == "cuda" and torch.cuda.is_bf16_supported()
    return "bf16-mixed" if bf16_ok else "32-true"


def autocast(precision: str, device: torch.device) -> contextlib.AbstractContextManager:
    """The autocast context for a resolved precision ('32-true' runs in float32 with no autocast)."""
    dtypes = {"bf16-mixed": torch.bfloat16, "16-mixed": torch.float16}
    if precision not in dtypes:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtypes[precision])
