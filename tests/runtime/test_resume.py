"""Which checkpoint a run continues from: the newest of a folder, and a restarted launch's own folder."""

from __future__ import annotations

import logging
import shlex

import torch
from hydra import compose, initialize_config_dir
from hydra.core.hydra_config import HydraConfig

from mangacolor.runtime.bundled import config_dir, register_resolvers
from mangacolor.runtime.resume import (
    LAUNCH_RECORD,
    checkpoint_iteration,
    continues_launch,
    newest_checkpoint,
    record_launch,
    resume_command,
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


def test_a_damaged_checkpoint_is_skipped_with_a_warning_and_temporary_files_ignored(
    tmp_path, caplog
):
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
    assert not continues_launch(
        tmp_path, {**JOB, "SLURM_JOB_ID": "5555", "SLURM_RESTART_COUNT": "1"}
    )
    assert not continues_launch(tmp_path, {})  # started by hand
    assert not continues_launch(
        tmp_path / "elsewhere", {**JOB, "SLURM_RESTART_COUNT": "1"}
    )  # no record

    record_launch(tmp_path, {})  # a run by hand took the folder over (ckpt_path=last)
    assert not continues_launch(tmp_path, {**JOB, "SLURM_RESTART_COUNT": "1"})
    torchrun = {"TORCHELASTIC_RUN_ID": "abc", "WORLD_SIZE": "2"}
    record_launch(tmp_path, torchrun)
    assert continues_launch(tmp_path, {**torchrun, "TORCHELASTIC_RESTART_COUNT": "3"})


def test_the_resume_command_continues_the_run_in_its_folder_from_its_newest_checkpoint(tmp_path):
    # Outside @hydra.main the overrides are unknown: the command says so.
    assert (
        resume_command(tmp_path / "run")
        == f"mangacolor-train '<your overrides>' hydra.run.dir={tmp_path / 'run'} ckpt_path=last"
    )
    register_resolvers()
    with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
        cfg = compose(
            "train",
            overrides=[
                "+debug=tiny",
                "data.train_dir=pages",
                "ckpt_path=old.ckpt",
                "hydra.run.dir=elsewhere",
            ],
            return_hydra_config=True,
        )
    HydraConfig.instance().set_config(cfg)
    try:
        odd = tmp_path / "runs" / "a run, [1]"  # Hydra's grammar needs this one quoted
        words = shlex.split(resume_command(odd))
    finally:
        HydraConfig.instance().cfg = None
    # The typed overrides, less the old ckpt_path and run folder; then this run's folder and its newest.
    assert words == [
        "mangacolor-train",
        "+debug=tiny",
        "data.train_dir=pages",
        f"hydra.run.dir='{odd}'",
        "ckpt_path=last",
    ]
