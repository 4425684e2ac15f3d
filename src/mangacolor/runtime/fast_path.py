"""Running a generator fast where it is used: threads, memory layout and compiling (precision is
`mangacolor.runtime.devices.resolve_precision`'s). mangacolor-colorize sets these where it builds
its colouriser; mangacolor-bench times each of them (docs/benchmarks.md, "CPU").
"""

from __future__ import annotations

import logging

import torch
from torch import nn

from mangacolor.runtime import devices

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
    """'auto' -> NHWC where it was measured to help: on a GPU (tensor cores), and for bf16 on a CPU
    with AMX (oneDNN's AMX convolutions work in NHWC). float32 on a CPU gained nothing measurable and
    bf16 through AVX512-BF16 lost a little (docs/benchmarks.md), so those stay NCHW. true / false as given."""
    name = str(setting).lower() if setting is not None else "auto"
    if name not in CHANNELS_LAST:
        raise ValueError(f"channels_last must be auto, true or false, got {setting!r}")
    if name != "auto":
        return name == "true"
    if device.type == "cuda":
        return True
    return (
        device.type == "cpu"
        and precision == "bf16-mixed"
        and bool(devices.cpu_capabilities().get("amx_bf16"))
    )


def fast_generator(
    generator: nn.Module,
    channels_last: bool = False,
    compile: bool = False,
    precision: str = "32-true",
) -> nn.Module:
    """`generator` in NHWC layout and/or compiled in place (`Module.compile`: its parameter names and
    attributes such as `multiple` stay the plain module's), and, in a mixed precision, guarded by
    `FloatFallback`. Its inputs may stay NCHW: a convolution with NHWC weights gives NHWC outputs,
    so the layout carries through the network."""
    if channels_last:
        generator = generator.to(memory_format=torch.channels_last)
    if compile:
        generator.compile()  # each new tile shape compiles again: worth it for many pages of one size
    if precision in ("bf16-mixed", "16-mixed"):
        generator = FloatFallback(generator)
    return generator


class FloatFallback(nn.Module):
    """Runs a network as it is called (under autocast, in its precision); an output holding a NaN or
    an infinity is computed again in float32, and counted.

    fp16 can overflow; and on this project's 2-core CI machine (a VM with AMX) oneDNN's AMX bf16
    convolutions with two threads returned NaN for a whole batch now and then (docs/benchmarks.md,
    "CPU"): those pages came out black. The check is one reduction over each output.
    Attributes the callers read (`multiple`, `training_size`, `predicts`...) are the network's.
    """

    def __init__(self, network: nn.Module):
        super().__init__()
        self.network = network
        self.recomputed = 0  # outputs computed again in float32

    def __getattr__(self, name: str):
        try:
            return super().__getattr__(name)
        except AttributeError:
            return getattr(self.network, name)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        outputs = self.network(inputs)
        if bool(torch.isfinite(outputs).all()):
            return outputs
        self.recomputed += 1
        log.warning(
            "a batch of %d came out with NaN or infinite values in mixed precision; computed again "
            "in float32 (%d so far)",
            inputs.shape[0],
            self.recomputed,
        )
        with torch.autocast(inputs.device.type, enabled=False):
            return self.network(inputs.float())
