"""Run folder names shared by every process of a torchrun or SLURM launch, and by its restarts."""

from __future__ import annotations

import datetime as dt

from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from mangacolor.runtime.bundled import config_dir, register_resolvers
from mangacolor.runtime.run_folders import launcher_run_name, restart_count, run_name

NOON = dt.datetime(2026, 11, 25, 12, 0, 5)


def test_a_run_started_by_hand_is_named_by_its_start_time():
    assert run_name({}, NOON) == "2026-11-25_12-00-05"
    # A shell inside a SLURM allocation (Lightning's "interactive mode"): runs started by hand.
    for shell in ("bash", "interactive"):
        assert (
            run_name({"SLURM_JOB_ID": "7", "SLURM_JOB_NAME": shell}, NOON) == "2026-11-25_12-00-05"
        )


def test_torchrun_processes_and_their_elastic_restarts_share_the_rendezvous_id():
    ranks = [{"TORCHELASTIC_RUN_ID": "job42", "WORLD_SIZE": "16", "RANK": str(r)} for r in (0, 9)]
    assert {run_name(env, NOON + dt.timedelta(seconds=r)) for r, env in enumerate(ranks)} == {
        "torchrun-job42"
    }
    restarted = {
        "TORCHELASTIC_RUN_ID": "job42",
        "WORLD_SIZE": "16",
        "TORCHELASTIC_RESTART_COUNT": "1",
    }
    assert run_name(restarted) == "torchrun-job42" and restart_count(restarted) == 1
    assert (
        run_name({"TORCHELASTIC_RUN_ID": "job42", "WORLD_SIZE": "1"}) == "torchrun-job42"
    )  # one process too
    # torchrun's default id says nothing about the run: the clock it is (README: pass hydra.run.dir)
    assert launcher_run_name({"TORCHELASTIC_RUN_ID": "none", "WORLD_SIZE": "16"}) is None


def test_slurm_tasks_share_the_job_and_step_and_a_requeued_job_comes_back_to_them():
    task = {"SLURM_JOB_ID": "1234", "SLURM_STEP_ID": "0", "SLURM_NTASKS": "16", "SLURM_PROCID": "3"}
    assert run_name(task, NOON) == "slurm-1234-0"
    assert (
        run_name({**task, "SLURM_PROCID": "15"}, NOON + dt.timedelta(seconds=2)) == "slurm-1234-0"
    )
    assert (
        run_name({**task, "SLURM_STEP_ID": "1"}) == "slurm-1234-1"
    )  # a second srun: its own folder
    requeued = {**task, "SLURM_RESTART_COUNT": "2"}
    assert run_name(requeued) == "slurm-1234-0" and restart_count(requeued) == 2
    assert run_name({**task, "SLURM_NTASKS": "1"}) == "slurm-1234-0"  # one task: the same rule
    assert (
        run_name({"SLURM_JOB_ID": "1234", "SLURM_NTASKS": "1"}) == "slurm-1234"
    )  # the batch script itself
    # torchrun inside a requeued SLURM job starts its own count from 0: the requeue still counts.
    inside = {"TORCHELASTIC_RUN_ID": "1234", "SLURM_JOB_ID": "1234", "SLURM_RESTART_COUNT": "1"}
    assert run_name(inside) == "torchrun-1234" and restart_count(inside) == 1
    assert restart_count({}) == 0


def test_the_training_config_names_its_run_folder_from_the_launcher(monkeypatch, tmp_path):
    register_resolvers()
    monkeypatch.setenv("SLURM_JOB_ID", "99")
    monkeypatch.setenv("SLURM_STEP_ID", "0")
    monkeypatch.setenv("SLURM_NTASKS", "8")
    with initialize_config_dir(str(config_dir()), version_base="1.3"):
        cfg = compose("train", overrides=[f"paths.output_dir={tmp_path}"], return_hydra_config=True)
    assert OmegaConf.select(cfg, "hydra.run.dir") == f"{tmp_path}/runs/slurm-99-0"
