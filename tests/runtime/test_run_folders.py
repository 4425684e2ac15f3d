"""Run folder names shared by every process of a torchrun or SLURM job."""

from __future__ import annotations

import datetime as dt

from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from mangacolor.runtime.bundled import config_dir, register_resolvers
from mangacolor.runtime.run_folders import launcher_run_name, run_name

NOON = dt.datetime(2026, 11, 25, 12, 0, 5)


def test_a_run_started_by_hand_is_named_by_its_start_time():
    assert run_name({}, NOON) == "2026-11-25_12-00-05"
    # One process of a launcher is still a run started by hand: a clock name is safe there.
    assert run_name({"SLURM_JOB_ID": "7", "SLURM_STEP_ID": "0", "SLURM_NTASKS": "1"}, NOON) == "2026-11-25_12-00-05"
    assert run_name({"TORCHELASTIC_RUN_ID": "abc", "WORLD_SIZE": "1"}, NOON) == "2026-11-25_12-00-05"


def test_torchrun_processes_share_the_rendezvous_id():
    ranks = [{"TORCHELASTIC_RUN_ID": "job42", "WORLD_SIZE": "16", "RANK": str(r)} for r in (0, 9)]
    assert {run_name(env, NOON + dt.timedelta(seconds=r)) for r, env in enumerate(ranks)} == {"torchrun-job42"}
    restarted = {"TORCHELASTIC_RUN_ID": "job42", "WORLD_SIZE": "16", "TORCHELASTIC_RESTART_COUNT": "1"}
    assert run_name(restarted) == "torchrun-job42-restart1"
    # torchrun's default id says nothing about the run: the clock it is (README: pass hydra.run.dir)
    assert launcher_run_name({"TORCHELASTIC_RUN_ID": "none", "WORLD_SIZE": "16"}) is None


def test_slurm_tasks_share_the_job_and_step_and_a_new_step_or_requeue_gets_a_new_folder():
    task = {"SLURM_JOB_ID": "1234", "SLURM_STEP_ID": "0", "SLURM_NTASKS": "16", "SLURM_PROCID": "3"}
    assert run_name(task, NOON) == "slurm-1234-0"
    assert run_name({**task, "SLURM_PROCID": "15"}, NOON + dt.timedelta(seconds=2)) == "slurm-1234-0"
    assert run_name({**task, "SLURM_STEP_ID": "1"}) == "slurm-1234-1"
    assert run_name({**task, "SLURM_RESTART_COUNT": "2"}) == "slurm-1234-0-requeue2"
    assert launcher_run_name({"SLURM_JOB_ID": "1234", "SLURM_NTASKS": "16"}) is None  # the batch script itself


def test_the_training_config_names_its_run_folder_from_the_launcher(monkeypatch, tmp_path):
    register_resolvers()
    monkeypatch.setenv("SLURM_JOB_ID", "99")
    monkeypatch.setenv("SLURM_STEP_ID", "0")
    monkeypatch.setenv("SLURM_NTASKS", "8")
    with initialize_config_dir(str(config_dir()), version_base="1.3"):
        cfg = compose("train", overrides=[f"paths.output_dir={tmp_path}"], return_hydra_config=True)
    assert OmegaConf.select(cfg, "hydra.run.dir") == f"{tmp_path}/runs/slurm-99-0"
