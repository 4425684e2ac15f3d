import pytest
import torch
from helpers.pages import make_pages

from mangacolor.data.datamodule import PagesDataModule
from mangacolor.data.files import split_by_hash


def test_split_by_hash_is_deterministic_and_stable(tmp_path):
    paths = [tmp_path / f"p{i}.png" for i in range(200)]
    train, val = split_by_hash(paths, tmp_path, 0.1)
    assert 5 < len(val) < 40 and len(train) + len(val) == 200
    # Adding pages never moves an existing page across the split.
    train2, val2 = split_by_hash(paths + [tmp_path / "new.png"], tmp_path, 0.1)
    assert set(val) <= set(val2) and set(train) <= set(train2)


def test_one_folder_is_split_and_batches_become_lab_windows(tmp_path):
    make_pages(tmp_path / "pages", 20, (48, 40))
    dm = PagesDataModule(
        data_dir=str(tmp_path / "pages"),
        val_fraction=0.3,
        size=16,
        window=32,
        batch_size=4,
        num_workers=0,
    )
    dm.setup("fit")
    assert len(dm.train_paths) + len(dm.val_paths) == 20 and dm.val_paths
    assert not set(dm.train_paths) & set(dm.val_paths)
    batch = next(iter(dm.train_dataloader()))
    out = dm.to_lab_batch(batch, train=True, batch_number=1)
    assert out["L"].shape == (4, 1, 16, 16) and out["ab"].shape == (4, 2, 16, 16)
    assert out["L"].dtype == torch.float32
    assert out["L"].min() >= -1 and out["L"].max() <= 1 and out["ab"].abs().max() <= 1
    # The same batch number gives the same windows: the randomness is a function of the stream.
    again = dm.to_lab_batch(batch, train=True, batch_number=1)
    assert torch.equal(out["ab"], again["ab"])


def test_state_dict_carries_the_stream_position(tmp_path):
    make_pages(tmp_path / "train", 6)
    dm = PagesDataModule(train_dir=str(tmp_path / "train"), batch_size=2, num_workers=0)
    dm.train_batches_consumed = 5
    fresh = PagesDataModule(train_dir=str(tmp_path / "train"), batch_size=2, num_workers=0)
    fresh.load_state_dict(dm.state_dict())
    fresh.setup("fit")
    assert fresh.train_dataloader().sampler.start == 10


def test_missing_folders_are_named():
    with pytest.raises(ValueError, match="data.train_dir"):
        PagesDataModule()
    with pytest.raises(FileNotFoundError, match="nowhere"):
        PagesDataModule(train_dir="/nowhere", num_workers=0).setup("fit")


def test_fewer_validation_pages_than_processes_is_refused(tmp_path):
    make_pages(tmp_path / "train", 2)
    make_pages(tmp_path / "val", 1)
    dm = PagesDataModule(
        train_dir=str(tmp_path / "train"), val_dir=str(tmp_path / "val"), num_workers=0
    )
    dm.setup("fit")
    dm._rank_and_world = lambda: (0, 2)  # as under a 2-process DDP run
    with pytest.raises(ValueError, match="1 validation pages for 2 processes"):
        dm.val_dataloader()
