"""The one way to save and load a generator: from `generator.pt` or a Lightning checkpoint.

`generator.pt` (format 3) holds the generator's constructor config, its weights, what it
predicts (`"predicts": "ab"` or `"lab"`) and whether it takes colour hints (`"hints": true`: its
input is the page's channel plus the hint colour and mask, `mangacolor.hints.raster.hint_input`).
Format 2 files have no hint record: no hints. Format 1 files, written before full-colour
generators, have neither record: they are ab generators without hints, as is any file without the
records. A Lightning checkpoint says the same through its hyper_parameters (`predicts`, absent =
ab; `hints`, absent = no hints). A loaded generator carries `generator.hints` (bool).

Which weights: a run that kept an average of its generator's weights (model.ema) is represented by
that average everywhere: its validation, its `generator.pt` (which records `"averaged": True`) and
`load_generator` on any of its `.ckpt` files. Other runs give their trained generator.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from mangacolor.hints.raster import hint_channels
from mangacolor.models.components import OUTPUT_CHANNELS, UNetGenerator
from mangacolor.runtime.atomic import atomic_write
from mangacolor.runtime.checkpoint_io import safe_torch_load
from mangacolor.runtime.disk_space import tensor_bytes

FORMAT = "mangacolor-generator-3"
FORMAT_2 = "mangacolor-generator-2"  # read, never written: no hint record (no hints)
OLDER_FORMATS = ("mangacolor-generator-1",)  # read, never written
FORMAT_PREFIX = "mangacolor-generator-"
PREDICTS = {
    channels: predicts for predicts, channels in OUTPUT_CHANNELS.items()
}  # output channels -> what they hold


def export_generator(
    generator: UNetGenerator, config: dict[str, Any], path: os.PathLike | str, **extra: Any
) -> Path:
    """Save a generator's state dict, constructor config and what it predicts, loadable with
    weights_only=True. The config's in_channels and out_channels and the records come from the
    network itself: it takes hints when its input has the page's channel plus hint channels."""
    predicts = predicted_channels(generator)
    in_channels = input_channels(generator)
    payload = {
        "format": FORMAT,
        "predicts": predicts,
        "hints": in_channels == 1 + hint_channels(predicts),
        "config": {**config, "in_channels": in_channels, "out_channels": generator.out_channels},
        "state_dict": {k: v.detach().cpu() for k, v in generator.state_dict().items()},
        **extra,
    }
    with atomic_write(path, size_hint=tensor_bytes(payload)) as handle:
        torch.save(payload, handle)
    return Path(path)


# What a file says about its generator: config, weights, training size, what it predicts and
# whether it takes hints (None when the file has no record: its config builds it as it was).
FileRecord = tuple[dict[str, Any], dict[str, Any], Any, Any, Any]


def load_generator(
    path: os.PathLike | str, map_location: Any = "cpu"
) -> tuple[UNetGenerator, dict[str, Any]]:
    """A generator in eval mode from `generator.pt` or a `.ckpt`, with its config.

    `generator.training_size` is the crop side it was trained at (None when unknown): colourising
    at that scale matches what the network saw. `generator.predicts` is "ab" or "lab";
    `generator.hints` says whether it takes colour hints (False for every file from before them).
    """
    payload = safe_torch_load(path, map_location)
    if not isinstance(payload, dict):
        raise ValueError(f"{path}: not a mangacolor checkpoint")
    config, state, training_size, predicts, hints = read_generator_record(path, payload)
    if predicts is not None:
        config = {**config, "out_channels": output_channels(path, predicts, config)}
    if hints:  # a generator without hints is built exactly as before the option (in_channels 1)
        config = {**config, "in_channels": hint_input_channels(path, hints, predicts, config)}
    try:
        generator = UNetGenerator(**config)
        generator.load_state_dict(state)
    except (TypeError, ValueError, RuntimeError) as error:
        raise ValueError(
            f"{path}: its generator config or weights do not fit together: {error}"
        ) from None
    generator.training_size = int(training_size) if training_size else None
    generator.predicts = predicted_channels(generator)
    generator.hints = bool(hints)
    return generator.eval(), dict(config)


def read_generator_record(path: os.PathLike | str, payload: dict[str, Any]) -> FileRecord:
    """What a loaded file says about its generator, by the file's kind: a `generator.pt` of a
    format this mangacolor reads, or a Lightning checkpoint of a Pix2Pix run."""
    file_format = payload.get("format")
    if file_format in OLDER_FORMATS or file_format in (FORMAT, FORMAT_2):
        return read_export_record(path, payload, file_format)
    if isinstance(file_format, str) and file_format.startswith(FORMAT_PREFIX):
        raise ValueError(
            f"{path}: a generator file of format {file_format!r}, which this mangacolor "
            f"({FORMAT}) cannot read; a newer mangacolor wrote it"
        )
    if "state_dict" in payload and "hyper_parameters" in payload:
        return read_checkpoint_record(path, payload)
    raise ValueError(f"{path}: neither a generator.pt export nor a mangacolor Lightning checkpoint")


