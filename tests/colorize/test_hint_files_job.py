"""mangacolor-colorize hints=: hint files of both kinds reach their pages (folders, archives by
member path, tall strips in tiles), bad ones fail their page alone with the file and the field
named, reruns recolour pages whose hints changed, and what cannot work is refused at the start."""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers.colorize_pages import TINY, files_under, load, page, strong_color_generator
from PIL import Image

from mangacolor.colorize.job import colorize
from mangacolor.colorize.settings import ColorizeError, ColorizeSettings
from mangacolor.hints.raster import hint_channels
from mangacolor.inference.generator_file import export_generator, load_generator
from mangacolor.inference.hint_files import read_hint_file
from mangacolor.inference.page_colorizer import PageColorizer
from mangacolor.models.components import UNetGenerator

SIZE = 32  # the working size of every run here: pages of 32 px on the shorter side are not resized


@pytest.fixture(scope="module")
def hint_model(tmp_path_factory) -> Path:
    """A tiny untrained ab generator with hint inputs, its head scaled up so hints show in uint8."""
    torch.manual_seed(3)
    generator = UNetGenerator(**TINY, in_channels=1 + hint_channels("ab"), out_channels=2)
    with torch.no_grad():
        generator.head[0].weight.mul_(30.0)
    return export_generator(
        generator, TINY, tmp_path_factory.mktemp("hint_model") / "generator.pt", training_size=SIZE
    )


@pytest.fixture(scope="module")
def plain_model(tmp_path_factory) -> Path:
    return strong_color_generator(tmp_path_factory.mktemp("plain_model"))


def run(
    model: Path,
    source: Path,
    output: Path,
    hints: Path | None,
    messages: list | None = None,
    **options,
):
    settings = ColorizeSettings(
        model,
        source,
        output,
        hints=hints,
        short_side=SIZE,
        progress=False,
        precision="32-true",
        device="cpu",
        format="png",
        **options,
    )
    return colorize(settings, say=messages.append if messages is not None else lambda m: None)


def pixels(path: Path) -> np.ndarray:
    return np.asarray(load(path).convert("RGB"), dtype=np.int16)


def dots(path: Path, *marks: dict) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"version": 1, "hints": list(marks)}))
    return path


RED = {"x": 10, "y": 12, "color": "#e01010", "size": 7}
BLUE = {"points": [[4, 30], [28, 30]], "color": "#1030e0", "size": 5}


def layer(path: Path, width: int, height: int, box=(4, 4, 16, 16), rgba=(20, 200, 40, 255)) -> Path:
    image = Image.new("RGBA", (width, height), (0, 0, 0, 0))
    image.paste(rgba, box)
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path)
    return path


def reference(
    model: Path, source: Path, hint_file: Path | None, tile: int = 1024, tile_overlap: int = 256
) -> np.ndarray:
    """What PageColorizer gives the page with the hint file read directly."""
    generator, _ = load_generator(model)
    colorizer = PageColorizer(generator, SIZE, tile, tile_overlap, precision="32-true")
    rgb = torch.from_numpy(pixels(source).astype(np.uint8)).permute(2, 0, 1).contiguous()
    hints = None if hint_file is None else read_hint_file(hint_file, tuple(rgb.shape[-2:]))
    colored = colorizer.color([rgb], hints=[hints])[0]
    return colored.permute(1, 2, 0).numpy().astype(np.int16)


def book(folder: Path) -> Path:
    """Three black-and-white pages, one in a subfolder."""
    page(folder / "001.png", 40, 32, seed=1)
    page(folder / "002.jpg", 40, 32, seed=2, quality=95)
    page(folder / "sub" / "003.png", 32, 36, seed=3)
    return folder


# ---- both kinds of hint file ------------------------------------------------------------------


def test_json_and_png_hint_files_colour_their_pages_and_the_rest_is_automatic(hint_model, tmp_path):
    source = book(tmp_path / "in")
    hints = tmp_path / "hints"
    dots(hints / "001.json", RED, BLUE)
    layer(hints / "sub" / "003.png", 32, 36)
    summary = run(hint_model, source, tmp_path / "out", hints)
    automatic = tmp_path / "auto"
    run(hint_model, source, automatic, None)
    assert summary.colored == 3 and summary.hint_refused == [] and summary.unmatched_hints == []
    hinted = {"001.png": hints / "001.json", "sub/003.png": hints / "sub/003.png"}
    for name, hint_file in hinted.items():
        ours = pixels(tmp_path / "out" / name)
        assert np.abs(ours - reference(hint_model, source / name, hint_file)).max() <= 1
        assert np.abs(ours - pixels(automatic / name)).max() > 10, f"{name}: hints changed nothing"
    assert np.array_equal(pixels(tmp_path / "out" / "002.png"), pixels(automatic / "002.png"))


