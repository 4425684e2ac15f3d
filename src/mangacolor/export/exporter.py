"""Write a trained generator as ONNX or torch.export, checked against PyTorch before it is written.

The weights are exactly those `mangacolor-colorize` would use (`load_generator`). The network is
traced once with torch.export, with batch, height and width dynamic (height and width in whole
multiples of `generator.multiple`); the ONNX file is translated from that program by torch's
dynamo exporter. Before anything is written, the exported model (the bytes that will be written,
loaded back) is run on random pages of several sizes and compared with the PyTorch generator; a
difference over `tolerance` stops the export. The model and its JSON are written atomically and
never over an existing file unless `overwrite`.
"""

from __future__ import annotations

import io
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.fx.experimental._config as fx_config
from torch import nn

from mangacolor.export.metadata import (
    METADATA_KEY,
    OUTPUT_NAME,
    describe,
    json_path,
)
from mangacolor.export.settings import FORMATS, TOLERANCE, ExportSettings
from mangacolor.inference.generator_file import input_channels, load_generator
from mangacolor.runtime.atomic import atomic_write

__all__ = ["FORMATS", "TOLERANCE", "ExportError", "ExportSummary", "export"]
# Pages the export is checked on, in whole multiples of the generator's: (batch, height, width).
# One multiple square is the smallest page the network takes (its bottleneck at 1 x 1).
CHECK_PAGES = ((1, 1, 1), (2, 2, 3), (1, 3, 1))
MAX_SIDE = 65536  # pixels: the largest height or width the exported model declares


class ExportError(Exception):
    """The export cannot be made or does not reproduce the generator; nothing was written."""


@dataclass
class ExportSummary:
    path: Path
    json_path: Path
    model_format: str
    max_abs_difference: float
    pages: list[list[int]]
    seconds: float

    def line(self) -> str:
        sizes = ", ".join(f"{b}x{h}x{w}" for b, h, w in self.pages)
        return (
            f"mangacolor-export: wrote {self.path} ({self.model_format}) and "
            f"{self.json_path.name}; max abs difference from PyTorch "
            f"{self.max_abs_difference:.2e} on random pages {sizes} in {self.seconds:.0f} s"
        )


def default_output(ckpt_path: os.PathLike | str, model_format: str) -> Path:
    """Beside the checkpoint, named after it: generator.pt -> generator.onnx, best.ckpt ->
    best.pt2."""
    return Path(ckpt_path).with_suffix(FORMATS[model_format])


def check_record(
    difference: float, tolerance: float, pages: list[list[int]], hints: bool
) -> dict[str, Any]:
    """The description's `check`: how far the export was from PyTorch, and on what pages."""
    pages_are = "uniform random scaled L in [-1, 1], shape [batch, height, width]"
    if hints:
        pages_are += (
            "; hint mask 1 on about a tenth of the pixels, hint colour uniform in "
            "[-1, 1] there and 0 elsewhere"
        )
    return {
        "max_abs_difference": difference,
        "tolerance": tolerance,
        "pages": pages,
        "pages_are": pages_are,
    }


def export(
    settings: ExportSettings, say: Callable[[str], None] = lambda message: None
) -> ExportSummary:
    """Export the generator of `settings.ckpt_path` (generator.pt or a training .ckpt) as
    `settings.format`."""
    start = time.perf_counter()
    ckpt_path, model_format, tolerance = settings.ckpt_path, settings.format, settings.tolerance
    if not ckpt_path.is_file():
        raise FileNotFoundError(
            f"checkpoint not found: {ckpt_path} (ckpt_path: a generator.pt or a training .ckpt)"
        )
    output = (
        settings.output if settings.output is not None else default_output(ckpt_path, model_format)
    )
    description_path = json_path(output)
    if not settings.overwrite:
        for path in (output, description_path):
            if path.exists():
                raise FileExistsError(
                    f"{path} exists; choose another output=, or overwrite=true to replace it"
                )
    generator, config = load_generator(
        ckpt_path
    )  # ValueError naming the file when it is not a generator
    description = describe(generator, config, model_format, output.name, ckpt_path.name)

    say(
        f"tracing the generator ({generator.predicts}, multiple {generator.multiple}) with "
        "torch.export"
    )
    program = trace(generator)
    if model_format == "onnx":
        say("translating to ONNX")
        data = onnx_bytes(program, description)
        exported = onnx_runner(data, description["input"]["name"])
    else:
        data = torch_export_bytes(program)
        exported = torch.export.load(io.BytesIO(data)).module()
    say("checking the export against PyTorch")
    pages = [[b, h * generator.multiple, w * generator.multiple] for b, h, w in CHECK_PAGES]
    difference = max_abs_difference(generator, exported, pages)
    if not difference <= tolerance:  # also catches NaN
        raise ExportError(
            f"the {model_format} export of {ckpt_path} differs from the PyTorch generator by "
            f"{difference:.3g} (tolerance {tolerance:g}) on random pages; nothing written"
        )
    description["check"] = check_record(difference, tolerance, pages, description["hints"])
    with atomic_write(output, size_hint=len(data)) as handle:
        handle.write(data)
    with atomic_write(description_path) as handle:
        handle.write((json.dumps(description, indent=2) + "\n").encode())
    return ExportSummary(
        output, description_path, model_format, difference, pages, time.perf_counter() - start
    )


