import logging
import os
import re
from types import SimpleNamespace

import pytest

from mangacolor.callbacks import checkpoints
from mangacolor.callbacks.checkpoints import IterationCheckpoint, link_as_last
from mangacolor.models.pix2pix import Pix2Pix
from mangacolor.runtime.config_errors import ConfigError


def test_last_is_a_hard_link_to_the_iteration_checkpoint(tmp_path):
    saved = tmp_path / "iter_0000010.ckpt"
    saved.write_bytes(b"weights")
    (tmp_path / "last.ckpt").write_bytes(b"older")
    link_as_last(saved, tmp_path / "last.ckpt")
    assert os.path.samefile(saved, tmp_path / "last.ckpt")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["iter_0000010.ckpt", "last.ckpt"]


def test_without_hard_links_last_is_an_atomic_copy(tmp_path, monkeypatch):
    def no_links(*args):
        raise OSError("hard links not supported")

    monkeypatch.setattr(os, "link", no_links)
    saved = tmp_path / "iter_0000010.ckpt"
    saved.write_bytes(b"weights")
    link_as_last(saved, tmp_path / "last.ckpt")
    assert (tmp_path / "last.ckpt").read_bytes() == b"weights"
    assert not os.path.samefile(saved, tmp_path / "last.ckpt")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["iter_0000010.ckpt", "last.ckpt"]


def numbered(folder, *iterations):
    for iteration in iterations:
        (folder / f"iter_{iteration:07d}.ckpt").write_bytes(f"checkpoint {iteration}".encode())


def test_keep_last_deletes_all_but_the_newest_k_numbered_checkpoints(tmp_path):
    numbered(
        tmp_path, 100, 200, 300, 400, 500, 900
    )  # 900: left by a timeline this run resumed before
    link_as_last(tmp_path / "iter_0000500.ckpt", tmp_path / "last.ckpt")
    (tmp_path / "best.ckpt").write_bytes(b"the best, from iteration 150")
    IterationCheckpoint(str(tmp_path), every_n_iterations=100, keep_last=2)._prune(500)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "best.ckpt",
        "iter_0000400.ckpt",
        "iter_0000500.ckpt",
        "iter_0000900.ckpt",
        "last.ckpt",
    ]
    assert os.path.samefile(tmp_path / "last.ckpt", tmp_path / "iter_0000500.ckpt")
    IterationCheckpoint(str(tmp_path), every_n_iterations=100)._prune(
        500
    )  # keep_last=null keeps all
    assert len(list(tmp_path.glob("iter_*.ckpt"))) == 3


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ({"keep_last": 0}, "callbacks.checkpoint.keep_last must be >= 1"),
        (
            {"keep_last": 2, "keep_every": False},
            "callbacks.checkpoint.keep_last needs keep_every=true",
        ),
        ({"every_n_iterations": 0}, "callbacks.checkpoint.every_n_iterations must be >= 1, got 0"),
        (
            {"every_n_iterations": "10"},
            "callbacks.checkpoint.every_n_iterations must be >= 1, got '10'",
        ),
    ],
)
def test_keep_last_needs_keep_every_and_positive_counts(tmp_path, bad, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        IterationCheckpoint(str(tmp_path), **bad)


def test_has_saved_asks_the_folder_for_a_checkpoint_to_continue_from(tmp_path):
    callback = IterationCheckpoint(str(tmp_path / "checkpoints"))
    assert not callback.has_saved()  # no folder yet
    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "checkpoints" / "generator.pt").write_bytes(b"a generator alone")
    (tmp_path / "checkpoints" / ".last.ckpt.tmp").write_bytes(b"half written")
    assert not callback.has_saved()  # neither continues a run
    numbered(tmp_path / "checkpoints", 2)  # an earlier run's, or this run's: either continues
    assert callback.has_saved()


def tiny_model_and_trainer(iterations: int):
    model = Pix2Pix(
        generator={"depth": 5, "width": 8, "max_width": 32},
        discriminator={"channels": [8, 16], "stride1_channels": 16},
        iterations=iterations,
    )
    optimizers, _ = model.configure_optimizers()
    return model, SimpleNamespace(optimizers=optimizers)


def test_the_planned_checkpoints_count_what_stays_on_disk(tmp_path):
    model, trainer = tiny_model_and_trainer(iterations=1000)
    weights = sum(p.numel() * 4 for p in model.parameters())
    _, one, files = IterationCheckpoint(str(tmp_path), every_n_iterations=100).planned_bytes(
        trainer, model
    )
    assert files == 10 + 2  # iter_100 ... iter_1000, best.ckpt, a last.ckpt of its own at a stop
    assert one >= 3 * weights  # the weights and Adam's two moments for each
    assert (
        IterationCheckpoint(str(tmp_path), 100, keep_last=3).planned_bytes(trainer, model)[2]
        == 3 + 1 + 2
    )
    assert (
        IterationCheckpoint(str(tmp_path), 100, keep_every=False).planned_bytes(trainer, model)[2]
        == 3
    )
    model.iteration = 700  # resumed: only what is still to come
    assert IterationCheckpoint(str(tmp_path), 100).planned_bytes(trainer, model)[2] == 3 + 2


def test_a_run_whose_checkpoints_cannot_fit_is_warned_before_the_first_one(
    tmp_path, monkeypatch, caplog
):
    model, trainer = tiny_model_and_trainer(iterations=1000)
    callback = IterationCheckpoint(str(tmp_path), every_n_iterations=100)
    needed, _, _ = callback.planned_bytes(trainer, model)
    monkeypatch.setattr(checkpoints, "free_bytes", lambda folder: needed + 1)
    with caplog.at_level(logging.INFO):
        callback._check_free_space(trainer, model)
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    monkeypatch.setattr(checkpoints, "free_bytes", lambda folder: needed // 2)
    callback._check_free_space(trainer, model)
    warning = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert (
        len(warning) == 1
        and f"{tmp_path} has " in warning[0]
        and "callbacks.checkpoint.keep_last=K" in warning[0]
    )