def test_a_single_page_takes_its_hint_file_or_the_folder(hint_model, tmp_path):
    source = page(tmp_path / "p.png", 40, 32, seed=4)
    hint_file = dots(tmp_path / "elsewhere" / "whatever.json", RED)
    run(hint_model, source, tmp_path / "file", hint_file)
    dots(tmp_path / "hints" / "p.json", RED)
    run(hint_model, source, tmp_path / "folder", tmp_path / "hints")
    expected = reference(hint_model, source, hint_file)
    assert np.abs(pixels(tmp_path / "file" / "p.png") - expected).max() <= 1
    assert np.abs(pixels(tmp_path / "folder" / "p.png") - expected).max() <= 1


def test_a_colour_page_given_hints_is_coloured_not_copied(hint_model, tmp_path):
    source = tmp_path / "in" / "colour.png"
    source.parent.mkdir()
    Image.new("RGB", (40, 32), (200, 40, 40)).save(source)
    dots(tmp_path / "hints" / "colour.json", RED)
    summary = run(hint_model, tmp_path / "in", tmp_path / "out", tmp_path / "hints")
    assert summary.copied == 0 and summary.colored == 1


# ---- bad hint files: one line naming the file and the field; the page alone is not coloured ------


BAD = {
    "malformed.json": (b'{"version": 1, "hints": [', "json"),
    "outside.json": (
        json.dumps({"version": 1, "hints": [{**RED, "x": 400}]}).encode(),
        "hints[0].x",
    ),
    "stroke.json": (
        json.dumps({"version": 1, "hints": [{**BLUE, "points": [[1, 1], [2, -3]]}]}).encode(),
        "hints[0].points[1]",
    ),
    "colour.json": (
        json.dumps({"version": 1, "hints": [{**RED, "color": "red"}]}).encode(),
        "hints[0].color",
    ),
    "size.png": (None, "layer"),
}


@pytest.mark.parametrize("name", list(BAD))
def test_a_bad_hint_file_fails_its_page_alone_and_a_rerun_after_the_fix_colours_it(
    hint_model, tmp_path, name
):
    source = book(tmp_path / "in")
    hints = tmp_path / "hints"
    data, field = BAD[name]
    bad = hints / f"001{Path(name).suffix}"
    if data is None:
        layer(bad, 41, 32)  # the page is 40 x 32
    else:
        hints.mkdir()
        bad.write_bytes(data)
    messages = []
    summary = run(hint_model, source, tmp_path / "out", hints, messages)
    assert summary.colored == 2 and len(summary.hint_refused) == 1
    line = next(m for m in messages if m.startswith("not coloured"))
    assert "001.png" in line and f"{bad}: {field}: " in line and "\n" not in line
    assert not (tmp_path / "out" / "001.png").exists()
    assert "1 not coloured for their hint files" in summary.line()

    bad.unlink()
    dots(hints / "001.json", RED)
    again = run(hint_model, source, tmp_path / "out", hints)
    assert (again.colored, again.already_done, again.hint_refused) == (1, 2, [])
    assert (tmp_path / "out" / "001.png").exists()


def test_a_page_with_both_a_json_and_a_png_is_refused_and_the_rest_go_on(hint_model, tmp_path):
    source = book(tmp_path / "in")
    hints = tmp_path / "hints"
    dots(hints / "002.json", RED)
    layer(hints / "002.png", 40, 32)
    messages = []
    summary = run(hint_model, source, tmp_path / "out", hints, messages)
    assert summary.colored == 2 and len(summary.hint_refused) == 1
    line = next(m for m in messages if m.startswith("not coloured"))
    assert "002.json and 002.png both give hints" in line
    assert not (tmp_path / "out" / "002.png").exists()


# ---- archives: member paths --------------------------------------------------------------------


