"""mangacolor.colorize.job end to end: images, folder trees, .cbz archives, reruns, hostile input,
compose modes. The console script's own tests are in tests/commands/test_colorize.py."""

from __future__ import annotations

import errno
import io
import os
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers.colorize_pages import TINY, files_under, load, page, page_bytes, strong_color_generator
from hydra import compose, initialize_config_dir
from PIL import Image

from mangacolor.color import rgb_to_scaled_lab
from mangacolor.colorize.archives import ArchiveError, ArchiveLimits
from mangacolor.colorize.job import colorize
from mangacolor.colorize.settings import ColorizeError, ColorizeSettings
from mangacolor.inference.generator_file import export_generator
from mangacolor.runtime.bundled import config_dir
from mangacolor.runtime.config_errors import ConfigError


@pytest.fixture(scope="module")
def generator_path(tmp_path_factory) -> Path:
    return strong_color_generator(tmp_path_factory.mktemp("model"))


def lightness(image: Image.Image) -> torch.Tensor:
    rgb = torch.from_numpy(np.array(image.convert("RGB"))).permute(2, 0, 1)[None].float() / 255
    return (rgb_to_scaled_lab(rgb)[0] + 1) * 50


def run(generator_path: Path, source: Path, output: Path, messages: list | None = None, **options):
    settings = ColorizeSettings(
        generator_path, source, output, progress=False, num_workers=2, **options
    )
    return colorize(settings, say=(messages.append if messages is not None else lambda m: None))


def test_an_odd_sized_page_comes_back_at_its_size_with_its_lightness(generator_path, tmp_path):
    source = page(tmp_path / "in" / "odd page.png", 123, 77, seed=1)
    summary = run(generator_path, source, tmp_path / "out")
    result = load(tmp_path / "out" / "odd page.png")
    assert result.size == (123, 77) and result.mode == "RGB"
    assert (lightness(result) - lightness(load(source))).abs().max() < 1.0
    assert np.asarray(result).std(axis=2).mean() > 5  # coloured, not grey
    assert summary.colored == 1 and summary.already_done == 0 and summary.unreadable == []


def test_full_resolution_and_a_chosen_working_size_also_keep_size_and_lightness(
    generator_path, tmp_path
):
    source = page(tmp_path / "p.png", 45, 61, seed=2)
    for options in ({"full_resolution": True}, {"short_side": 40}):
        out = tmp_path / str(sorted(options))
        run(generator_path, source, out, **options)
        result = load(out / "p.png")
        assert result.size == (45, 61)
        assert (lightness(result) - lightness(load(source))).abs().max() < 1.0


def test_a_folder_tree_is_mirrored_with_the_chosen_format(generator_path, tmp_path):
    source = tmp_path / "chapter one"
    page(source / "001.png", 40, 56)
    page(source / "002.JPG", 56, 40, quality=90)
    page(source / "extras" / "ページ 3.png", 33, 33)
    page(source / "extras" / "deeper" / "4.webp", 20, 30)
    page(
        source / "extras" / "deeper" / "4.png", 20, 30
    )  # same stem: must not overwrite 4.webp's output
    (source / "notes.txt").write_text("not a page")
    summary = run(generator_path, source, tmp_path / "out", format="webp", quality=80)
    assert files_under(tmp_path / "out") == [
        "001.webp",
        "002.webp",
        "extras/deeper/4.webp",
        "extras/deeper/4_webp.webp",
        "extras/ページ 3.webp",
    ]
    assert load(tmp_path / "out" / "002.webp").size == (56, 40)
    assert summary.colored == 5


