"""A generator with hint inputs exports with them: its one input holds L and the hint maps, the JSON
says so and how to make them, and mangacolor-colorize with the .onnx takes hint files as it does
with generator.pt. A plain .onnx given hints is refused."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from mangacolor.colorize.job import colorize
from mangacolor.colorize.settings import ColorizeError, ColorizeSettings
from mangacolor.export.exporter import export
from mangacolor.export.settings import TOLERANCE, ExportSettings
from mangacolor.hints.raster import hint_channels
from mangacolor.inference.generator_file import export_generator
from mangacolor.inference.onnx_generator import HINTS_FORMAT, OnnxGenerator
from mangacolor.models.components import UNetGenerator

TINY = {"depth": 4, "width": 8, "max_width": 16}


def hint_generator_file(folder: Path, predicts: str) -> Path:
    torch.manual_seed(7)
    out_channels = {"ab": 2, "lab": 3}[predicts]
    generator = UNetGenerator(
        **TINY, in_channels=1 + hint_channels(predicts), out_channels=out_channels
    )
    with torch.no_grad():
        generator.head[0].weight.mul_(30.0)
    folder.mkdir(parents=True, exist_ok=True)
    return export_generator(generator, TINY, folder / "generator.pt", training_size=32)


@pytest.fixture(scope="module")
def hint_exports(tmp_path_factory):
    """(format, predicts) -> (generator.pt, ExportSummary), made on first use."""
    made = {}

    def get(model_format: str, predicts: str):
        if (model_format, predicts) not in made:
            folder = tmp_path_factory.mktemp(f"hint_{predicts}_{model_format}")
            path = hint_generator_file(folder, predicts)
            made[model_format, predicts] = path, export(ExportSettings(path, model_format))
        return made[model_format, predicts]

    return get


@pytest.mark.parametrize("predicts", ["ab", "lab"])
def test_a_hint_generator_exports_to_onnx_with_its_hint_inputs_described(hint_exports, predicts):
    onnxruntime = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    _, summary = hint_exports("onnx", predicts)
    description = json.loads(summary.json_path.read_text())
    channels = 1 + hint_channels(predicts)
    assert description["format"] == HINTS_FORMAT and description["hints"] is True
    assert description["generator"]["hints"] is True
    assert description["generator"]["in_channels"] == channels
    hint_names = {"ab": ["hint_a", "hint_b"], "lab": ["hint_L", "hint_a", "hint_b"]}[predicts]
    assert description["input"]["channels"] == ["L", *hint_names, "hint_mask"]
    assert description["input"]["shape"] == ["batch", channels, "height", "width"]
    assert description["input"]["name"] == "lightness_and_hints"
    assert {"color", "mask", "none", "tiles"} <= set(description["input"]["hints"])
    assert "hint mask" in description["check"]["pages_are"]
    assert summary.max_abs_difference <= description["check"]["tolerance"]
    session = onnxruntime.InferenceSession(str(summary.path), providers=["CPUExecutionProvider"])
    (inputs,) = session.get_inputs()
    assert inputs.name == "lightness_and_hints" and inputs.shape[1] == channels
    runner = OnnxGenerator(summary.path)
    assert runner.hints is True and runner.in_channels == channels


def test_a_hint_generator_exports_with_torch_export(hint_exports):
    _, summary = hint_exports("torch-export", "ab")
    program = torch.export.load(str(summary.path)).module()
    assert program(torch.zeros(1, 4, 16, 32)).shape == (1, 2, 16, 32)
    assert json.loads(summary.json_path.read_text())["hints"] is True


def pages(folder: Path) -> Path:
    rng = np.random.default_rng(1)
    folder.mkdir(parents=True)
    sizes = {"a.png": (40, 48), "b.png": (32, 40), "strip.png": (200, 32)}
    for name, (height, width) in sizes.items():
        grey = np.kron(rng.integers(0, 256, (height // 4, width // 4)), np.ones((4, 4)))
        Image.fromarray(grey.astype(np.uint8)).convert("RGB").save(folder / name)
    return folder


def hint_folder(folder: Path) -> Path:
    folder.mkdir(parents=True)
    dots = {
        "version": 1,
        "hints": [
            {"x": 10, "y": 12, "color": "#e01010", "size": 7},
            {"points": [[2, 30], [30, 30]], "color": "#1030e0", "size": 5},
        ],
    }
    (folder / "a.json").write_text(json.dumps(dots))
    strip = {"version": 1, "hints": [{"x": 16, "y": 180, "color": "#10e030", "size": 9}]}
    (folder / "strip.json").write_text(json.dumps(strip))
    layer = Image.new("RGBA", (40, 32), (0, 0, 0, 0))
    layer.paste((200, 150, 20, 255), (4, 4, 20, 20))
    layer.save(folder / "b.png")
    return folder


def images(folder: Path) -> dict[str, np.ndarray]:
    found = {}
    for path in sorted(folder.glob("*.png")):
        with Image.open(path) as image:
            found[path.name] = np.asarray(image.convert("RGB"), dtype=np.int16)
    return found


@pytest.mark.parametrize("predicts", ["ab", "lab"])
def test_colorize_with_a_hint_onnx_takes_hint_files_as_generator_pt_does(
    tmp_path, hint_exports, predicts
):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    source, hints = pages(tmp_path / "pages"), hint_folder(tmp_path / "hints")
    generator_pt, summary = hint_exports("onnx", predicts)
    results = {}
    for name, model, with_hints in (
        ("pt", generator_pt, hints),
        ("onnx", summary.path, hints),
        ("auto", summary.path, None),
    ):
        colorize(
            ColorizeSettings(
                model,
                source,
                tmp_path / name,
                hints=with_hints,
                progress=False,
                precision="32-true",
                device="cpu",
                tile=64,
                tile_overlap=16,
            ),
            say=lambda message: None,
        )
        results[name] = images(tmp_path / name)
    assert set(results["onnx"]) == {"a.png", "b.png", "strip.png"}
    for page in results["onnx"]:
        assert np.abs(results["onnx"][page] - results["pt"][page]).max() <= 1, page
        assert np.abs(results["onnx"][page] - results["auto"][page]).max() > 10, page


def test_a_plain_onnx_given_hints_is_refused_at_the_start(tmp_path, exports):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    source, hints = pages(tmp_path / "pages"), hint_folder(tmp_path / "hints")
    onnx_file = exports("onnx", "ab").path
    with pytest.raises(ColorizeError, match="takes no hints") as caught:
        colorize(
            ColorizeSettings(onnx_file, source, tmp_path / "out", hints=hints, progress=False),
            say=lambda message: None,
        )
    assert str(onnx_file) in str(caught.value) and os.listdir(tmp_path / "out") == []


@pytest.mark.slow  # the ONNX translation of the fill's unrolled scans takes a minute or two
@pytest.mark.parametrize("copy_lightness", [True, "relative"])
def test_a_geodesic_fill_generator_exports_and_matches_pytorch(tmp_path, copy_lightness):
    """The recipes' hint generator: the geodesic fill with its cues, a gate for the chroma and one
    for L (the hints' L, or the page's moved by their offset)."""
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    torch.manual_seed(7)
    fill = {"hint_spread": "geodesic", "copy_lightness": copy_lightness, "fill_cues": True}
    config = {**TINY, **fill}
    channels = 1 + hint_channels("lab")  # the page, the hint's L, a, b and the mask
    generator = UNetGenerator(**config, in_channels=channels, out_channels=3)
    path = export_generator(generator, config, tmp_path / "generator.pt", training_size=32)
    summary = export(ExportSettings(path, "onnx"))
    assert summary.max_abs_difference <= TOLERANCE
    runner = OnnxGenerator(summary.path)
    inputs = torch.zeros(1, channels, 32, 48)
    inputs[0, 1:, 5, 9] = torch.tensor([0.2, 0.5, -0.4, 1.0])  # one lab hint and its mask
    with torch.no_grad():
        expected = generator.eval()(inputs)
    assert torch.allclose(runner(inputs), expected, atol=TOLERANCE)
