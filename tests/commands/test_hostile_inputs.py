"""Commands on a folder of awkward and hostile files: they skip and count the bad ones, never crash.

The files come from `hostile_files.py`; how each one must decode is checked in `test_files.py`.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path

import pytest
import torch
from helpers.configs import compose_train
from helpers.hostile_files import make_hostile_folder
from PIL import Image

from mangacolor.color import rgb_to_scaled_lab
from mangacolor.data.files import printable, read_image
from mangacolor.data.page_folders import require_readable
from mangacolor.data.pages import PageDataset, collate_pages
from mangacolor.data.transforms import PageCropper
from mangacolor.models.pix2pix import Pix2Pix
from mangacolor.training.settings import TrainSettings
from mangacolor.training.train import train

QUIET = ["+debug=tiny", "trainer.enable_progress_bar=false", "trainer.enable_model_summary=false"]


@pytest.fixture
def hostile(tmp_path):
    return make_hostile_folder(tmp_path / "hostile")


def test_training_on_a_hostile_folder_skips_each_bad_file_once_and_counts_it(
    hostile, tmp_path, caplog, capsys
):
    folder = hostile.folder
    # One validation at the end, over every file (the training stream may not reach them all).
    cfg = compose_train(
        [
            *QUIET,
            f"data.train_dir={folder}",
            f"data.val_dir={folder}",
            "train.val_batches=null",
            "train.val_every=4",
            "data.val_batch_size=8",
        ],
        tmp_path / "run",
    )
    with caplog.at_level(logging.WARNING, logger="mangacolor"):
        results = train(TrainSettings.from_config(cfg))
    assert results["iteration"] == cfg.train.iterations
    assert math.isfinite(results["val/ab_l1"]) and math.isfinite(results["loss/g_l1"])
    assert results["unreadable"] == len(hostile.unreadable)
    assert f"{len(hostile.unreadable)} unreadable pages skipped" in capsys.readouterr().out
    messages = [
        r.getMessage() for r in caplog.records if "skipped unreadable page" in r.getMessage()
    ]
    for name in hostile.unreadable:
        about_it = [m for m in messages if m.split(": ")[0].endswith(printable(hostile.path(name)))]
        assert len(about_it) == 1, (
            f"{name}: {about_it}"
        )  # one message, naming the file and the reason
    assert len(messages) == len(hostile.unreadable)
    assert (tmp_path / "run" / "checkpoints" / "generator.pt").is_file()


@pytest.fixture
def no_model(monkeypatch):
    """Fail loudly if anything builds the model: the data error must come first."""

    def refuse(*args, **kwargs):
        raise AssertionError("a model was built before the data were checked")

    monkeypatch.setattr(Pix2Pix, "__init__", refuse)


def test_a_folder_of_only_bad_files_is_an_error_before_any_model_is_built(
    hostile, tmp_path, no_model
):
    for name in hostile.good:
        hostile.path(name).unlink()
    cfg = compose_train([*QUIET, f"data.train_dir={hostile.folder}"], tmp_path / "run")
    with pytest.raises(FileNotFoundError, match="image files under .* is readable"):
        train(TrainSettings.from_config(cfg))


@pytest.mark.parametrize("contents", ["nothing", "only entries that are not files"])
def test_a_folder_without_image_files_is_an_error_before_any_model_is_built(
    contents, tmp_path, no_model
):
    folder = tmp_path / "pages"
    folder.mkdir()
    (folder / "readme.txt").write_text("no pages here")
    if contents != "nothing":
        (folder / "x.jpg").mkdir()
        (folder / "elsewhere.png").symlink_to(tmp_path / "run")
    cfg = compose_train([*QUIET, f"data.train_dir={folder}"], tmp_path / "run")
    with pytest.raises(FileNotFoundError, match="no image files .* found under"):
        train(TrainSettings.from_config(cfg))


def test_every_good_page_gives_finite_windows_in_range(hostile):
    """Odd shapes (1 x 1, 7 x 5, 33 x 4000) through crop, resize and Lab: no NaN reaches a
    network."""
    cropper = PageCropper(size=32, window=64, colourful_draws=3)
    pages = [
        {"image": read_image(hostile.path(name)), "path": name, "unreadable": []}
        for name in hostile.good
    ]
    for batch in [collate_pages([page]) for page in pages] + [collate_pages(pages)]:
        for training in (True, False):
            rgb = cropper(
                batch["pages"], batch["sizes"], torch.Generator().manual_seed(0), train=training
            )
            lightness, ab = rgb_to_scaled_lab(rgb)
            assert rgb.shape[-2:] == (32, 32) and rgb.min() >= 0 and rgb.max() <= 1, batch["paths"]
            assert torch.isfinite(lightness).all() and torch.isfinite(ab).all(), batch["paths"]
    one_pixel = collate_pages([page for page in pages if page["path"] == "one pixel.png"])
    rgb = cropper(one_pixel["pages"], one_pixel["sizes"], None, train=False)
    assert torch.allclose(rgb[0, :, 16, 16] * 255, one_pixel["pages"][0, :, 0, 0].float(), atol=1)


def long_run_of_bad_files(folder: Path, bad: int = 40, good: int = 2) -> list[Path]:
    """A chapter saved as error pages, sorted before the real ones: bad files side by side."""
    folder.mkdir(parents=True)
    for i in range(bad):
        (folder / f"a_{i:03d}.jpg").write_text("<html><body>429 Too Many Requests</body></html>")
    Image.new("RGB", (8, 8), (200, 30, 30)).save(folder / "b_good.png")
    for i in range(1, good):
        Image.new("RGB", (8, 8), (30, 30, 200)).save(folder / f"c_good_{i}.png")
    return sorted(folder.iterdir())


def test_a_long_run_of_bad_files_is_passed_over_and_each_reported_once(tmp_path):
    paths = long_run_of_bad_files(tmp_path / "pages")
    require_readable(
        paths, tmp_path, max_pixels=10**6
    )  # readable pages after the first 40: not an error
    dataset = PageDataset(paths, replace_unreadable=True)
    first = dataset[0]
    assert first["path"].endswith("b_good.png") and len(first["unreadable"]) == 40
    again = dataset[5]  # known-bad pages are passed over without being read or reported again
    assert again["path"].endswith("b_good.png") and again["unreadable"] == []
