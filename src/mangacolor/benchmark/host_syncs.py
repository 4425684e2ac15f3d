"""Counting the times the host waits for the GPU, with CUDA's sync debug mode.

Each such wait stops the host from queueing work ahead of the GPU: a training step that waits
once per iteration can leave the GPU idle while the next step is being launched. CUDA's sync
debug mode warns at every synchronising call (`.item()`, a blocking copy, `torch.tensor(...,
device="cuda")`, a linear solve that checks its result, ...); counting its warnings over one
iteration tells how many there are, and the warnings' text says where.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import torch

SYNC_WARNING = "synchronizing CUDA operation"  # in the text of the warnings that mode gives


@dataclass
class SyncCount:
    """Filled in when the `count_host_syncs` block ends; None on a device without the mode."""

    count: int | None = None
    where: list[str] = field(default_factory=list)  # file:line of the first few, for a report


@contextmanager
def count_host_syncs(device: torch.device, keep: int = 3) -> Iterator[SyncCount]:
    """Count the host-device synchronisations of the code inside, on a CUDA device."""
    result = SyncCount()
    if device.type != "cuda":
        yield result
        return
    torch.cuda.synchronize(device)  # what was queued before must not count
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        torch.cuda.set_sync_debug_mode("warn")
        try:
            yield result
        finally:
            torch.cuda.set_sync_debug_mode(0)
    # A warning raised from C++ carries the Python line that made the call.
    syncs = [f"{w.filename}:{w.lineno}" for w in caught if SYNC_WARNING in str(w.message)]
    result.count, result.where = len(syncs), syncs[:keep]
