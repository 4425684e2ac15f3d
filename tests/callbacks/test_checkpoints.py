import os

from mangacolor.callbacks.checkpoints import link_as_last


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
