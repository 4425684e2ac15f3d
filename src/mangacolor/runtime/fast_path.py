"""Running a generator fast where it is used: threads, memory layout and compiling (precision is
`mangacolor.runtime.devices.resolve_precision`'s). mangacolor-colorize sets these where it builds
its colouriser; mangacolor-bench times each of them (docs/benchmarks.md, "CPU").
"""

from __future__ import annotations

import logging

import torch
from torch import nn

log = logging.getLogger(__name__)

CHANNELS_LAST = ("auto", "true", "false")


def set_threads(threads: int | None) -> int:
    """Intra-op threads for this process: `threads`, or torch's default (one per core) when None.
    Returns the number in use."""
    if threads is not None:
        if int(threads) < 1:
            raise ValueError(f"threads must be a positive number or null, got {threads}")
        torch.set_num_threads(int(threads))
    return torch.get_num_threads()


def resolve_channels_last(setting: bool | str | None, device: torch.device, precision: str) -> bool:
    """'auto' -> NHWC where it was measured to help: bf16 on a CPU (oneDNN's bf16 convolutions work
    in NHWC, so NCHW activations are reordered at every layer) and any GPU precision (tensor cores).
    float32 on a CPU gained nothing measurable, so it stays NCHW. true / false as given."""
    name = str(setting).lower() if setting is not None else "auto"
    if name not in CHANNELS_LAST:
        raise ValueError(f"channels_last must be auto, true or false, got {setting!r}")
    if name != "auto":
        return name == "true"
    return device.type == "cuda" or precision == "bf16-mixed"


def fast_generator(generator: nn.Module, channels_last: bool = False, compile: bool = False) -> nn.Module:
    """`generator` in NHWC layout and/or compiled in place (`Module.compile`: its parameter names and
    attributes such as `multiple` stay the plain module's). Its inputs may stay NCHW: a convolution
    with NHWC weights gives NHWC outputs, so the layout carries through the network."""
    if channels_last:
        generator = generator.to(memory_format=torch.channels_last)
    if compile:
        generator.compile()  # each new tile shape compiles again: worth it for many pages of one size
    return generator
