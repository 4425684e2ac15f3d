"""Finding and decoding page files: awkward files load correctly, hostile ones are refused clearly."""

from __future__ import annotations

import struct
import threading
import warnings
from pathlib import Path

import pytest
import torch
from helpers.hostile_files import HostileFolder, make_hostile_folder, two_tone
from PIL import Image

from mangacolor.data import files
from mangacolor.data.files import (
    UnreadableImage,
    decode_image,
    find_images,
    max_file_bytes,
    printable,
    read_image,
    split_by_hash,
)


@pytest.fixture(scope="module")
def hostile(tmp_path_factory) -> HostileFolder:
    return make_hostile_folder(tmp_path_factory.mktemp("hostile"))


def test_find_images_lists_every_good_file_and_names_each_entry_it_skips(hostile):
    unlisted: dict[str, str] = {}
    found = {str(p.relative_to(hostile.folder)) for p in find_images(hostile.folder, unlisted)}
    unlisted_names = {str(Path(p).relative_to(hostile.folder)) for p in unlisted}
    assert set(hostile.good) <= found
    assert found | unlisted_names == set(hostile.good) | set(
        hostile.unreadable
    )  # nothing vanishes silently
    assert found.isdisjoint(unlisted_names)
    # What find_images lets through is a regular file: reading it cannot hang or leave the folder.
    for name in unlisted_names:
        assert any(
            word in unlisted[str(hostile.path(name))] for word in hostile.unreadable[name]
        ), (name, unlisted)


def test_find_images_without_a_record_warns_naming_each_skipped_entry(hostile):
    with pytest.warns(UserWarning) as caught:
        find_images(hostile.folder)
    messages = "\n".join(str(w.message) for w in caught)
    for name in ("x.jpg", "outside link.jpg", "broken link.png", "pipe.jpg"):
        assert name in messages


def test_every_good_file_decodes_to_its_size_orientation_and_colours(hostile):
    problems = []
    for name, expected in hostile.good.items():
        try:
            image = read_image(hostile.path(name))
        except UnreadableImage as error:
            problems.append(f"{printable(name)}: refused: {error.reason}")
            continue
        if (
            image.dtype != torch.uint8
            or image.shape[0] != 3
            or tuple(image.shape[1:]) != expected.size
        ):
            problems.append(
                f"{printable(name)}: got {image.dtype} {tuple(image.shape)}, expected (3, *{expected.size})"
            )
            continue
        for y, x, rgb in expected.probes:
            got = tuple(image[:, y, x].tolist())
            if max(abs(a - b) for a, b in zip(got, rgb, strict=True)) > expected.tolerance:
                problems.append(f"{printable(name)}: pixel (y={y}, x={x}) is {got}, expected {rgb}")
    assert not problems, "\n".join(problems)


def test_every_bad_entry_is_refused_with_a_reason_naming_the_file(hostile):
    """Through the pipeline (find, then read): each bad entry stops at one of the two, clearly."""
    unlisted: dict[str, str] = {}
    listed = set(find_images(hostile.folder, unlisted))
    for name, words in hostile.unreadable.items():
        path = hostile.path(name)
        if str(path) in unlisted:
            reason = unlisted[str(path)]
        else:
            assert path in listed
            with pytest.raises(UnreadableImage) as caught:
                read_image(path)
            assert str(path) in str(caught.value)
            reason = caught.value.reason
        assert any(word in reason for word in words), (
            f"{name}: reason {reason!r} lacks any of {words}"
        )


def read_into(path: Path, outcome: list) -> None:
    """read_image(path), its result or error appended to `outcome` (run in a thread)."""
    try:
        read_image(path)
        outcome.append("decoded")
    except UnreadableImage as error:
        outcome.append(error)


def test_read_image_itself_refuses_directories_pipes_and_dead_links(hostile):
    """Commands that take file names directly (colourise) get the same clear errors."""
    for name in ("x.jpg", "broken link.png", "loop.png", "pipe.jpg"):
        if name not in hostile.unreadable:
            continue
        outcome: list = []
        reader = threading.Thread(target=read_into, args=(hostile.path(name), outcome), daemon=True)
        reader.start()
        reader.join(
            60
        )  # a generous guard against a hang (a pipe blocks forever), not a timing check
        assert outcome and isinstance(outcome[0], UnreadableImage), (
            f"{name}: {outcome or 'still reading'}"
        )
        assert name in str(outcome[0])


