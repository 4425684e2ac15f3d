"""The JSON written beside an exported generator: everything a program outside this package needs to
colour a page with it. Versioned by `FORMAT`; a reader should refuse a format it does not know.

The same description (less the check, which comes after) is embedded in an ONNX file's metadata
under the key `METADATA_KEY`, so the file alone is enough for `mangacolor-colorize`.

A generator with hint inputs keeps them (format `HINTS_FORMAT`, so a reader of the first format
refuses it rather than feed it L alone): `"hints": true`, one input named `HINT_INPUT_NAME` with
L then the hint colour and mask as channels, and an `input.hints` block saying how to make them.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

import mangacolor
from mangacolor.color import AB_SCALE, L_SCALE
from mangacolor.inference.compose import LIGHTNESS
from mangacolor.inference.generator_file import takes_hints
from mangacolor.inference.onnx_generator import (
    FORMAT,
    HINT_INPUT_NAME,
    HINTS_FORMAT,
    INPUT_NAME,
    METADATA_KEY,
    OUTPUT_NAME,
)

__all__ = [
    "FORMAT",
    "HINT_INPUT_NAME",
    "INPUT_NAME",
    "METADATA_KEY",
    "OUTPUT_NAME",
    "describe",
    "input_name",
    "json_path",
]

CHANNELS = {"ab": ["a", "b"], "lab": ["L", "a", "b"]}

# What each of colourise's compose modes does with the output (docs/bw-manga.md,
# inference/compose.py).
COMPOSE = {
    "lightness": (
        "the page's own L at full resolution with the predicted a and b, enlarged (bilinear) to "
        "the page; the only mode for an ab generator, and right for grey-tone scans"
    ),
    "ink": (
        "the predicted colour, divided by the page's grey at the working size, enlarged, then "
        "multiplied by the page's grey at full resolution in sRGB (the colour under the page's "
        "ink); full-colour only"
    ),
    "predicted": "the predicted L, a and b alone, enlarged to the page; full-colour only",
    "auto": (
        "mangacolor-colorize's choice per page: lightness for an ab generator; for a full-colour "
        "one, ink on black-and-white ink pages and lightness on continuous grey pages"
    ),
}


def json_path(model_path: os.PathLike | str) -> Path:
    """The JSON beside an exported file: `generator.onnx` -> `generator.onnx.json`."""
    model_path = Path(model_path)
    return model_path.with_name(model_path.name + ".json")


def input_name(generator: torch.nn.Module) -> str:
    """The exported model's input name: L alone, or L with the hint maps."""
    return HINT_INPUT_NAME if takes_hints(generator) else INPUT_NAME


def describe_hints(predicts: str) -> dict[str, Any]:
    """How a program outside this package makes a hint generator's extra input channels."""
    return {
        "channels": [f"hint_{channel}" for channel in CHANNELS[predicts]] + ["hint_mask"],
        "color": "each hint's colour (sRGB '#rrggbb' to CIE Lab, D65) in the output's scaling "
        "(output.scaling), times the mask: 0 wherever there is no hint",
        "mask": "exactly 1 on every working pixel whose footprint in the page touches a hint "
        "(working pixel j of an axis of h pixels over a page axis of H covers page pixels "
        "floor(j H / h) .. ceil((j + 1) H / h) - 1), else 0; every hint covers at least "
        "one working pixel; where hints overlap the later wins; a painted layer's pixel "
        "takes the alpha-weighted mean colour of its footprint",
        "none": "every hint channel 0: the page is coloured automatically",
        "tiles": "cut the hint channels into the same tiles as L",
    }


def describe_output(predicts: str) -> dict[str, Any]:
    """The description's `output`: the generator's channels and their scaling."""
    output_scaling = {"a": f"a / {AB_SCALE:g}", "b": f"b / {AB_SCALE:g}"}
    if predicts == "lab":
        output_scaling = {"L": f"L / {L_SCALE:g} - 1", **output_scaling}
    return {
        "name": OUTPUT_NAME,
        "dtype": "float32",
        "shape": ["batch", len(CHANNELS[predicts]), "height", "width"],
        "predicts": predicts,
        "channels": CHANNELS[predicts],
        "scaling": output_scaling,
        "range": [-1.0, 1.0],
    }


def describe(
    generator: torch.nn.Module,
    config: dict[str, Any],
    model_format: str,
    file_name: str,
    source: str,
) -> dict[str, Any]:
    """The description of an exported generator (without `check`, added once it has been
    checked)."""
    predicts = generator.predicts
    multiple = int(generator.multiple)
    hints = takes_hints(generator)
    channels = ["L", *(describe_hints(predicts)["channels"] if hints else [])]
    return {
        "format": HINTS_FORMAT if hints else FORMAT,
        "model_format": model_format,
        "file": file_name,
        "source": source,
        "mangacolor_version": mangacolor.__version__,
        "torch_version": torch.__version__.split("+")[0],
        "generator": {**config, "predicts": predicts, "hints": hints},
        "hints": hints,
        "input": {
            "name": input_name(generator),
            "dtype": "float32",
            "shape": ["batch", len(channels), "height", "width"],
            "multiple": multiple,
            "channels": channels,
            "scaling": f"L / {L_SCALE:g} - 1",
            **({"hints": describe_hints(predicts)} if hints else {}),
            "range": [-1.0, 1.0],
            "color_space": "CIE L*a*b*, D65 white, from sRGB (L in 0..100)",
            "padding": (
                f"height and width must be multiples of {multiple}: reflect-pad the bottom and "
                "right edges up to the next multiple and crop the output back"
            ),
        },
        "output": describe_output(predicts),
        "training_size": generator.training_size,
        "working_size": (
            "shrink the page (antialiased, aspect kept) so its shorter side is training_size; "
            "predict; enlarge the output to the page's size"
        ),
        "compose": {
            "default": LIGHTNESS if predicts == "ab" else "auto",
            "modes": {
                mode: text
                for mode, text in COMPOSE.items()
                if predicts == "lab" or mode in ("lightness", "auto")
            },
        },
    }