def cbz(path: Path, members: dict[str, Path]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as archive:
        for name, file in members.items():
            archive.write(file, arcname=name)
    return path


def member(archive: Path, name: str, folder: Path) -> np.ndarray:
    target = folder / name
    target.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(archive) as opened:
        target.write_bytes(opened.read(name))
    return pixels(target)


def test_archive_pages_take_hints_by_member_path(hint_model, tmp_path):
    loose = book(tmp_path / "loose")
    source = tmp_path / "in"
    cbz(
        source / "vol" / "extra.cbz",
        {"a/01.png": loose / "001.png", "02.png": loose / "sub/003.png"},
    )
    hints = tmp_path / "hints"
    dots(hints / "vol" / "extra" / "a" / "01.json", RED)  # under the archive's path in the folder
    summary = run(hint_model, source, tmp_path / "out", hints)
    assert summary.colored == 2 and summary.unmatched_hints == []
    packed = tmp_path / "out" / "vol" / "extra.cbz"
    got = member(packed, "a/01.png", tmp_path / "got")
    expected = reference(hint_model, loose / "001.png", hints / "vol/extra/a/01.json")
    assert np.abs(got - expected).max() <= 1

    single = tmp_path / "single hints"  # the archive itself as input: member paths alone
    dots(single / "a" / "01.json", RED)
    run(hint_model, source / "vol" / "extra.cbz", tmp_path / "out2", single)
    again = member(tmp_path / "out2" / "extra.cbz", "a/01.png", tmp_path / "got2")
    assert np.array_equal(again, got)


def test_an_archive_with_a_bad_hint_file_is_not_packed_until_it_is_fixed(hint_model, tmp_path):
    loose = book(tmp_path / "loose")
    source = cbz(tmp_path / "ch.cbz", {"01.png": loose / "001.png", "02.png": loose / "002.jpg"})
    hints = tmp_path / "hints"
    hints.mkdir()
    (hints / "02.json").write_text('{"version": 1, "hints": [{"x": 1}]}')
    messages = []
    summary = run(hint_model, source, tmp_path / "out", hints, messages)
    assert summary.colored == 1 and len(summary.hint_refused) == 1
    assert any("02.json: hints[0].y: missing" in m for m in messages)
    assert any("not packed yet" in m for m in messages)
    assert files_under(tmp_path / "out") == [".ch.cbz.pages/00000.png"]

    dots(hints / "02.json", RED)
    again = run(hint_model, source, tmp_path / "out", hints)
    assert (again.colored, again.already_done) == (1, 1)
    assert files_under(tmp_path / "out") == ["ch.cbz"]
    with zipfile.ZipFile(tmp_path / "out" / "ch.cbz") as packed:
        assert packed.namelist() == ["01.png", "02.png"]


# ---- tall strips: each tile gets the hints that fall in it --------------------------------------


def test_a_tall_strip_is_tiled_with_the_hints_in_each_tile(hint_model, tmp_path):
    source = page(tmp_path / "in" / "strip.png", SIZE, 8 * SIZE, seed=5)  # at working size already
    hint_file = dots(
        tmp_path / "hints" / "strip.json", {"x": 16, "y": 240, "color": "#e01010", "size": 9}
    )
    tiling = {"tile": SIZE, "tile_overlap": 8}
    run(hint_model, tmp_path / "in", tmp_path / "out", tmp_path / "hints", **tiling)
    run(hint_model, tmp_path / "in", tmp_path / "auto", None, **tiling)
    ours = pixels(tmp_path / "out" / "strip.png")
    automatic = pixels(tmp_path / "auto" / "strip.png")
    expected = reference(hint_model, source, hint_file, tile=SIZE, tile_overlap=8)
    assert np.abs(ours - expected).max() <= 1
    assert np.abs(ours[224:] - automatic[224:]).max() > 10, "the hint did not reach its tile"
    assert np.array_equal(ours[:160], automatic[:160]), "tiles far from the hint changed"


# ---- reruns ------------------------------------------------------------------------------------


def later(path: Path, seconds: float = 5.0) -> None:
    """Move a file's modification time forward, as an edit after the run would."""
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + int(seconds * 1e9)))


def test_a_rerun_recolours_a_page_whose_hint_file_was_edited(hint_model, tmp_path):
    source = book(tmp_path / "in")
    hints = tmp_path / "hints"
    hint_file = dots(hints / "001.json", RED)
    run(hint_model, source, tmp_path / "out", hints)
    first = pixels(tmp_path / "out" / "001.png")
    for output in (tmp_path / "out").rglob("*.png"):  # outputs written well after the hints
        later(output)
    unchanged = run(hint_model, source, tmp_path / "out", hints)
    assert (unchanged.colored, unchanged.already_done) == (0, 3)

    dots(hint_file, BLUE)
    later(hint_file, 10.0)
    edited = run(hint_model, source, tmp_path / "out", hints)
    assert (edited.colored, edited.already_done) == (1, 2)
    second = pixels(tmp_path / "out" / "001.png")
    assert np.abs(second - reference(hint_model, source / "001.png", hint_file)).max() <= 1
    assert np.abs(second - first).max() > 10

    for output in (tmp_path / "out").rglob("*.png"):
        later(output, 20.0)
    layer(tmp_path / "hints" / "002.png", 40, 32)  # a page that gets hints for the first time
    later(tmp_path / "hints" / "002.png", 30.0)
    added = run(hint_model, source, tmp_path / "out", hints)
    assert (added.colored, added.already_done) == (1, 2)


