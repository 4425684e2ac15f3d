"""Comic archives: safe listing (traversal, bombs, junk entries), bounded reads, ordered writing."""

from __future__ import annotations

import io
import os
import struct
import zipfile
from pathlib import Path, PurePosixPath

import pytest
from PIL import Image

from mangacolor.colorize.archives import (
    ArchiveError,
    ArchiveLimits,
    find_archives,
    list_archive_pages,
    read_archive_entry,
    safe_relative_name,
    write_cbz,
)


def png(width: int = 12, height: int = 9, color=(200, 40, 40)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), color).save(buffer, format="PNG")
    return buffer.getvalue()


def make_zip(
    path: Path, entries: list[tuple[str, bytes]], compression=zipfile.ZIP_DEFLATED
) -> Path:
    with zipfile.ZipFile(path, "w", compression=compression) as archive:
        for name, data in entries:
            archive.writestr(zipfile.ZipInfo(name), data, compress_type=compression)
    return path


@pytest.mark.parametrize(
    "name",
    [
        "../evil.png",
        "a/../../evil.png",
        "/abs/evil.png",
        "..\\evil.png",
        "a\\..\\..\\evil.png",
        "C:/evil.png",
        "c:evil.png",
        "\\\\server\\evil.png",
        "..",
        "",
        "nul\x00.png",
    ],
)
def test_names_leaving_the_folder_are_not_safe(name):
    assert safe_relative_name(name) is None


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("001.png", "001.png"),
        ("ch 1/002.jpg", "ch 1/002.jpg"),
        ("./a//b.png", "a/b.png"),
        ("win\\sub\\p.png", "win/sub/p.png"),
        ("a..b.png", "a..b.png"),
        ("ページ/1.png", "ページ/1.png"),
    ],
)
def test_ordinary_names_map_to_relative_paths(name, expected):
    assert safe_relative_name(name) == PurePosixPath(expected)


def test_pages_are_listed_in_archive_order_without_junk_entries(tmp_path):
    archive = make_zip(
        tmp_path / "chapter.cbz",
        [
            ("010.png", png()),
            ("__MACOSX/._010.png", b"\x00\x05\x16\x07"),
            ("002.png", png()),
            ("ComicInfo.xml", b"<ComicInfo/>"),
            ("sub/", b""),
            (".hidden.png", png()),
            ("sub/001.JPG", png()),
            ("thumbs/._x.png", b"junk"),
        ],
    )
    pages = list_archive_pages(archive)
    assert [p.name for p in pages] == ["010.png", "002.png", "sub/001.JPG"]
    with zipfile.ZipFile(archive) as opened:
        assert read_archive_entry(opened, pages[0]) == png()


@pytest.mark.parametrize(
    "evil", ["../evil.png", "/tmp/evil.png", "a/../../evil.png", "..\\evil.png"]
)
def test_an_entry_escaping_the_folder_refuses_the_whole_archive_naming_it(tmp_path, evil):
    archive = make_zip(tmp_path / "evil.cbz", [("001.png", png()), (evil, png())])
    with pytest.raises(ArchiveError, match="outside the output folder") as caught:
        list_archive_pages(archive)
    assert evil in str(caught.value) or repr(evil)[1:-1] in str(caught.value)
    assert str(archive) in str(caught.value)


def test_an_entry_over_the_size_limit_is_refused(tmp_path):
    archive = make_zip(tmp_path / "big.cbz", [("001.png", png()), ("002.png", png() + bytes(5000))])
    with pytest.raises(ArchiveError, match="max_entry_bytes"):
        list_archive_pages(archive, ArchiveLimits(max_entry_bytes=4000))


def test_pages_over_the_total_limit_are_refused(tmp_path):
    archive = make_zip(tmp_path / "many.cbz", [(f"{i:03d}.png", png()) for i in range(10)])
    with pytest.raises(ArchiveError, match="max_total_bytes"):
        list_archive_pages(archive, ArchiveLimits(max_total_bytes=5 * len(png())))


def test_a_zip_bomb_by_compression_ratio_is_refused_before_reading(tmp_path):
    bomb = make_zip(
        tmp_path / "bomb.cbz", [("001.png", png()), ("002.png", bytes(4 << 20))]
    )  # ~1000:1
    with pytest.raises(ArchiveError, match="max_ratio"):
        list_archive_pages(bomb)
    # A small blank page compresses as well but is harmless: only large entries are ratio-checked.
    small = make_zip(tmp_path / "blank.cbz", [("001.bmp", bytes(100_000))])
    assert len(list_archive_pages(small)) == 1


def test_too_many_entries_are_refused(tmp_path):
    archive = make_zip(tmp_path / "n.cbz", [(f"{i}.png", b"x") for i in range(6)])
    with pytest.raises(ArchiveError, match="max_entries"):
        list_archive_pages(archive, ArchiveLimits(max_entries=5))


