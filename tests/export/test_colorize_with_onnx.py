"""mangacolor-colorize with an exported .onnx file gives the pages it gives with generator.pt: the
same tiles, compose modes and archives, within one uint8 level per channel (the two runtimes' float32
sums differ by ~1e-6 on the scaled output; a rounding at .5 can then tip one level)."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mangacolor.colorize.job import colorize
from mangacolor.colorize.settings import ColorizeSettings
from mangacolor.inference.onnx_generator import OnnxGenerator

pytest.importorskip("onnxruntime")
pytest.importorskip("onnxscript")

TOLERANCE = 1  # uint8 levels, per channel


def pages(folder: Path) -> Path:
    """Black-and-white pages: line art on paper (ink), grey tones, and a tall strip that is tiled."""
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True)
    ink = np.full((90, 70), 255, np.uint8)
    ink[::9, :] = 0
    ink[:, ::11] = 0
    Image.fromarray(ink).convert("RGB").save(folder / "ink.png")
    grey = np.kron(rng.integers(40, 220, (12, 10)), np.ones((8, 8))).astype(np.uint8)
    Image.fromarray(grey).convert("RGB").save(folder / "grey.png")
    strip = np.kron(rng.integers(0, 256, (100, 10)), np.ones((6, 6))).astype(np.uint8)
    Image.fromarray(strip).convert("RGB").save(folder / "strip.png")
    with zipfile.ZipFile(folder.parent / "chapter.cbz", "w") as archive:
        archive.write(folder / "ink.png", "001.png")
        archive.write(folder / "grey.png", "002.png")
    return folder


def images_under(folder: Path) -> dict[str, np.ndarray]:
    found = {}
    for path in sorted(folder.rglob("*.png")):
        with Image.open(path) as image:
            found[path.relative_to(folder).as_posix()] = np.asarray(
                image.convert("RGB"), dtype=np.int16
            )
    for path in sorted(folder.rglob("*.cbz")):
        with zipfile.ZipFile(path) as archive:
            for name in archive.namelist():
                with archive.open(name) as entry, Image.open(entry) as image:
                    found[f"{path.name}/{name}"] = np.asarray(image.convert("RGB"), dtype=np.int16)
    return found


@pytest.mark.parametrize(
    "predicts,compose", [("ab", "auto"), ("lab", "auto"), ("lab", "predicted")]
)
def test_colorize_with_the_onnx_file_matches_generator_pt(
    tmp_path, generator_files, exports, predicts, compose
):
    source = pages(tmp_path / "pages")
    onnx_file = exports("onnx", predicts).path
    results = {}
    for name, model in (("pt", generator_files[predicts]), ("onnx", onnx_file)):
        for what in (source, tmp_path / "chapter.cbz"):
            output = tmp_path / f"out_{name}_{what.stem}"
            summary = colorize(
                ColorizeSettings(
                    model,
                    what,
                    output,
                    progress=False,
                    compose=compose,
                    short_side=48,
                    tile=64,
                    tile_overlap=16,
                    precision="32-true",
                ),
                say=lambda m: None,
            )
            assert summary.colored == (3 if what == source else 2) and not summary.unreadable
        results[name] = {
            **images_under(tmp_path / f"out_{name}_pages"),
            **images_under(tmp_path / f"out_{name}_chapter"),
        }
        if name == "onnx":
            assert "onnxruntime" in summary.line()
    assert (
        sorted(results["onnx"])
        == sorted(results["pt"])
        == ["chapter.cbz/001.png", "chapter.cbz/002.png", "grey.png", "ink.png", "strip.png"]
    )
    for page, expected in results["pt"].items():
        assert np.abs(results["onnx"][page] - expected).max() <= TOLERANCE, page
    colored = results["pt"]["grey.png"]  # mid greys: every mode can show colour there
    assert (
        np.abs(colored - colored.mean(axis=2, keepdims=True)).max() > 10
    )  # it was coloured, not copied grey


def test_the_onnx_generator_reports_what_the_file_holds(exports):
    generator = OnnxGenerator(exports("onnx", "lab").path)
    assert (
        generator.multiple,
        generator.predicts,
        generator.out_channels,
        generator.training_size,
    ) == (16, "lab", 3, 64)


def test_a_file_that_is_not_an_exported_generator_is_named(tmp_path):
    fake = tmp_path / "model.onnx"
    fake.write_bytes(b"not a model")
    with pytest.raises(ValueError, match="model.onnx: not an ONNX model onnxruntime can run"):
        OnnxGenerator(fake)
