"""Small collectives over DDP ranks that Lightning's tensor reductions do not cover."""

from __future__ import annotations

import torch
import torch.distributed as dist


def union_across_ranks(trainer, entries: dict[str, str]) -> dict[str, str]:
    """Every rank's `entries` (path -> reason) merged; this rank's own where not distributed.

    A collective: under DDP every rank must call it at the same point. Each rank reads its own
    shard of pages, so a page that cannot be read is known only to the rank that met it; a count
    summed over ranks would count twice a file that two ranks met in different passes.
    """
    if trainer.world_size == 1 or not (dist.is_available() and dist.is_initialized()):
        return dict(entries)
    gathered: list[dict[str, str] | None] = [None] * trainer.world_size
    dist.all_gather_object(gathered, dict(entries))
    merged: dict[str, str] = {}
    for part in gathered:
        for path, reason in (part or {}).items():
            merged.setdefault(path, reason)
    return merged


def max_across_ranks(trainer, value: int) -> int:
    """The largest of every rank's `value` (a small whole number); this rank's where not
    distributed.

    A collective with one host sync: under DDP every rank must call it at the same point, and it
    belongs where the ranks are in step anyway (between iterations, after a validation).
    """
    if trainer.world_size == 1 or not (dist.is_available() and dist.is_initialized()):
        return int(value)
    tensor = torch.tensor([int(value)], device=trainer.strategy.root_device, dtype=torch.int64)
    return int(trainer.strategy.reduce(tensor, reduce_op="max").item())