def test_empty_corrupt_and_missing_archives_are_clear_errors(tmp_path):
    make_zip(tmp_path / "empty.cbz", [])
    make_zip(tmp_path / "text.cbz", [("readme.txt", b"hello")])
    (tmp_path / "junk.cbz").write_bytes(b"this is not a zip file at all" * 10)
    good = make_zip(tmp_path / "good.cbz", [("001.png", png()), ("002.png", png())])
    (tmp_path / "truncated.cbz").write_bytes(
        good.read_bytes()[:-30]
    )  # end of central directory gone
    for name, reason in [
        ("empty.cbz", "no image pages"),
        ("text.cbz", "no image pages"),
        ("junk.cbz", "not a readable zip"),
        ("truncated.cbz", "not a readable zip"),
        ("missing.cbz", "not found"),
    ]:
        with pytest.raises(ArchiveError, match=reason) as caught:
            list_archive_pages(tmp_path / name)
        assert name in str(caught.value)


def test_a_damaged_entry_is_an_archive_error_naming_it(tmp_path):
    data = png(64, 64) * 4
    archive = make_zip(tmp_path / "damaged.cbz", [("001.png", data)])
    raw = bytearray(archive.read_bytes())
    start = raw.index(b"PK\x03\x04") + 30 + len("001.png")
    raw[start + 10 : start + 60] = bytes(50)  # overwrite deflated data
    archive.write_bytes(bytes(raw))
    pages = list_archive_pages(archive)
    with zipfile.ZipFile(archive) as opened, pytest.raises(ArchiveError, match="001.png"):
        read_archive_entry(opened, pages[0])


def test_an_entry_never_yields_more_than_its_declared_size(tmp_path):
    """A header that understates the size (to slip past the limits) cannot make us read more."""
    data = bytes(range(256)) * 40
    archive = make_zip(tmp_path / "liar.cbz", [("001.png", data)])
    raw = bytearray(archive.read_bytes())
    local, central = raw.index(b"PK\x03\x04"), raw.index(b"PK\x01\x02")
    struct.pack_into("<I", raw, local + 22, 100)  # local header: uncompressed size
    struct.pack_into("<I", raw, central + 24, 100)  # central directory: uncompressed size
    archive.write_bytes(bytes(raw))
    pages = list_archive_pages(archive, ArchiveLimits(max_entry_bytes=200))
    with zipfile.ZipFile(archive) as opened:
        try:
            assert len(read_archive_entry(opened, pages[0])) <= 100
        except ArchiveError:
            pass  # the CRC check may catch it too; either way no more than 100 bytes came out


def test_write_cbz_keeps_order_and_leaves_no_temporary_file(tmp_path):
    files = []
    for name in ["c.png", "a.png", "b.png"]:
        (tmp_path / name).write_bytes(png())
        files.append((f"pages/{name}", tmp_path / name))
    out = write_cbz(tmp_path / "out" / "book.cbz", files)
    with zipfile.ZipFile(out) as archive:
        assert archive.namelist() == ["pages/c.png", "pages/a.png", "pages/b.png"]
        assert all(info.compress_type == zipfile.ZIP_STORED for info in archive.infolist())
    assert os.listdir(tmp_path / "out") == ["book.cbz"]


def test_find_archives_is_recursive_and_skips_symlinks_leaving_the_folder(tmp_path):
    root = tmp_path / "library"
    make_zip(
        (root / "series" / "v1").mkdir(parents=True) or root / "series" / "v1" / "ch1.CBZ",
        [("1.png", png())],
    )
    make_zip(root / "ch2.zip", [("1.png", png())])
    (root / "notes.txt").write_text("x")
    outside = make_zip(tmp_path / "outside.cbz", [("1.png", png())])
    (root / "link.cbz").symlink_to(outside)
    unlisted: dict[str, str] = {}
    found = find_archives(root, unlisted)
    assert [p.relative_to(root).as_posix() for p in found] == ["ch2.zip", "series/v1/ch1.CBZ"]
    assert "outside" in unlisted[str(root / "link.cbz")]


def test_limits_must_be_positive():
    with pytest.raises(ValueError, match="max_ratio"):
        ArchiveLimits(max_ratio=0)


def test_find_archives_names_what_it_skips_as_find_images_does(tmp_path, monkeypatch):
    root = tmp_path / "library"
    make_zip(
        (root / "locked").mkdir(parents=True) or root / "locked" / "ch1.cbz", [("1.png", png())]
    )
    (root / "volume.cbz").mkdir()  # a folder named like an archive
    make_zip(root / "ch2.cbz", [("1.png", png())])
    scandir = os.scandir

    def unreadable_locked(path="."):
        if Path(path).name == "locked":
            raise PermissionError(13, "Permission denied", str(path))
        return scandir(path)

    monkeypatch.setattr(os, "scandir", unreadable_locked)  # as chmod 000 would, even for root
    unlisted: dict[str, str] = {}
    assert find_archives(root, unlisted) == [root / "ch2.cbz"]
    assert unlisted == {
        str(root / "volume.cbz"): "is a directory, not an archive file",
        str(root / "locked"): "cannot list this folder: Permission denied",
    }
    with pytest.warns(UserWarning) as caught:
        find_archives(root)
    assert sorted(str(warning.message).split(": skipped, ")[0] for warning in caught) == sorted(
        unlisted
    )
