"""Which checkpoint a run continues from: the newest of a folder, and a restarted launch's own folder."""

from __future__ import annotations

import logging

import torch

from mangacolor.runtime.resume import (
    LAUNCH_RECORD,
    checkpoint_iteration,
    continues_launch,
    newest_checkpoint,
    record_launch,
)


def save(path, iteration: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"mangacolor": {"iteration": iteration}, "state_dict": {"w": torch.zeros(3)}}, path)


def test_the_newest_checkpoint_is_the_highest_iteration_not_the_newest_file(tmp_path):
    save(tmp_path / "iter_0000300.ckpt", 300)
    save(tmp_path / "best.ckpt", 450)  # a validation after the last periodic checkpoint
    save(tmp_path / "last.ckpt", 300)
    save(tmp_path / "iter_0000100.ckpt", 100)  # written last, but older
    assert newest_checkpoint(tmp_path) == (tmp_path / "best.ckpt", 450)
    save(tmp_path / "last.ckpt", 450)  # a stop at the same iteration: last.ckpt wins the tie
    assert newest_checkpoint(tmp_path) == (tmp_path / "last.ckpt", 450)
    assert checkpoint_iteration(tmp_path / "iter_0000100.ckpt") == 100


def test_a_damaged_checkpoint_is_skipped_with_a_warning_and_temporary_files_ignored(tmp_path, caplog):
    save(tmp_path / "iter_0000100.ckpt", 100)
    (tmp_path / "last.ckpt").write_bytes(b"half a checkpoint")
    save(tmp_path / ".last.ckpt.abc123.tmp", 999)
    torch.save({"state_dict": {}}, tmp_path / "foreign.ckpt")  # no iteration: not ours
    with caplog.at_level(logging.WARNING):
        assert newest_checkpoint(tmp_path) == (tmp_path / "iter_0000100.ckpt", 100)
    assert "last.ckpt" in caplog.text and "foreign.ckpt" in caplog.text


def test_no_checkpoint_or_no_folder_gives_none(tmp_path):
    assert newest_checkpoint(tmp_path) is None
    assert newest_checkpoint(tmp_path / "missing") is None


JOB = {"SLURM_JOB_ID": "4242", "SLURM_STEP_ID": "0", "SLURM_NTASKS": "8"}


def test_only_a_restart_of_the_launch_that_wrote_a_folder_continues_it(tmp_path):
    record_launch(tmp_path, JOB)
    assert (tmp_path / LAUNCH_RECORD).is_file()
    assert continues_launch(tmp_path, {**JOB, "SLURM_RESTART_COUNT": "1"})  # the requeued job
    assert not continues_launch(tmp_path, JOB)  # the same name, but not a restart: a second launch
    assert not continues_launch(tmp_path, {**JOB, "SLURM_JOB_ID": "5555", "SLURM_RESTART_COUNT": "1"})
    assert not continues_launch(tmp_path, {})  # started by hand
    assert not continues_launch(tmp_path / "elsewhere", {**JOB, "SLURM_RESTART_COUNT": "1"})  # no record

    record_launch(tmp_path, {})  # a run by hand took the folder over (ckpt_path=last)
    assert not continues_launch(tmp_path, {**JOB, "SLURM_RESTART_COUNT": "1"})
    torchrun = {"TORCHELASTIC_RUN_ID": "abc", "WORLD_SIZE": "2"}
    record_launch(tmp_path, torchrun)
    assert continues_launch(tmp_path, {**torchrun, "TORCHELASTIC_RESTART_COUNT": "3"})
