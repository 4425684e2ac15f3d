"""The one way to save and load a generator: from `generator.pt` or a Lightning checkpoint."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from mangacolor.models.components import UNetGenerator
from mangacolor.runtime.atomic import atomic_write
from mangacolor.runtime.checkpoint_io import safe_torch_load
from mangacolor.runtime.disk_space import tensor_bytes

FORMAT = "mangacolor-generator-1"
PREDICTS = {2: "ab", 3: "lab"}  # output channels -> what they hold


def export_generator(generator: UNetGenerator, config: dict[str, Any], path: os.PathLike | str, **extra: Any) -> Path:
    """Save a generator's state dict and constructor config, loadable with weights_only=True."""
    payload = {
        "format": FORMAT,
        "config": dict(config),
        "state_dict": {k: v.detach().cpu() for k, v in generator.state_dict().items()},
        **extra,
    }
    with atomic_write(path, size_hint=tensor_bytes(payload)) as handle:
        torch.save(payload, handle)
    return Path(path)


def load_generator(path: os.PathLike | str, map_location: Any = "cpu") -> tuple[UNetGenerator, dict[str, Any]]:
    """A generator in eval mode from `generator.pt` or a `.ckpt`, with its config.

    `generator.training_size` is the crop side it was trained at (None when unknown): colourising
    at that scale matches what the network saw.
    """
    payload = safe_torch_load(path, map_location)
    if not isinstance(payload, dict):
        raise ValueError(f"{path}: not a mangacolor checkpoint")
    if payload.get("format") == FORMAT:
        config, state = payload["config"], payload["state_dict"]
        training_size = payload.get("training_size")
    elif "state_dict" in payload and "hyper_parameters" in payload:
        config = payload["hyper_parameters"].get("generator")
        if not isinstance(config, dict):
            raise ValueError(f"{path}: a Lightning checkpoint, but not of a mangacolor Pix2Pix model")
        prefix = "generator."
        state = {k[len(prefix):]: v for k, v in payload["state_dict"].items() if k.startswith(prefix)}
        training_size = (payload.get("datamodule_hyper_parameters") or {}).get("size")
    else:
        raise ValueError(f"{path}: neither a generator.pt export nor a mangacolor Lightning checkpoint")
    try:
        generator = UNetGenerator(**config)
        generator.load_state_dict(state)
    except (TypeError, ValueError, RuntimeError) as error:
        raise ValueError(f"{path}: its generator config or weights do not fit together: {error}") from None
    generator.training_size = int(training_size) if training_size else None
    generator.predicts = predicted_channels(generator)
    return generator.eval(), dict(config)


def predicted_channels(generator: UNetGenerator) -> str:
    """What a generator's output holds: "ab" (2 channels, scaled a and b: the seed's kind) or "lab"
    (3 channels, scaled L, a and b: a full-colour generator, for inputs that are not the page's L)."""
    channels = generator.out_channels
    if channels not in PREDICTS:
        raise ValueError(f"a generator with {channels} output channels predicts neither ab (2) nor Lab (3)")
    return PREDICTS[channels]
