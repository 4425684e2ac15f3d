"""mangacolor-export's library: the exported files reproduce the PyTorch generator on pages of sizes
it was not checked on, the JSON says how to use them, and nothing is written over or written wrong."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from mangacolor.export import exporter
from mangacolor.export.exporter import ExportError
from mangacolor.export.metadata import FORMAT, json_path
from mangacolor.export.settings import ExportSettings
from mangacolor.inference.generator_file import export_generator, load_generator
from mangacolor.models.components import UNetGenerator
from mangacolor.runtime.config_errors import ConfigError

# (batch, height, width) in multiples of the generator's, none of them among the export's own check.
OTHER_PAGES = ((3, 1, 5), (1, 4, 2), (2, 1, 1))
CASES = [
    ("onnx", "ab"),
    ("onnx", "lab"),
    ("torch-export", "ab"),
    pytest.param("torch-export", "lab", marks=pytest.mark.slow),
]


def export_as(ckpt_path, model_format: str, **options):
    """The library as mangacolor-export calls it: its settings, then the export."""
    return exporter.export(ExportSettings(Path(ckpt_path), model_format, **options))


def run_exported(summary, pages: torch.Tensor) -> torch.Tensor:
    """The written file, loaded as a user outside mangacolor would load it, run on `pages`."""
    if summary.model_format == "onnx":
        onnxruntime = pytest.importorskip("onnxruntime")
        session = onnxruntime.InferenceSession(
            str(summary.path), providers=["CPUExecutionProvider"]
        )
        return torch.from_numpy(session.run(["color"], {"lightness": pages.numpy()})[0])
    return torch.export.load(summary.path).module()(pages)


@pytest.mark.parametrize("model_format,predicts", CASES)
def test_the_export_reproduces_the_generator_on_pages_of_several_sizes(
    generator_files, exports, model_format, predicts
):
    if model_format == "onnx":
        pytest.importorskip("onnxscript")
        pytest.importorskip("onnxruntime")
    summary = exports(model_format, predicts)
    generator, _ = load_generator(generator_files[predicts])
    multiple = generator.multiple
    random = torch.Generator().manual_seed(1)
    for batch, height, width in OTHER_PAGES:
        pages = torch.rand(batch, 1, height * multiple, width * multiple, generator=random) * 2 - 1
        with torch.no_grad():
            expected = generator(pages)
            got = run_exported(summary, pages)
        assert (
            got.shape
            == expected.shape
            == (batch, len(predicts), height * multiple, width * multiple)
        )
        torch.testing.assert_close(got, expected, rtol=0, atol=1e-4)
    assert 0 <= summary.max_abs_difference <= exporter.TOLERANCE
    assert f"{summary.max_abs_difference:.2e}" in summary.line()


@pytest.mark.parametrize("model_format,predicts", CASES[:3])
def test_the_json_says_how_to_feed_it_and_what_it_returns(
    generator_files, exports, model_format, predicts
):
    if model_format == "onnx":
        pytest.importorskip("onnxscript")
        pytest.importorskip("onnxruntime")
    summary = exports(model_format, predicts)
    assert (
        summary.json_path
        == json_path(summary.path)
        == summary.path.with_name(summary.path.name + ".json")
    )
    assert summary.path.parent == generator_files[predicts].parent
    assert summary.path.suffix == {"onnx": ".onnx", "torch-export": ".pt2"}[model_format]
    description = json.loads(summary.json_path.read_text())
    assert description["format"] == FORMAT == "mangacolor-export-1"
    assert description["model_format"] == model_format and description["file"] == summary.path.name
    assert description["input"]["name"] == "lightness" and description["input"]["multiple"] == 16
    assert description["input"]["shape"] == ["batch", 1, "height", "width"]
    assert description["input"]["scaling"] == "L / 50 - 1"
    assert (
        description["output"]["name"] == "color" and description["output"]["predicts"] == predicts
    )
    assert description["output"]["channels"] == {"ab": ["a", "b"], "lab": ["L", "a", "b"]}[predicts]
    assert (
        description["output"]["scaling"]["a"]
        == description["output"]["scaling"]["b"].replace("b", "a")
        == "a / 110"
    )
    assert ("L" in description["output"]["scaling"]) == (predicts == "lab")
    assert description["training_size"] == 64
    assert description["generator"]["out_channels"] == len(predicts)
    modes = set(description["compose"]["modes"])
    assert modes == (
        {"lightness", "auto"} if predicts == "ab" else {"lightness", "ink", "predicted", "auto"}
    )
    assert description["compose"]["default"] == ("lightness" if predicts == "ab" else "auto")
    check = description["check"]
    assert check["max_abs_difference"] == summary.max_abs_difference <= check["tolerance"]
    assert len(check["pages"]) >= 3 and len({tuple(p[1:]) for p in check["pages"]}) >= 3


def test_the_onnx_file_declares_dynamic_batch_height_and_width(exports):
    onnxruntime = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    session = onnxruntime.InferenceSession(
        str(exports("onnx", "ab").path), providers=["CPUExecutionProvider"]
    )
    (inputs,), (outputs,) = session.get_inputs(), session.get_outputs()
    assert inputs.name == "lightness" and outputs.name == "color"
    assert inputs.shape[1] == 1 and outputs.shape[1] == 2
    assert all(isinstance(side, str) for side in (*inputs.shape[::2], inputs.shape[3]))
    assert "mangacolor" in session.get_modelmeta().custom_metadata_map


def tiny_file(tmp_path, name="generator.pt"):
    torch.manual_seed(0)
    config = dict(depth=2, width=4, max_width=4)
    return export_generator(UNetGenerator(**config), config, tmp_path / name)


def test_an_existing_output_is_never_replaced_unless_asked(tmp_path):
    path = tiny_file(tmp_path)
    mine = tmp_path / "generator.pt2"
    mine.write_bytes(b"the user's own file")
    with pytest.raises(
        FileExistsError, match="generator.pt2 exists; choose another output=, or overwrite=true"
    ):
        export_as(path, "torch-export")
    assert mine.read_bytes() == b"the user's own file"
    json_path(tmp_path / "other.pt2").write_text("{}")
    with pytest.raises(FileExistsError, match="other.pt2.json exists"):
        export_as(path, "torch-export", output=tmp_path / "other.pt2")
    assert not (tmp_path / "other.pt2").exists()
    summary = export_as(path, "torch-export", overwrite=True)
    assert summary.path == mine and mine.read_bytes() != b"the user's own file"


def test_an_export_that_does_not_reproduce_the_generator_is_not_written(tmp_path, monkeypatch):
    """A runtime that computes something else (here: the real export, shifted by 0.01) is caught."""
    path = tiny_file(tmp_path)
    real_load = torch.export.load
    monkeypatch.setattr(torch.export, "load", lambda f: _Shifted(real_load(f)))
    with pytest.raises(
        ExportError,
        match=r"torch-export export of .*generator.pt differs from the PyTorch "
        r"generator by 0.01 \(tolerance 0.0001\) on random pages; nothing written",
    ):
        export_as(path, "torch-export")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["generator.pt"]


class _Shifted:
    def __init__(self, program):
        self.program = program

    def module(self):
        inner = self.program.module()
        return lambda pages: inner(pages) + 0.01


def test_a_bad_checkpoint_is_a_clear_error_naming_it(tmp_path):
    bad = tmp_path / "notes.pt"
    torch.save({"hello": 1}, bad)
    with pytest.raises(
        ValueError,
        match="notes.pt: neither a generator.pt export nor a mangacolor Lightning checkpoint",
    ):
        export_as(bad, "onnx")
    with pytest.raises(FileNotFoundError, match="checkpoint not found: .*missing.pt"):
        export_as(tmp_path / "missing.pt", "onnx")
    with pytest.raises(ConfigError, match="format must be one of onnx, torch-export, got 'tflite'"):
        ExportSettings(bad, "tflite")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.pt"]


def test_a_resize_generator_exports_to_onnx_and_reproduces_itself(tmp_path):
    pytest.importorskip("onnxscript")
    pytest.importorskip("onnxruntime")
    torch.manual_seed(0)
    config = dict(depth=4, width=8, max_width=16, upsample="resize")
    generator = UNetGenerator(**config, out_channels=3).eval()
    summary = export_as(
        export_generator(generator, config, tmp_path / "generator.pt", training_size=64), "onnx"
    )
    random = torch.Generator().manual_seed(1)
    for batch, height, width in OTHER_PAGES:
        pages = torch.rand(batch, 1, height * 16, width * 16, generator=random) * 2 - 1
        with torch.no_grad():
            torch.testing.assert_close(
                run_exported(summary, pages), generator(pages), rtol=0, atol=1e-4
            )
