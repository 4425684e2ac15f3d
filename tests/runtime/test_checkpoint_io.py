"""Checkpoints: written atomically, read with weights_only=True everywhere, hostile ones refused.

The hostile checkpoint carries a pickle that writes a file when unpickled. The control test
proves the payload is live (a plain torch.load runs it); every mangacolor load path must refuse it
before it runs: the marker file must never appear.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest
import torch
from helpers.configs import compose_train
from helpers.pages import make_pages

from mangacolor.inference.generator_file import load_generator
from mangacolor.runtime.checkpoint_io import (
    AtomicCheckpointIO,
    DamagedCheckpoint,
    UnsafeCheckpoint,
    safe_torch_load,
)
from mangacolor.training.settings import TrainSettings
from mangacolor.training.train import train

QUIET = [
    "+debug=tiny",
    "trainer.enable_progress_bar=false",
    "trainer.enable_model_summary=false",
    "logger=none",
]


class WritesAFileWhenUnpickled:
    """What an attacker puts in a checkpoint: unpickling calls Path.write_text(marker)."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.write_text, (self.marker, "this code ran"))


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> dict:
    """A tiny finished run: its pages, checkpoints and generator.pt."""
    root = tmp_path_factory.mktemp("trained")
    make_pages(root / "train", 6)
    cfg = compose_train(
        [*QUIET, f"data.train_dir={root / 'train'}", "train.iterations=2"], root / "run"
    )
    train(TrainSettings.from_config(cfg))
    return {"root": root, "pages": root / "train", "checkpoints": root / "run" / "checkpoints"}


def booby_trap(source: Path, target: Path, marker: Path) -> Path:
    """A real checkpoint with the payload added: it looks and loads like ours under plain torch.load."""
    checkpoint = torch.load(source, weights_only=True)
    checkpoint["extra"] = WritesAFileWhenUnpickled(marker)
    torch.save(checkpoint, target)
    return target


@pytest.fixture
def hostile(trained, tmp_path) -> tuple[Path, Path, Path]:
    """(booby-trapped last.ckpt, booby-trapped generator.pt, the marker they would write)."""
    marker = tmp_path / "PWNED"
    last = booby_trap(trained["checkpoints"] / "last.ckpt", tmp_path / "last.ckpt", marker)
    generator = booby_trap(
        trained["checkpoints"] / "generator.pt", tmp_path / "generator.pt", marker
    )
    return last, generator, marker


def test_the_payload_is_live_under_a_plain_torch_load(hostile):
    last, _, marker = hostile
    torch.load(last, weights_only=False)  # what an unguarded loader does
    assert marker.read_text() == "this code ran"


def test_safe_torch_load_refuses_it_with_a_clear_error(hostile):
    for path in hostile[:2]:
        with pytest.raises(
            UnsafeCheckpoint, match=r"refused to load: it holds pickled Python objects"
        ) as caught:
            safe_torch_load(path)
        assert str(path) in str(caught.value) and "it asks for getattr" in str(caught.value)
    assert not hostile[2].exists()


def test_lightning_asking_for_weights_only_false_still_gets_weights_only(hostile):
    with pytest.raises(UnsafeCheckpoint):
        AtomicCheckpointIO().load_checkpoint(hostile[0], weights_only=False)
    assert not hostile[2].exists()


@pytest.mark.parametrize("which", ["generator.pt", "last.ckpt"])
def test_load_generator_refuses_it(hostile, which):
    last, generator, marker = hostile
    with pytest.raises(UnsafeCheckpoint, match="refused to load"):
        load_generator(generator if which == "generator.pt" else last)
    assert not marker.exists()


def test_resuming_training_from_it_is_refused(trained, hostile, tmp_path):
    last, _, marker = hostile
    cfg = compose_train(
        [*QUIET, f"data.train_dir={trained['pages']}", "train.iterations=4", f"ckpt_path={last}"],
        tmp_path / "resumed",
    )
    with pytest.raises(UnsafeCheckpoint, match="refused to load"):
        train(TrainSettings.from_config(cfg))
    assert not marker.exists()


def test_lightning_resume_reads_through_our_checkpoint_io(trained, tmp_path, monkeypatch):
    loaded = []
    real_load = AtomicCheckpointIO.load_checkpoint

    def spy(self, path, map_location=None, weights_only=None):
        loaded.append(Path(path))
        return real_load(self, path, map_location, weights_only)

    monkeypatch.setattr(AtomicCheckpointIO, "load_checkpoint", spy)
    last = trained["checkpoints"] / "last.ckpt"
    cfg = compose_train(
        [
            *QUIET,
            f"data.train_dir={trained['pages']}",
            "train.iterations=3",
            "train.val_every=3",
            f"ckpt_path={last}",
        ],
        tmp_path / "resumed",
    )
    assert train(TrainSettings.from_config(cfg))["iteration"] == 3
    assert loaded == [last]


@pytest.mark.parametrize("damage", ["truncated", "empty", "text", "old-style pickle"])
def test_a_damaged_checkpoint_is_a_clear_error(trained, tmp_path, damage):
    path = tmp_path / "last.ckpt"
    whole = (trained["checkpoints"] / "last.ckpt").read_bytes()
    if damage == "truncated":
        path.write_bytes(whole[: len(whole) // 2])  # what a killed copy leaves
    elif damage == "empty":
        path.write_bytes(b"")
    elif damage == "text":
        path.write_text(
            "version https://git-lfs.github.com/spec/v1\noid sha256:0\nsize 1\n"
        )  # an LFS pointer
    else:  # not torch's zip format: the weights-only reader rejects it before any of it runs
        path.write_bytes(pickle.dumps({"extra": WritesAFileWhenUnpickled(tmp_path / "PWNED")}))
    with pytest.raises(DamagedCheckpoint, match=f"{path}: damaged"):
        safe_torch_load(path)
    with pytest.raises(DamagedCheckpoint):
        load_generator(path)
    assert not (tmp_path / "PWNED").exists()


def test_atomic_checkpoint_io_round_trips(tmp_path):
    io = AtomicCheckpointIO()
    state = {"state_dict": {"w": torch.arange(4.0)}, "iteration": 7, "names": ["a", "b"]}
    io.save_checkpoint(state, tmp_path / "c.ckpt")
    loaded = io.load_checkpoint(tmp_path / "c.ckpt")
    assert (
        torch.equal(loaded["state_dict"]["w"], state["state_dict"]["w"])
        and loaded["iteration"] == 7
    )
    assert [p.name for p in tmp_path.iterdir()] == ["c.ckpt"]


def test_a_generator_file_whose_config_does_not_fit_its_weights_names_the_file(tmp_path):
    from mangacolor.inference.generator_file import export_generator, load_generator
    from mangacolor.models.components import UNetGenerator

    path = export_generator(
        UNetGenerator(depth=4, width=8, max_width=16), {"depth": 4, "width": 16}, tmp_path / "g.pt"
    )
    with pytest.raises(ValueError, match=f"{path}: its generator config or weights do not fit"):
        load_generator(path)
