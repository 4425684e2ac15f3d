"""An exported ONNX generator (mangacolor-export) run by onnxruntime on the CPU, in the generator's
place: `PageColorizer` tiles, pads and composes with it exactly as with `generator.pt`.

The file carries its own description (the JSON written beside it, less the export check) in its
metadata under `METADATA_KEY`, so the file alone is enough. A generator with hint inputs is
exported with them: its one input, `HINT_INPUT_NAME`, holds L and the hint maps
(`mangacolor.hints.raster.hint_input`), and its description says `"hints": true`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch
from torch import nn

from mangacolor.hints.raster import hint_channels
from mangacolor.models.components import OUTPUT_CHANNELS

FORMAT = "mangacolor-export-1"  # the description's version; a newer one is refused
# A hint generator's description: -2 adds the hint inputs. Only hint exports are written as -2, so
# a reader that knows only -1 refuses them by their version instead of feeding them L alone, and
# still reads every plain export.
HINTS_FORMAT = "mangacolor-export-2"
READ_FORMATS = (FORMAT, HINTS_FORMAT)
METADATA_KEY = "mangacolor"
INPUT_NAME, OUTPUT_NAME = "lightness", "color"
HINT_INPUT_NAME = "lightness_and_hints"  # a hint generator's input: L, the hint colour and mask
ONNX_SUFFIX = ".onnx"


def is_onnx_file(path: os.PathLike | str) -> bool:
    return Path(path).suffix.lower() == ONNX_SUFFIX


class OnnxGenerator(nn.Module):
    """Looks like the generator to `PageColorizer`: `multiple`, `predicts`, `training_size`,
    `out_channels` and `hints`, called on scaled L (B, 1, H, W) float32 (with the hint maps,
    (B, 1 + hint channels, H, W), for a hint generator) with H and W multiples of `multiple`;
    returns its output on the input's device. A bad file is a ValueError naming it."""

    def __init__(self, path: os.PathLike | str, threads: int | None = None):
        super().__init__()
        try:
            import onnxruntime
        except ImportError:
            raise ValueError(
                f"{path}: running an ONNX generator needs onnxruntime: "
                f"pip install 'mangacolor[export]'"
            ) from None
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads or torch.get_num_threads()
        try:
            self.session = onnxruntime.InferenceSession(
                str(path), options, providers=["CPUExecutionProvider"]
            )
        except Exception as error:  # noqa: BLE001 - onnxruntime raises its own kinds for every flaw
            raise ValueError(f"{path}: not an ONNX model onnxruntime can run: {error}") from None
        text = self.session.get_modelmeta().custom_metadata_map.get(METADATA_KEY)
        if text is None:
            raise ValueError(
                f"{path}: an ONNX file without mangacolor's description; write it with mangacolor-export"
            )
        try:
            description = json.loads(text)
            version = description["format"]
            if version not in READ_FORMATS:
                raise ValueError(
                    f"its description is {version!r}, which this mangacolor "
                    f"({', '.join(READ_FORMATS)}) cannot read"
                )
            predicts = description["output"]["predicts"]
            if predicts not in OUTPUT_CHANNELS:
                raise ValueError(
                    f"it predicts {predicts!r}; known are {', '.join(OUTPUT_CHANNELS)}"
                )
            self.multiple = int(description["input"]["multiple"])
            self.training_size = description.get("training_size")
            # Exports from before hints have no record: L alone.
            self.hints = description.get("hints", False)
            if type(self.hints) is not bool:
                raise ValueError(f"it records hints={self.hints!r}, not true or false")
            self.input_name = description["input"].get("name", INPUT_NAME)
            self.in_channels = 1 + hint_channels(predicts) if self.hints else 1
        except (ValueError, KeyError, TypeError) as error:
            raise ValueError(
                f"{path}: mangacolor's description in it is not usable: {error}"
            ) from None
        self.predicts = predicts
        self.out_channels = OUTPUT_CHANNELS[predicts]
        self.description = description
        self.path = Path(path)

    def forward(self, lightness: torch.Tensor) -> torch.Tensor:
        height, width = lightness.shape[-2:]
        if height % self.multiple or width % self.multiple:
            raise ValueError(
                f"generator input {height}x{width} is not a multiple of {self.multiple}"
            )
        if lightness.shape[1] != self.in_channels:
            raise ValueError(
                f"{self.path} takes {self.in_channels} input channels, given {lightness.shape[1]}"
            )
        inputs = lightness.detach().float().cpu().contiguous().numpy()
        output = self.session.run([OUTPUT_NAME], {self.input_name: inputs})[0]
        return torch.from_numpy(output).to(lightness.device)