def read_export_record(
    path: os.PathLike | str, payload: dict[str, Any], file_format: str
) -> FileRecord:
    """A `generator.pt` of format 1, 2 or 3."""
    hints = None  # no record: a generator from before hints, whose config builds it as it was
    config, state = dict(payload["config"]), payload["state_dict"]
    training_size = payload.get("training_size")
    if file_format in OLDER_FORMATS:
        predicts = None  # format 1 knew only its config: the generator it builds says
        return config, state, training_size, predicts, hints
    predicts = payload.get("predicts", "ab")
    if file_format == FORMAT:
        hints = payload.get("hints", False)
        if not isinstance(hints, bool):
            raise ValueError(
                f"{path}: records hints={hints!r}; a generator file says true or false"
            )
    return config, state, training_size, predicts, hints


def read_checkpoint_record(path: os.PathLike | str, payload: dict[str, Any]) -> FileRecord:
    """A Lightning checkpoint of a mangacolor Pix2Pix run."""
    hints = None  # no record: a generator from before hints, whose config builds it as it was
    config = payload["hyper_parameters"].get("generator")
    if not isinstance(config, dict):
        raise ValueError(f"{path}: a Lightning checkpoint, but not of a mangacolor Pix2Pix model")
    config = dict(config)
    predicts = payload["hyper_parameters"].get("predicts", "ab")  # a run from before the option: ab
    # A run from before hints has none: its config builds it as it was.
    if "hints" in payload["hyper_parameters"]:
        hints = bool(payload["hyper_parameters"]["hints"])
    # The one rule for a .ckpt: the average of G's weights when the run kept one (model.ema), as
    # its validation and its generator.pt used; else the trained G.
    prefix = (
        "generator_ema."
        if any(k.startswith("generator_ema.") for k in payload["state_dict"])
        else "generator."
    )
    state = {k[len(prefix) :]: v for k, v in payload["state_dict"].items() if k.startswith(prefix)}
    training_size = (payload.get("datamodule_hyper_parameters") or {}).get("size")
    return config, state, training_size, predicts, hints


def hint_input_channels(
    path: os.PathLike | str, hints: bool, predicts: str, config: dict[str, Any]
) -> int:
    """The input channels a file's `hints` record means (1, or 1 + the hint channels), checked
    against its config's."""
    channels = 1 + hint_channels(predicts) if hints else 1
    if config.get("in_channels", channels) != channels:
        takes = "takes hints" if hints else "takes no hints"
        raise ValueError(
            f"{path}: records that its generator {takes} ({channels} input channels), "
            f"but its config has in_channels={config['in_channels']}"
        )
    return channels


def input_channels(generator: torch.nn.Module) -> int:
    """The channels a generator's input has: 1 (the page) or 1 + hint channels."""
    channels = getattr(generator, "in_channels", None)
    if channels is None and isinstance(generator, UNetGenerator):
        channels = generator.down[0][0].in_channels
    return int(channels) if channels is not None else 1


def takes_hints(generator: torch.nn.Module) -> bool:
    """Whether a generator takes colour hints: as `load_generator` recorded it (`generator.hints`),
    else from its input channels (a network built in training); a stand-in with neither takes
    none."""
    hints = getattr(generator, "hints", None)
    if hints is not None:
        return bool(hints)
    if not hasattr(generator, "out_channels"):
        return False
    return input_channels(generator) == 1 + hint_channels(predicted_channels(generator))


def output_channels(path: os.PathLike | str, predicts: Any, config: dict[str, Any]) -> int:
    """The output channels a file's `predicts` record means, checked against its config's."""
    if predicts not in OUTPUT_CHANNELS:
        raise ValueError(
            f"{path}: records that its generator predicts {predicts!r}; "
            f"known are {', '.join(OUTPUT_CHANNELS)}"
        )
    channels = OUTPUT_CHANNELS[predicts]
    if config.get("out_channels", channels) != channels:
        raise ValueError(
            f"{path}: records that its generator predicts {predicts} ({channels} channels), "
            f"but its config has out_channels={config['out_channels']}"
        )
    return channels


def predicted_channels(generator: UNetGenerator) -> str:
    """What a generator's output holds: "ab" (2 channels, scaled a and b: the seed's kind) or "lab"
    (3 channels, scaled L, a and b: a full-colour generator, for inputs that are not the page's
    L)."""
    channels = generator.out_channels
    if channels not in PREDICTS:
        raise ValueError(
            f"a generator with {channels} output channels predicts neither ab (2) nor Lab (3)"
        )
    return PREDICTS[channels]