def test_a_cbz_round_trips_with_page_order_and_sizes_kept(generator_path, tmp_path):
    order = ["010.png", "002.jpg", "sub/001.png"]
    sizes = {"010.png": (31, 47), "002.jpg": (50, 20), "sub/001.png": (17, 9)}
    source = tmp_path / "[Group] 漫画 (Vol 1).cbz"
    with zipfile.ZipFile(source, "w") as archive:
        for name in order:
            archive.writestr(
                name, page_bytes(*sizes[name], fmt="JPEG" if name.endswith("jpg") else "PNG")
            )
            archive.writestr("__MACOSX/._" + name.split("/")[-1], b"\x00\x05\x16\x07")
        archive.writestr("ComicInfo.xml", "<ComicInfo/>")
    summary = run(generator_path, source, tmp_path / "out")
    assert files_under(tmp_path / "out") == ["[Group] 漫画 (Vol 1).cbz"]  # staging folder gone
    with zipfile.ZipFile(tmp_path / "out" / source.name) as result:
        assert result.namelist() == order
        for name in order:
            assert Image.open(io.BytesIO(result.read(name))).size == sizes[name]
    assert summary.colored == 3


def test_a_rerun_skips_done_pages_and_overwrite_redoes_them(generator_path, tmp_path):
    source = tmp_path / "in"
    for i in range(3):
        page(source / f"{i}.png", 30, 40, seed=i)
    first = run(generator_path, source, tmp_path / "out")
    stamps = {p: p.stat().st_mtime_ns for p in (tmp_path / "out").iterdir()}
    (tmp_path / "out" / "1.png").unlink()  # as if interrupted before page 1 was written
    second = run(generator_path, source, tmp_path / "out")
    assert (first.colored, second.colored, second.already_done) == (3, 1, 2)
    assert all(
        p.stat().st_mtime_ns == t for p, t in stamps.items() if p.exists() and p.name != "1.png"
    )
    third = run(generator_path, source, tmp_path / "out", overwrite=True)
    assert (third.colored, third.already_done) == (3, 0)


def test_an_interrupted_archive_resumes_from_its_staged_pages(generator_path, tmp_path):
    source = tmp_path / "ch.cbz"
    with zipfile.ZipFile(source, "w") as archive:
        for i in range(3):
            archive.writestr(f"{i}.png", page_bytes(20, 20, seed=i))
    staging = tmp_path / "out" / ".ch.cbz.pages"
    page(
        staging / "00001.png", 20, 20
    )  # page 1 (staged by its index) finished before the interruption
    summary = run(generator_path, source, tmp_path / "out")
    assert (summary.colored, summary.already_done) == (2, 1)
    with zipfile.ZipFile(tmp_path / "out" / "ch.cbz") as result:
        assert result.namelist() == ["0.png", "1.png", "2.png"]
    assert not staging.exists()
    again = run(generator_path, source, tmp_path / "out")
    assert (again.colored, again.already_done) == (0, 3)


def test_archive_entry_names_that_cannot_be_file_names_still_colour_the_whole_archive(
    generator_path, tmp_path
):
    # A file and a folder of one name, a name too long for any file system, names differing only in
    # case: pages are staged under their index, so only the packed archive uses these names.
    order = ["x.png", "x.png/y.png", "n" * 300 + ".png", "Page.png", "page.png"]
    library = tmp_path / "library"
    library.mkdir()
    for book in ("a.cbz", "b.cbz"):
        with zipfile.ZipFile(library / book, "w") as archive:
            for seed, name in enumerate(order):
                archive.writestr(name, page_bytes(20 + seed, 20, seed=seed))
    summary = run(generator_path, library, tmp_path / "out")
    assert (summary.colored, summary.unreadable, summary.refused) == (10, [], [])
    assert files_under(tmp_path / "out") == ["a.cbz", "b.cbz"]  # both packed, staging folders gone
    for book in ("a.cbz", "b.cbz"):
        with zipfile.ZipFile(tmp_path / "out" / book) as result:
            assert result.namelist() == order
            assert [Image.open(io.BytesIO(result.read(name))).size[0] for name in order] == [
                20,
                21,
                22,
                23,
                24,
            ]