def test_a_packed_archive_is_recoloured_when_a_members_hint_file_is_edited(hint_model, tmp_path):
    loose = book(tmp_path / "loose")
    source = cbz(tmp_path / "ch.cbz", {"01.png": loose / "001.png", "02.png": loose / "002.jpg"})
    hints = tmp_path / "hints"
    hint_file = dots(hints / "02.json", RED)
    run(hint_model, source, tmp_path / "out", hints)
    later(tmp_path / "out" / "ch.cbz")
    assert run(hint_model, source, tmp_path / "out", hints).already_done == 2
    dots(hint_file, BLUE)
    later(hint_file, 10.0)
    again = run(hint_model, source, tmp_path / "out", hints)
    assert (again.colored, again.already_done) == (2, 0)
    got = member(tmp_path / "out" / "ch.cbz", "02.png", tmp_path / "got")
    assert np.abs(got - reference(hint_model, loose / "002.jpg", hint_file)).max() <= 1


# ---- what is listed, and what is refused at the start -------------------------------------------


def test_hint_files_that_match_no_page_are_listed_at_the_end(hint_model, tmp_path):
    source = book(tmp_path / "in")
    hints = tmp_path / "hints"
    dots(hints / "001.json", RED)
    dots(hints / "004.json", RED)
    layer(hints / "sub" / "002.png", 40, 32)
    (hints / "notes.txt").write_text("not a hint file")
    messages = []
    summary = run(hint_model, source, tmp_path / "out", hints, messages)
    unmatched = [str(hints / "004.json"), str(hints / "sub" / "002.png")]
    assert summary.unmatched_hints == unmatched
    assert messages[-2:] == [f"hint file matches no page: {path}" for path in unmatched]
    assert "2 hint files match no page (named above)" in summary.line()


@pytest.mark.parametrize("where", ["inside", "same"])
def test_a_hints_folder_inside_the_input_folder_is_refused(hint_model, tmp_path, where):
    source = book(tmp_path / "in")
    hints = source / "hints" if where == "inside" else source
    dots(hints / "001.json", RED)
    with pytest.raises(ColorizeError, match="is inside the input folder") as caught:
        run(hint_model, source, tmp_path / "out", hints)
    assert "\n" not in str(caught.value) and not (tmp_path / "out").exists()


def test_a_missing_hints_folder_and_a_hint_file_for_a_folder_are_refused(hint_model, tmp_path):
    source = book(tmp_path / "in")
    with pytest.raises(ColorizeError, match="hints folder not found"):
        run(hint_model, source, tmp_path / "out", tmp_path / "nowhere")
    with pytest.raises(ColorizeError, match="one hint file goes with one page"):
        run(hint_model, source, tmp_path / "out", dots(tmp_path / "one.json", RED))


def test_a_generator_without_hint_inputs_given_hints_is_one_clear_error(plain_model, tmp_path):
    source = book(tmp_path / "in")
    dots(tmp_path / "hints" / "001.json", RED)
    with pytest.raises(ColorizeError) as caught:
        run(plain_model, source, tmp_path / "out", tmp_path / "hints")
    message = str(caught.value)
    assert "takes no hints" in message and str(plain_model) in message and "\n" not in message
    assert files_under(tmp_path / "out") == []


def test_hints_come_from_the_config(tmp_path):
    from hydra import compose, initialize_config_dir

    from mangacolor.runtime.bundled import config_dir

    with initialize_config_dir(str(config_dir()), version_base="1.3"):
        base = ["ckpt_path=m.pt", "input=in", "output=out"]
        assert ColorizeSettings.from_config(compose("colorize", overrides=base)).hints is None
        cfg = compose("colorize", overrides=[*base, "hints='~/my hints'"])
        assert ColorizeSettings.from_config(cfg).hints == Path.home() / "my hints"


def test_hints_and_pages_may_not_share_a_folder(hint_model, tmp_path):
    source = book(tmp_path / "work" / "in")
    dots(tmp_path / "work" / "001.json", RED)
    with pytest.raises(ColorizeError, match="and the input .* lie one inside the other"):
        run(hint_model, source, tmp_path / "out", tmp_path / "work")
    single = page(tmp_path / "one" / "p.png", 40, 32)
    with pytest.raises(ColorizeError, match="give its hint file: hints=page.json"):
        run(hint_model, single, tmp_path / "out", tmp_path / "one")
    (tmp_path / "out").mkdir()
    with pytest.raises(ColorizeError, match="and the output .* lie one inside the other"):
        run(hint_model, source, tmp_path / "out", tmp_path / "out")
    (tmp_path / "hints").mkdir()
    with pytest.raises(ColorizeError, match="and the output .* lie one inside the other"):
        run(hint_model, source, tmp_path / "hints" / "coloured", tmp_path / "hints")
