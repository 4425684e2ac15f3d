"""Hint files: .json dots and strokes and .png layers read and written, found beside a page, and
every bad file refused in one line naming the file and the field."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from PIL import Image

from mangacolor.hints.marks import Dot, PageHints, Stroke
from mangacolor.inference.hint_files import (
    HintFileError,
    hint_file_for,
    parse_hint_file,
    read_hint_file,
    write_hint_file,
)

PAGE = (400, 300)  # (height, width)
EXAMPLE = {
    "version": 1,
    "hints": [
        {"x": 120, "y": 340, "color": "#d9a066", "size": 7},
        {"points": [[10, 12], [40, 30]], "color": "#3a5fcd", "size": 5},
    ],
}


def write_json(path: Path, document) -> Path:
    path.write_text(document if isinstance(document, str) else json.dumps(document))
    return path


def test_the_documented_example_reads_as_a_dot_and_a_stroke(tmp_path):
    hints = read_hint_file(write_json(tmp_path / "page.json", EXAMPLE), PAGE)
    assert hints.marks == (Dot(120, 340, "#d9a066", 7), Stroke(((10, 12), (40, 30)), "#3a5fcd", 5))
    assert hints.layer is None and hints


def test_marks_written_as_json_read_back_the_same_and_the_file_is_readable(tmp_path):
    stroke = Stroke(((0, 0), (299, 399), (5.25, 6)), "#3a5fcd", 2.5)
    hints = PageHints((Dot(120, 340.5, "#D9A066", 7), stroke))
    path = write_hint_file(tmp_path / "sub" / "page.json", hints)
    assert read_hint_file(path, PAGE) == hints
    text = path.read_text()
    assert '"x": 120, "y": 340.5' in text and len(text.splitlines()) == 4  # one hint a line
    assert [p.name for p in path.parent.iterdir()] == ["page.json"]  # no temporary left beside it
    empty = write_hint_file(tmp_path / "empty.json", PageHints())
    assert read_hint_file(empty, PAGE) == PageHints()


def test_a_png_layer_reads_as_rgba_the_page_s_size_and_round_trips(tmp_path):
    layer = torch.zeros(4, *PAGE, dtype=torch.uint8)
    layer[:, 10:20, 30:40] = torch.tensor([200, 100, 50, 255], dtype=torch.uint8)[:, None, None]
    layer[:, 50, 60] = torch.tensor([1, 2, 3, 9], dtype=torch.uint8)
    path = write_hint_file(tmp_path / "page.png", PageHints(layer=layer))
    hints = read_hint_file(path, PAGE)
    assert torch.equal(hints.layer, layer) and hints.marks == ()


def test_a_png_with_transparency_in_another_mode_is_taken_as_rgba(tmp_path):
    grey_alpha = Image.new("LA", (PAGE[1], PAGE[0]), (0, 0))
    grey_alpha.putpixel((5, 7), (128, 255))
    grey_alpha.save(tmp_path / "page.png")
    layer = read_hint_file(tmp_path / "page.png", PAGE).layer
    assert layer.shape == (4, *PAGE) and layer[:, 7, 5].tolist() == [128, 128, 128, 255]
    assert int((layer[3] > 0).sum()) == 1


def test_writing_marks_as_png_or_a_layer_as_json_is_refused(tmp_path):
    with pytest.raises(ValueError, match="written as .json"):
        write_hint_file(tmp_path / "page.png", PageHints((Dot(1, 1, "#000000", 1),)))
    with pytest.raises(ValueError, match="written as .png"):
        layer = torch.zeros(4, 2, 2, dtype=torch.uint8)
        write_hint_file(tmp_path / "page.json", PageHints(layer=layer))


def dot(**changes):
    return {**{"x": 10, "y": 20, "color": "#d9a066", "size": 7}, **changes}


BAD_JSON = [
    ("{not json", "json", "not valid JSON"),
    ("[1, 2]", "json", "an object"),
    ({"hints": []}, "version", "missing"),
    ({"version": 2, "hints": []}, "version", "2 is not a hint file version"),
    ({"version": True, "hints": []}, "version", "true is not a hint file version"),
    ({"version": 1, "hints": [], "page": "p1"}, "page", "unknown field"),
    ({"version": 1}, "hints", "missing"),
    ({"version": 1, "hints": {"x": 1}}, "hints", "a list of dots and strokes"),
    ({"version": 1, "hints": [7]}, "hints[0]", "a dot or a stroke"),
    (
        {"version": 1, "hints": [dot(), {"color": "#ffffff", "size": 3}]},
        "hints[1]",
        "neither a dot",
    ),
    ({"version": 1, "hints": [{**dot(), "points": [[1, 2]]}]}, "hints[0]", "neither a dot"),
    ({"version": 1, "hints": [{"x": 1, "color": "#ffffff", "size": 3}]}, "hints[0].y", "missing"),
    ({"version": 1, "hints": [dot(weight=2)]}, "hints[0].weight", "unknown field"),
    (
        {"version": 1, "hints": [{"points": [[1, 2]], "color": "#ffffff"}]},
        "hints[0].size",
        "missing",
    ),
    ({"version": 1, "hints": [dot(x=300)]}, "hints[0].x", "outside the page"),
    ({"version": 1, "hints": [dot(y=-1)]}, "hints[0].y", "outside the page"),
    ({"version": 1, "hints": [dot(x="10")]}, "hints[0].x", "must be a number"),
    (
        {
            "version": 1,
            "hints": [dot(), {"points": [[1, 2], [5, 400]], "color": "#ffffff", "size": 3}],
        },
        "hints[1].points[1]",
        "outside the page",
    ),
    (
        {"version": 1, "hints": [{"points": [[1, 2], [5]], "color": "#ffffff", "size": 3}]},
        "hints[0].points[1]",
        "a point [x, y]",
    ),
    (
        {"version": 1, "hints": [{"points": [], "color": "#ffffff", "size": 3}]},
        "hints[0].points",
        "at least one",
    ),
    ({"version": 1, "hints": [dot(color="red")]}, "hints[0].color", "'#rrggbb'"),
    ({"version": 1, "hints": [dot(color="#12345")]}, "hints[0].color", "'#rrggbb'"),
    ({"version": 1, "hints": [dot(size=0)]}, "hints[0].size", "above 0"),
    ({"version": 1, "hints": [dot(size=-3)]}, "hints[0].size", "above 0"),
    ({"version": 1, "hints": [dot(size=5000)]}, "hints[0].size", "at most the page's longer side"),
    (
        '{"version": 1, "hints": [{"x": 1, "y": 2, "color": "#ffffff", "size": NaN}]}',
        "hints[0].size",
        "above 0",
    ),
]


@pytest.mark.parametrize("document,field,problem", BAD_JSON)
def test_a_bad_json_file_is_one_line_naming_the_file_and_the_field(
    tmp_path, document, field, problem
):
    path = write_json(tmp_path / "page 3.json", document)
    with pytest.raises(HintFileError) as caught:
        read_hint_file(path, PAGE)
    message = str(caught.value)
    assert message.startswith(f"{path}: {field}: ") and problem in message, message
    assert "\n" not in message and caught.value.field == field


def test_a_json_file_that_is_not_utf8_is_named(tmp_path):
    path = tmp_path / "page.json"
    path.write_bytes(b'{"version": 1, "hints": ["\xff"]}')
    with pytest.raises(HintFileError, match=r"page.json: json: not UTF-8"):
        read_hint_file(path, PAGE)


def save_png(path: Path, mode: str, size, **info) -> Path:
    Image.new(mode, size).save(path, **info)
    return path


def test_a_bad_png_layer_is_one_line_naming_the_file_and_the_field(tmp_path):
    size = (PAGE[1], PAGE[0])  # Pillow's (width, height)
    cases = [
        (
            save_png(tmp_path / "small.png", "RGBA", (PAGE[1], PAGE[0] - 1)),
            "layer",
            f"{PAGE[1]}x{PAGE[0] - 1} pixels, but the page is {PAGE[1]}x{PAGE[0]}",
        ),
        (save_png(tmp_path / "opaque.png", "RGB", size), "layer", "RGB image without transparency"),
        (save_png(tmp_path / "grey.png", "L", size), "layer", "L image without transparency"),
        (save_png(tmp_path / "jpeg.png", "RGB", size, format="JPEG"), "png", "a JPEG image"),
    ]
    whole = tmp_path / "whole.png"
    noise = torch.randint(0, 256, (PAGE[0], PAGE[1], 4), dtype=torch.uint8)
    Image.fromarray(noise.numpy()).save(whole)
    broken = tmp_path / "broken.png"
    broken.write_bytes(whole.read_bytes()[:2000])  # the page's size in the header, pixels cut short
    cases.append((broken, "png", "cannot be read"))
    (tmp_path / "text.png").write_text("not an image")
    cases.append((tmp_path / "text.png", "png", "cannot be read"))
    for path, field, problem in cases:
        with pytest.raises(HintFileError) as caught:
            read_hint_file(path, PAGE)
        message = str(caught.value)
        assert message.startswith(f"{path}: {field}: ") and problem in message, message
        assert "\n" not in message


def test_a_missing_file_or_another_suffix_is_named(tmp_path):
    with pytest.raises(HintFileError, match=r"gone.json: file: cannot be read"):
        read_hint_file(tmp_path / "gone.json", PAGE)
    with pytest.raises(HintFileError, match=r"page.txt: file: not a hint file"):
        read_hint_file(write_json(tmp_path / "page.txt", EXAMPLE), PAGE)


def test_hint_bytes_parse_as_their_name_says(tmp_path):
    hints = parse_hint_file(json.dumps(EXAMPLE).encode(), "chapter/page.json", PAGE)
    assert hints.marks[0] == Dot(120, 340, "#d9a066", 7)
    with pytest.raises(HintFileError, match="^upload.json: version: "):
        parse_hint_file(b'{"version": 9, "hints": []}', "upload.json", PAGE)


def test_a_page_s_hint_file_is_found_at_its_relative_path_with_json_or_png(tmp_path):
    hints = tmp_path / "hints"
    assert hint_file_for(hints, "chapter 1/page.01.jpg") is None
    (hints / "chapter 1").mkdir(parents=True)
    json_file = write_json(hints / "chapter 1" / "page.01.json", EXAMPLE)
    assert hint_file_for(hints, Path("chapter 1") / "page.01.jpg") == json_file
    assert hint_file_for(hints, "chapter 1/page.01.png") == json_file  # a .png page's .json
    assert hint_file_for(hints, "page.01.jpg") is None  # the same name elsewhere is another page's
    png_file = save_png(hints / "chapter 1" / "page 2.png", "RGBA", (3, 3))
    assert hint_file_for(hints, "chapter 1/page 2.webp") == png_file
    assert hint_file_for(hints, "archive.cbz/inner/page 2.jpg") is None
    with pytest.raises(ValueError, match="relative to its input folder"):
        hint_file_for(hints, tmp_path / "page.jpg")


def test_a_page_with_both_a_json_and_a_png_is_refused(tmp_path):
    write_json(tmp_path / "page.json", EXAMPLE)
    save_png(tmp_path / "page.png", "RGBA", (3, 3))
    with pytest.raises(HintFileError) as caught:
        hint_file_for(tmp_path, "page.jpg")
    assert str(caught.value) == (
        f"{tmp_path / 'page.json'}: file: page.json and page.png both "
        "give hints for the page page.jpg; keep one"
    )