@pytest.mark.parametrize(
    "evil", ["../../escaped.png", "/tmp/mangacolor-escaped.png", "..\\escaped.png"]
)
def test_an_archive_escaping_the_output_is_refused_and_writes_nothing(
    generator_path, tmp_path, evil
):
    source = tmp_path / "evil.cbz"
    with zipfile.ZipFile(source, "w") as archive:
        archive.writestr("001.png", page_bytes(20, 20))
        archive.writestr(zipfile.ZipInfo(evil), page_bytes(20, 20))
    before = set(files_under(tmp_path))
    with pytest.raises(ArchiveError, match="outside the output folder"):
        run(generator_path, source, tmp_path / "deep" / "out")
    assert set(files_under(tmp_path)) == before
    assert not Path("/tmp/mangacolor-escaped.png").exists()


def test_zip_bombs_are_refused_by_ratio_and_by_size(generator_path, tmp_path):
    library = tmp_path / "library"
    library.mkdir()
    with zipfile.ZipFile(library / "ratio.cbz", "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("001.png", page_bytes(20, 20))
        archive.writestr("002.png", bytes(1_200_000))  # zeros deflate about 1000:1
    with zipfile.ZipFile(library / "size.cbz", "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("001.png", page_bytes(20, 20))
        archive.writestr(
            "002.png", np.random.default_rng(0).bytes(1_600_000)
        )  # incompressible, too big
    page(library / "fine.png", 20, 20)
    messages: list[str] = []
    summary = run(
        generator_path,
        library,
        tmp_path / "out",
        messages,
        archive_limits=ArchiveLimits(max_entry_bytes=1_500_000),
    )
    assert files_under(tmp_path / "out") == ["fine.png"]  # the good page is still coloured
    assert len(summary.refused) == 2
    assert any("ratio.cbz" in m and "max_ratio" in m for m in messages)
    assert any("size.cbz" in m and "max_entry_bytes" in m for m in messages)
    assert "2 archives refused" in summary.line()


def test_empty_and_corrupt_archives_are_clear_errors(generator_path, tmp_path):
    (tmp_path / "corrupt.cbz").write_bytes(b"PK\x03\x04 garbage" * 20)
    with zipfile.ZipFile(tmp_path / "empty.cbz", "w"):
        pass
    with pytest.raises(ArchiveError, match="corrupt.cbz: not a readable zip"):
        run(generator_path, tmp_path / "corrupt.cbz", tmp_path / "out")
    with pytest.raises(ArchiveError, match="empty.cbz: no image pages"):
        run(generator_path, tmp_path / "empty.cbz", tmp_path / "out")


def test_unreadable_pages_are_skipped_named_and_counted(generator_path, tmp_path):
    source = tmp_path / "in"
    page(source / "good.png", 20, 20)
    (source / "empty.jpg").write_bytes(b"")
    (source / "web page.png").write_text("<!DOCTYPE html><html></html>")
    page(source / "huge.png", 60, 60)
    with zipfile.ZipFile(source / "book.cbz", "w") as archive:
        archive.writestr("1.png", page_bytes(20, 20))
        archive.writestr("2.png", b"not an image")
    messages: list[str] = []
    summary = run(generator_path, source, tmp_path / "out", messages, max_pixels=50 * 50)
    assert summary.colored == 2 and len(summary.unreadable) == 4
    for name in ["empty.jpg", "web page.png", "huge.png", "book.cbz:2.png"]:
        assert any(name in m for m in messages), name
    assert any("max_pixels" in m for m in messages)
    with zipfile.ZipFile(tmp_path / "out" / "book.cbz") as result:
        assert result.namelist() == ["1.png"]
    assert "4 unreadable" in summary.line()


def test_the_hostile_folder_is_coloured_or_skipped_file_by_file(generator_path, tmp_path):
    from helpers.hostile_files import make_hostile_folder

    hostile = make_hostile_folder(tmp_path)
    messages: list[str] = []
    summary = run(generator_path, hostile.folder, tmp_path / "out", messages)
    assert summary.colored + summary.copied == len(hostile.good)  # its colour pages are copied
    assert summary.copied > 0 and summary.colored > 0
    assert len(summary.unreadable) == len(hostile.unreadable)
    for name, expected in hostile.good.items():
        out = tmp_path / "out" / name
        out = out if out.exists() else out.with_suffix(".png")
        assert load(out).size == expected.size[::-1], name


def test_inputs_are_never_overwritten(generator_path, tmp_path):
    source = page(tmp_path / "pages" / "p.png", 20, 20)
    original = source.read_bytes()
    with pytest.raises(ColorizeError, match="is the input itself"):
        run(generator_path, source, tmp_path / "pages")
    with pytest.raises(ColorizeError, match="inside the input folder"):
        run(generator_path, tmp_path / "pages", tmp_path / "pages" / "coloured")
    assert source.read_bytes() == original


def test_bad_inputs_and_outputs_fail_before_any_model_is_loaded(tmp_path, monkeypatch):
    def no_model(*args, **kwargs):
        raise AssertionError("a model was loaded")

    monkeypatch.setattr("mangacolor.colorize.job.load_generator", no_model)
    model = tmp_path / "generator.pt"
    model.write_bytes(b"never read")
    (tmp_path / "empty").mkdir()
    page(tmp_path / "p.png", 20, 20)
    (tmp_path / "a file").write_text("x")
    with pytest.raises(ColorizeError, match="no images"):
        run(model, tmp_path / "empty", tmp_path / "out")
    with pytest.raises(ColorizeError, match="input not found"):
        run(model, tmp_path / "nowhere", tmp_path / "out")
    with pytest.raises(ColorizeError, match="not writable"):
        run(model, tmp_path / "p.png", tmp_path / "a file" / "out")
    with pytest.raises(ColorizeError, match="checkpoint not found"):
        run(tmp_path / "missing.pt", tmp_path / "p.png", tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_a_full_disk_stops_the_job_with_a_clear_error_and_no_partial_files(
    generator_path, tmp_path, monkeypatch
):
    source = tmp_path / "in"
    for i in range(3):
        page(source / f"{i}.png", 20, 20, seed=i)

    def disk_full(self, fp, *args, **kwargs):
        fp.write(b"partial")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(Image.Image, "save", disk_full)
    with pytest.raises(ColorizeError, match="No space left on device"):
        run(generator_path, source, tmp_path / "out")
    assert list((tmp_path / "out").iterdir()) == []  # no page, no temporary file


def test_config_values_are_checked_naming_the_key(tmp_path):
    with initialize_config_dir(str(config_dir()), version_base="1.3"):
        base = ["ckpt_path=m.pt", "input=in", "output=out"]
        assert ColorizeSettings.from_config(compose("colorize", overrides=base)).short_side is None
        for override, key in [
            ("format=gif", "format"),
            ("tile_overlap=2000", "tile_overlap"),
            ("batch_size=0", "batch_size"),
            ("quality=0", "quality"),
            ("archive.max_ratio=-1", "max_ratio"),
            ("short_side=big", "short_side"),
            ("device=tpu", "device"),
            ("compose=multiply", "compose"),
            ("descreen=-1", "descreen"),
            ("descreen=1", "descreen"),
            ("descreen=true", "descreen"),
            ("chroma=-1", "chroma"),
            ("chroma=strong", "chroma"),
            ("recolor_color_pages=sometimes", "recolor_color_pages"),
        ]:
            with pytest.raises(ConfigError, match=key):
                ColorizeSettings.from_config(compose("colorize", overrides=[*base, override]))
        with pytest.raises(ConfigError, match="ckpt_path is required"):
            ColorizeSettings.from_config(compose("colorize", overrides=base[1:]))


# ---- compose modes ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def full_color_generator_path(tmp_path_factory) -> Path:
    """A tiny full-colour generator (L, a, b out), as training writes one with model.generator.out_channels=3."""
    from helpers.generators import vivid_unet

    return export_generator(
        vivid_unet(out_channels=3),
        {**TINY, "out_channels": 3},
        tmp_path_factory.mktemp("full colour") / "generator.pt",
    )


def bw_page(path: Path, page: torch.Tensor) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(page.permute(1, 2, 0).numpy()).save(path)
    return path


@pytest.mark.parametrize("compose", ["auto", "lightness", "ink", "predicted"])
def test_a_webtoon_strip_and_a_cbz_keep_their_pages_and_sizes_in_every_compose_mode(
    compose, generator_path, full_color_generator_path, tmp_path
):
    from helpers import manga_pages as m

    source = tmp_path / "in"
    bw_page(source / "strip.png", m.screentone_page(1500, 60, period=4))
    sizes = {"a.png": (70, 50), "b.png": (33, 91), "c.png": (9, 17)}
    with zipfile.ZipFile(source / "chapter.cbz", "w") as archive:
        for seed, (name, (height, width)) in enumerate(sizes.items()):
            buffer = io.BytesIO()
            Image.fromarray(
                m.line_art_page(height, width, seed=seed).permute(1, 2, 0).numpy()
            ).save(buffer, "PNG")
            archive.writestr(name, buffer.getvalue())
    models = [full_color_generator_path] + (
        [generator_path] if compose in ("auto", "lightness") else []
    )
    for index, model in enumerate(models):
        out = tmp_path / f"out {index}"
        summary = run(model, source, out, compose=compose, tile=64, tile_overlap=16, short_side=16)
        assert summary.colored == 4 and summary.unreadable == []
        assert load(out / "strip.png").size == (60, 1500)
        with zipfile.ZipFile(out / "chapter.cbz") as result:
            assert result.namelist() == list(sizes)
            for name, (height, width) in sizes.items():
                assert Image.open(io.BytesIO(result.read(name))).size == (width, height)
        assert f"compose {compose}" in summary.line()


@pytest.mark.parametrize("compose", ["ink", "predicted"])
def test_ink_and_predicted_with_an_ab_generator_stop_with_a_message_naming_it(
    compose, generator_path, tmp_path
):
    source = page(tmp_path / "p.png", 20, 20)
    with pytest.raises(
        ColorizeError, match=f"compose={compose} needs a full-colour generator.*{generator_path}"
    ):
        run(generator_path, source, tmp_path / "out", compose=compose)
    assert list((tmp_path / "out").iterdir()) == []


def test_an_old_ab_generator_writes_the_pages_it_wrote_before(tmp_path):
    # tests/fixtures/ab_colorize: pages coloured by the code before compose existed.
    fixtures = Path(__file__).resolve().parents[1] / "fixtures"
    recorded = torch.load(fixtures / "ab_colorize" / "expected.pt", weights_only=True)
    for name, rgb in recorded["pages"].items():
        bw_page(tmp_path / "in" / f"{name}.png", rgb)
    settings = recorded["settings"]
    summary = run(
        fixtures / "pre_layout_run" / "generator.pt",
        tmp_path / "in",
        tmp_path / "out",
        short_side=settings["short_side"],
        tile=settings["tile"],
        tile_overlap=settings["overlap"],
        precision="32-true",
        recolor_color_pages=True,
    )
    assert summary.colored == len(recorded["pages"]) and summary.composed == {
        "lightness": summary.colored
    }
    for name, expected in recorded["coloured"].items():
        written = torch.from_numpy(np.array(load(tmp_path / "out" / f"{name}.png"))).permute(
            2, 0, 1
        )
        assert torch.equal(written, expected), name


def test_chroma_sets_the_colour_strength_and_the_summary_says_it(tmp_path, generator_path):
    source = tmp_path / "in"
    page(source / "p.png", 40, 32)

    def chroma(image) -> float:  # the spread of R, G, B
        return np.ptp(np.asarray(image.convert("RGB"), dtype=np.int16), axis=2).mean()

    strengths = {}
    for strength in (1.0, 0.5, 0.0):
        summary = run(
            generator_path, source, tmp_path / f"out {strength}", chroma=strength, format="png"
        )
        strengths[strength] = chroma(load(tmp_path / f"out {strength}" / "p.png"))
        assert (f", chroma {strength:g}." in summary.line()) == (strength != 1.0)
    assert strengths[1.0] > 10 and strengths[0.5] < strengths[1.0] * 0.7 and strengths[0.0] <= 1.0