def test_the_pixel_limit_is_configurable_and_named(tmp_path):
    path = tmp_path / "page.png"
    two_tone(40, 30, (255, 0, 0), (0, 0, 255)).save(path)
    assert read_image(path, max_pixels=1200).shape == (3, 30, 40)
    with pytest.raises(
        UnreadableImage, match=r"40x30 pixels, over the limit of 1199 \(max_pixels\)"
    ):
        read_image(path, max_pixels=1199)


def test_a_file_too_big_for_any_image_within_the_limit_is_refused_before_reading(tmp_path):
    path = tmp_path / "huge.png"
    with open(path, "wb") as handle:  # sparse: costs no disk
        handle.truncate(max_file_bytes(100) + 1)
    with pytest.raises(UnreadableImage, match="too large"):
        read_image(path, max_pixels=100)


def test_an_unexpected_decoder_exception_becomes_an_unreadable_page(tmp_path, monkeypatch):
    path = tmp_path / "page.png"
    two_tone(8, 8, (255, 0, 0), (0, 0, 255)).save(path)

    def broken_exif(image):
        raise struct.error("unpack requires a buffer of 4 bytes")  # as a malformed EXIF block does

    monkeypatch.setattr(files.ImageOps, "exif_transpose", broken_exif)
    with pytest.raises(UnreadableImage, match="page.png: damaged PNG file: unpack requires"):
        read_image(path)


def test_decode_image_names_what_it_was_given():
    with pytest.raises(UnreadableImage, match="^upload.jpg: empty file"):
        decode_image(b"", "upload.jpg")
    with pytest.raises(UnreadableImage, match="^upload.jpg: a text file"):
        decode_image(b"hello\n", "upload.jpg")


def test_a_non_utf8_name_prints_without_crashing():
    name = (
        Path("pages") / "caf\udce9.png"
    )  # the str os.fsdecode gives for the Latin-1 bytes caf\xe9
    message = str(UnreadableImage(name, "empty file"))
    assert message == "pages/caf\\udce9.png: empty file"
    message.encode("utf-8")  # printable anywhere


def test_find_images_is_recursive_sorted_and_case_blind(tmp_path):
    for name in ("b.PNG", "a.jpg", "sub/c.JpEg", "notes.txt", ".hidden/d.webp"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (4, 4)).save(tmp_path / name, format="PNG") if name != "notes.txt" else (
            tmp_path / name
        ).write_text("x")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing to warn about in a clean folder
        found = find_images(tmp_path)
    assert [p.relative_to(tmp_path).as_posix() for p in found] == [
        ".hidden/d.webp",
        "a.jpg",
        "b.PNG",
        "sub/c.JpEg",
    ]


def test_find_images_follows_symlinks_that_stay_inside_the_folder(tmp_path):
    Image.new("RGB", (4, 4)).save(tmp_path / "a.png")
    (tmp_path / "alias.png").symlink_to(tmp_path / "a.png")
    unlisted: dict[str, str] = {}
    assert [p.name for p in find_images(tmp_path, unlisted)] == [
        "a.png",
        "alias.png",
    ] and not unlisted


def test_find_images_of_a_missing_folder_says_so(tmp_path):
    with pytest.raises(FileNotFoundError, match="image folder not found"):
        find_images(tmp_path / "nope")


def test_split_by_hash_is_stable_when_pages_are_added(tmp_path):
    paths = [tmp_path / f"p{i}.png" for i in range(200)]
    train, val = split_by_hash(paths, tmp_path, 0.2)
    assert set(train) | set(val) == set(paths) and 20 < len(val) < 60
    train2, val2 = split_by_hash(paths + [tmp_path / "new.png"], tmp_path, 0.2)
    assert set(val) <= set(val2) and set(train) <= set(train2)


def test_split_by_hash_takes_every_name_the_folder_can_hold(hostile):
    paths = find_images(hostile.folder, {})
    train, val = split_by_hash(paths, hostile.folder, 0.5)
    assert sorted(train + val) == paths


def test_a_plain_jpeg_decodes_through_libjpeg_turbo_not_pillow(monkeypatch):
    # torchvision 0.29 deprecates its decoders with a DeprecationWarning on every call: escalating
    # every warning to an error (to catch damaged streams) sent each JPEG to the slower Pillow.
    import io

    image = Image.new("RGB", (48, 32), (200, 40, 90))
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=95)
    assert files._decode_jpeg_torchvision(buffer.getvalue()) is not None

    def pillow_must_not_decode(*args, **kwargs):
        raise AssertionError("a plain RGB JPEG went to Pillow")

    monkeypatch.setattr(files, "_pillow_to_rgb", pillow_must_not_decode)
    decoded = decode_image(buffer.getvalue(), "page.jpg")
    assert decoded.shape == (3, 32, 48)