def trace(generator: nn.Module) -> torch.export.ExportedProgram:
    """The generator as a torch.export program with dynamic batch, height and width (whole
    multiples)."""
    multiple = int(generator.multiple)
    blocks = max(2, MAX_SIDE // multiple)
    height, width = (
        torch.export.Dim("height_blocks", min=1, max=blocks),
        torch.export.Dim("width_blocks", min=1, max=blocks),
    )
    shapes = {
        "lightness": {
            0: torch.export.Dim("batch", min=1, max=1024),
            2: multiple * height,
            3: multiple * width,
        }
    }
    # An example of 2 in every dynamic dimension: export specialises dimensions of 0 or 1.
    # Size-oblivious tracing keeps one multiple (a 1 x 1 bottleneck) allowed rather than guarded
    # against.
    example = torch.zeros(2, input_channels(generator), 2 * multiple, 2 * multiple)
    try:
        with fx_config.patch(backed_size_oblivious=True), torch.no_grad():
            return torch.export.export(generator.eval(), (example,), dynamic_shapes=shapes)
    except Exception as error:  # noqa: BLE001 - torch.export raises many kinds; the user needs the cause
        raise ExportError(f"torch.export could not trace the generator: {error}") from error


def torch_export_bytes(program: torch.export.ExportedProgram) -> bytes:
    buffer = io.BytesIO()
    torch.export.save(program, buffer)
    return buffer.getvalue()


def onnx_bytes(program: torch.export.ExportedProgram, description: dict) -> bytes:
    """The program as an ONNX model (torch's dynamo exporter), with the description in its
    metadata."""
    try:
        import onnx  # noqa: F401 - the exporter needs onnx and onnxscript; say so before it fails deep inside
        import onnxscript  # noqa: F401
    except ImportError:
        raise ExportError(
            "format=onnx needs onnx and onnxscript (and onnxruntime to check the export): "
            "pip install 'mangacolor[export]'"
        ) from None
    try:
        onnx_program = torch.onnx.export(
            program,
            dynamo=True,
            input_names=[description["input"]["name"]],
            output_names=[OUTPUT_NAME],
            verbose=False,
        )
    except Exception as error:  # noqa: BLE001
        raise ExportError(
            f"torch.onnx.export could not translate the generator: {error}"
        ) from error
    model = onnx_program.model_proto
    entry = model.metadata_props.add()
    entry.key, entry.value = METADATA_KEY, json.dumps(description)
    return model.SerializeToString()


def onnx_runner(data: bytes, name: str) -> Callable[[torch.Tensor], torch.Tensor]:
    """The ONNX model in `data` run by onnxruntime on the CPU, as a function of a tensor (its input
    `name`)."""
    try:
        import onnxruntime
    except ImportError:
        raise ExportError(
            "checking an ONNX export needs onnxruntime: pip install 'mangacolor[export]'"
        ) from None
    session = onnxruntime.InferenceSession(data, providers=["CPUExecutionProvider"])

    def run(lightness: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(session.run([OUTPUT_NAME], {name: lightness.numpy()})[0])

    return run


@torch.no_grad()
def max_abs_difference(
    generator: nn.Module,
    exported: Callable[[torch.Tensor], torch.Tensor],
    pages: list[list[int]],
    seed: int = 0,
) -> float:
    """The largest |exported - generator| over random scaled-L pages of the given (batch, height,
    width), with random hint maps for a hint generator."""
    random = torch.Generator().manual_seed(seed)
    channels = input_channels(generator)
    worst = 0.0
    for batch, height, width in pages:
        page = torch.rand(batch, 1, height, width, generator=random) * 2 - 1
        if channels > 1:  # the hint colour where the mask is 1, as hint_input makes it
            mask = (torch.rand(batch, 1, height, width, generator=random) < 0.1).float()
            color = torch.rand(batch, channels - 2, height, width, generator=random) * 2 - 1
            page = torch.cat([page, color * mask, mask], dim=1)
        expected = generator(page).float()
        got = exported(page).float()
        if got.shape != expected.shape:
            raise ExportError(
                f"the export gives shape {tuple(got.shape)} for a page of {tuple(page.shape)}, "
                f"the generator {tuple(expected.shape)}"
            )
        worst = max(worst, (got - expected).abs().max().item())
        if worst != worst:  # NaN
            return worst
    return worst
