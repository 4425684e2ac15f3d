"""The one way to save and load a generator: from `generator.pt` or a Lightning checkpoint.

`generator.pt` (format 2) holds the generator's constructor config, its weights and what it
predicts (`"predicts": "ab"` or `"lab"`). Format 1 files, written before full-colour generators,
have no such record: they are ab generators, as is any file without it. A Lightning checkpoint
says the same through its hyper_parameters (`predicts`, absent = ab).

Which weights: a run that kept an average of its generator's weights (model.ema) is represented by
that average everywhere: its validation, its `generator.pt` (which records `"averaged": True`) and
`load_generator` on any of its `.ckpt` files. Other runs give their trained generator.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from mangacolor.models.components import OUTPUT_CHANNELS, UNetGenerator
from mangacolor.runtime.atomic import atomic_write
from mangacolor.runtime.checkpoint_io import safe_torch_load
from mangacolor.runtime.disk_space import tensor_bytes

FORMAT = "mangacolor-generator-2"
OLDER_FORMATS = ("mangacolor-generator-1",)  # read, never written
FORMAT_PREFIX = "mangacolor-generator-"
PREDICTS = {channels: predicts for predicts, channels in OUTPUT_CHANNELS.items()}  # output channels -> what they hold


def export_generator(generator: UNetGenerator, config: dict[str, Any], path: os.PathLike | str, **extra: Any) -> Path:
    """Save a generator's state dict, constructor config and what it predicts, loadable with
    weights_only=True. The config's out_channels and the record come from the network itself."""
    payload = {
        "format": FORMAT,
        "predicts": predicted_channels(generator),
        "config": {**config, "out_channels": generator.out_channels},
        "state_dict": {k: v.detach().cpu() for k, v in generator.state_dict().items()},
        **extra,
    }
    with atomic_write(path, size_hint=tensor_bytes(payload)) as handle:
        torch.save(payload, handle)
    return Path(path)


def load_generator(path: os.PathLike | str, map_location: Any = "cpu") -> tuple[UNetGenerator, dict[str, Any]]:
    """A generator in eval mode from `generator.pt` or a `.ckpt`, with its config.

    `generator.training_size` is the crop side it was trained at (None when unknown): colourising
    at that scale matches what the network saw. `generator.predicts` is "ab" or "lab".
    """
    payload = safe_torch_load(path, map_location)
    if not isinstance(payload, dict):
        raise ValueError(f"{path}: not a mangacolor checkpoint")
    file_format = payload.get("format")
    if file_format in OLDER_FORMATS:
        config, state = dict(payload["config"]), payload["state_dict"]
        training_size = payload.get("training_size")
        predicts = None  # format 1 knew only its config: the generator it builds says
    elif file_format == FORMAT:
        config, state = dict(payload["config"]), payload["state_dict"]
        training_size = payload.get("training_size")
        predicts = payload.get("predicts", "ab")
    elif isinstance(file_format, str) and file_format.startswith(FORMAT_PREFIX):
        raise ValueError(f"{path}: a generator file of format {file_format!r}, which this mangacolor "
                         f"({FORMAT}) cannot read; a newer mangacolor wrote it")
    elif "state_dict" in payload and "hyper_parameters" in payload:
        config = payload["hyper_parameters"].get("generator")
        if not isinstance(config, dict):
            raise ValueError(f"{path}: a Lightning checkpoint, but not of a mangacolor Pix2Pix model")
        config = dict(config)
        predicts = payload["hyper_parameters"].get("predicts", "ab")  # a run from before the option: ab
        # The one rule for a .ckpt: the average of G's weights when the run kept one (model.ema), as
        # its validation and its generator.pt used; else the trained G.
        prefix = "generator_ema." if any(k.startswith("generator_ema.") for k in payload["state_dict"]) else "generator."
        state = {k[len(prefix):]: v for k, v in payload["state_dict"].items() if k.startswith(prefix)}
        training_size = (payload.get("datamodule_hyper_parameters") or {}).get("size")
    else:
        raise ValueError(f"{path}: neither a generator.pt export nor a mangacolor Lightning checkpoint")
    if predicts is not None:
        config = {**config, "out_channels": output_channels(path, predicts, config)}
    try:
        generator = UNetGenerator(**config)
        generator.load_state_dict(state)
    except (TypeError, ValueError, RuntimeError) as error:
        raise ValueError(f"{path}: its generator config or weights do not fit together: {error}") from None
    generator.training_size = int(training_size) if training_size else None
    generator.predicts = predicted_channels(generator)
    return generator.eval(), dict(config)


def output_channels(path: os.PathLike | str, predicts: Any, config: dict[str, Any]) -> int:
    """The output channels a file's `predicts` record means, checked against its config's."""
    if predicts not in OUTPUT_CHANNELS:
        raise ValueError(f"{path}: records that its generator predicts {predicts!r}; "
                         f"known are {', '.join(OUTPUT_CHANNELS)}")
    channels = OUTPUT_CHANNELS[predicts]
    if config.get("out_channels", channels) != channels:
        raise ValueError(f"{path}: records that its generator predicts {predicts} ({channels} channels), "
                         f"but its config has out_channels={config['out_channels']}")
    return channels


def predicted_channels(generator: UNetGenerator) -> str:
    """What a generator's output holds: "ab" (2 channels, scaled a and b: the seed's kind) or "lab"
    (3 channels, scaled L, a and b: a full-colour generator, for inputs that are not the page's L)."""
    channels = generator.out_channels
    if channels not in PREDICTS:
        raise ValueError(f"a generator with {channels} output channels predicts neither ab (2) nor Lab (3)")
    return PREDICTS[channels]
