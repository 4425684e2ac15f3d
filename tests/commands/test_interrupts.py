"""Stopping a real mangacolor-train process from outside: Ctrl-C, SIGTERM, SLURM's warning signal,
a full disk -- and continuing afterwards as if nothing had happened.

Each signal reaches the process at an exact moment: a test-only callback
(`helpers.interrupt_probe.PauseAt`) holds the run after an iteration until the test has sent its
signals, then lets it go on. The signal is recorded by then, and the run stops at its next check.
"""

from __future__ import annotations

import csv
import json
import os
import re
import shlex
import signal
import subprocess
import time
from pathlib import Path

import pytest
from helpers.cli import BIN, TESTS, TINY
from helpers.pages import make_pages

from mangacolor.inference.generator_file import load_generator
from mangacolor.runtime.checkpoint_io import safe_torch_load

ITERATIONS = 6
# Validation and checkpoints at 3 and 6, losses logged at every iteration.
COMMON = [
    *TINY,
    "logger=csv",
    f"train.iterations={ITERATIONS}",
    "train.val_every=3",
    "callbacks.checkpoint.every_n_iterations=3",
]
STOP_LINE = re.compile(
    r"^mangacolor-train: stopped by (.+?) at iteration (\d+) of (\d+); (.*)$", re.MULTILINE
)


def environment(**extra: str) -> dict[str, str]:
    # tests/ on the path for the probes, in front of the worktree's src/ the suite runs with.
    path = os.pathsep.join(p for p in (str(TESTS), os.environ.get("PYTHONPATH", "")) if p)
    return {
        **os.environ,
        "PYTHONPATH": path,
        "HYDRA_FULL_ERROR": "1",
        "OMP_NUM_THREADS": "1",
        **extra,
    }


def start(args: list[str], cwd: Path, name: str, env: dict | None = None) -> subprocess.Popen:
    # Files, not pipes: a full pipe would stall the child.
    with open(cwd / f"{name}.out", "wb") as out, open(cwd / f"{name}.err", "wb") as err:
        return subprocess.Popen(
            [str(BIN / "mangacolor-train"), *args],
            cwd=cwd,
            stdout=out,
            stderr=err,
            env=env or environment(),
        )


def finish(process: subprocess.Popen, cwd: Path, name: str) -> tuple[int, str, str]:
    returncode = process.wait(timeout=600)
    return returncode, (cwd / f"{name}.out").read_text(), (cwd / f"{name}.err").read_text()


def pause_after(markers: Path, iteration: int) -> list[str]:
    return [
        "+callbacks.pause._target_=helpers.interrupt_probe.PauseAt",
        f"+callbacks.pause.dirpath={markers}",
        f"+callbacks.pause.iteration={iteration}",
    ]


def wait_until(condition, process: subprocess.Popen, cwd: Path, name: str, what: str) -> None:
    deadline = time.monotonic() + 600  # a guard against a hang, not a timing check
    while not condition():
        if process.poll() is not None:
            pytest.fail(
                f"{name} ended (rc {process.returncode}) before {what}:\n"
                f"{(cwd / f'{name}.err').read_text()[-4000:]}"
            )
        if time.monotonic() > deadline:
            pytest.fail(f"{name}: never {what}")
        time.sleep(0.05)


def paused_ranks(process, markers: Path, cwd: Path, name: str, ranks: int = 1) -> list[int]:
    """Wait until every rank is held by PauseAt; their pids."""
    files = [markers / f"paused-rank{r}" for r in range(ranks)]
    wait_until(
        lambda: all(f.exists() and f.read_text() for f in files), process, cwd, name, "pausing"
    )
    return [int(f.read_text()) for f in files]


def iteration_of(checkpoint: Path) -> int:
    return int(safe_torch_load(checkpoint)["mangacolor"]["iteration"])


def metric_rows(run: Path) -> dict[int, dict[str, float]]:
    rows = {}
    with open(run / "csv" / "metrics.csv") as file:
        found = list(csv.DictReader(file))
    for row in found:
        if row.get("loss/g_l1"):
            rows[int(row["step"])] = {
                k: float(row[k]) for k in ("loss/d_real", "loss/d_fake", "loss/g_adv", "loss/g_l1")
            }
    return rows


def assert_same_losses(resumed: dict, whole: dict) -> None:
    assert sorted(resumed) == sorted(whole) == list(range(1, ITERATIONS + 1))
    for step, losses in whole.items():
        for key, value in losses.items():
            assert resumed[step][key] == pytest.approx(value, rel=1e-5, abs=1e-6), (step, key)


def run_printed_command(line: str, cwd: Path, name: str, drop: str = "") -> tuple[int, str, str]:
    """Run the command a stop or error line ends with, as printed (less the overrides starting with `drop`)."""
    command = shlex.split(re.search(r"(?:Resume with|with): (mangacolor-train .*)$", line).group(1))
    return finish(
        start([a for a in command[1:] if not (drop and a.startswith(drop))], cwd, name), cwd, name
    )


@pytest.fixture(scope="module")
def pages(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("pages")
    make_pages(root / "train", 10, (48, 40), seed=1)
    make_pages(root / "val", 4, (44, 44), seed=2)
    return root / "train", root / "val"


def data_args(pages) -> list[str]:
    return [f"data.train_dir={pages[0]}", f"data.val_dir={pages[1]}"]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory, pages) -> dict[int, dict[str, float]]:
    """The losses of the same run, never stopped."""
    cwd = tmp_path_factory.mktemp("uninterrupted")
    returncode, _, err = finish(
        start([*COMMON, *data_args(pages), f"hydra.run.dir={cwd / 'run'}"], cwd, "whole"),
        cwd,
        "whole",
    )
    assert returncode == 0, err[-3000:]
    return metric_rows(cwd / "run")


# ---- Ctrl-C and SIGTERM ---------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_mid_run_saves_that_iteration_and_the_printed_command_resumes_exactly(
    signum, tmp_path, pages, uninterrupted
):
    run_dir, markers = tmp_path / "run", tmp_path / "markers"
    process = start(
        [*COMMON, *data_args(pages), f"hydra.run.dir={run_dir}", *pause_after(markers, 4)],
        tmp_path,
        "stopped",
    )
    paused_ranks(process, markers, tmp_path, "stopped")
    process.send_signal(signum)
    (markers / "go").write_text("")
    returncode, out, err = finish(process, tmp_path, "stopped")

    assert returncode == 128 + signum, err[-3000:]  # 130 for Ctrl-C, 143 for SIGTERM
    stop = STOP_LINE.search(out)
    assert stop, out[-2000:]
    assert stop.group(1) == ("Ctrl-C (SIGINT)" if signum == signal.SIGINT else "SIGTERM")
    assert (stop.group(2), stop.group(3)) == (
        "5",
        "6",
    )  # the iteration after the signal, then no more
    assert "Traceback" not in err
    checkpoints = run_dir / "checkpoints"
    assert iteration_of(checkpoints / "last.ckpt") == 5
    assert f"saved {checkpoints / 'last.ckpt'} and generator.pt" in stop.group(4)
    assert load_generator(checkpoints / "generator.pt")[0] is not None
    assert not list(run_dir.rglob(".*.tmp"))
    # No validation was started for the stop: the last one is iteration 3's.
    assert sorted(p.name for p in (run_dir / "images").iterdir()) == ["val_0000003.png"]

    # The printed command continues the run in its folder, and the losses are those of one run.
    returncode, out, err = run_printed_command(stop.group(0), tmp_path, "resumed")
    assert returncode == 0, err[-3000:]
    assert f"mangacolor-train: {ITERATIONS} iterations" in out
    assert iteration_of(checkpoints / "last.ckpt") == ITERATIONS
    assert_same_losses(metric_rows(run_dir), uninterrupted)  # metrics.csv kept its first part


def test_a_second_ctrl_c_stops_at_once_without_saving(tmp_path, pages):
    run_dir, markers = tmp_path / "run", tmp_path / "markers"
    process = start(
        [
            *TINY,
            *data_args(pages),
            "logger=none",
            "train.iterations=8",
            "callbacks.checkpoint.every_n_iterations=2",
            f"hydra.run.dir={run_dir}",
            *pause_after(markers, 3),
        ],
        tmp_path,
        "twice",
    )
    paused_ranks(process, markers, tmp_path, "twice")
    process.send_signal(signal.SIGINT)
    wait_until(
        lambda: "Ctrl-C again stops at once" in (tmp_path / "twice.err").read_text(),
        process,
        tmp_path,
        "twice",
        "acknowledging the first Ctrl-C",
    )
    process.send_signal(signal.SIGINT)  # while still held at iteration 3: no iteration ends again
    returncode, out, err = finish(process, tmp_path, "twice")

    assert returncode == 130, err[-3000:]
    assert (
        "mangacolor-train: stopped at once by a second Ctrl-C after iteration 3; the checkpoints saved before are "
        "as they were. Resume with: mangacolor-train " in out
    )
    assert "Traceback" not in err
    checkpoints = run_dir / "checkpoints"
    assert iteration_of(checkpoints / "last.ckpt") == 2  # the checkpoint before, untouched
    assert not (checkpoints / "generator.pt").exists()
    assert not list(run_dir.rglob(".*.tmp"))


# ---- DDP -------------------------------------------------------------------------------------


@pytest.mark.slow
def test_under_ddp_a_signal_to_one_rank_stops_both_at_one_iteration_with_one_checkpoint(
    tmp_path, pages
):
    output, markers, probe = tmp_path / "out", tmp_path / "markers", tmp_path / "probe"
    args = [
        *TINY,
        *data_args(pages),
        "trainer=ddp",
        "trainer.accelerator=cpu",
        "trainer.devices=2",
        "++trainer.enable_progress_bar=false",
        "logger=none",
        "train.iterations=8",
        "callbacks.checkpoint.every_n_iterations=100",
        "callbacks.graceful_stop.check_every=2",
        f"paths.output_dir={output}",
        *pause_after(markers, 3),
        "+callbacks.rank_probe._target_=helpers.ddp_probe.RankProbe",
        f"+callbacks.rank_probe.dirpath={probe}",
        "+callbacks.rank_probe.run_dir=${paths.run_dir}",
    ]
    process = start(args, tmp_path, "ddp")
    pids = paused_ranks(process, markers, tmp_path, "ddp", ranks=2)
    assert pids[0] == process.pid and pids[1] != process.pid
    os.kill(pids[1], signal.SIGTERM)  # rank 1 alone hears it
    (markers / "go").write_text("")
    returncode, out, err = finish(process, tmp_path, "ddp")

    assert returncode == 143, err[-4000:]
    ranks = [json.loads((probe / f"rank{r}.json").read_text()) for r in (0, 1)]
    # Held after iteration 3: the ranks compare notes at 4 (check_every=2), validate (due at 4), stop.
    assert [r["iteration"] for r in ranks] == [4, 4]
    assert ranks[0]["weights_sum"] == pytest.approx(ranks[1]["weights_sum"], rel=1e-9)
    assert STOP_LINE.search(out).group(1, 2) == ("SIGTERM", "4")
    assert out.count("mangacolor-train: stopped by") == 1  # rank 0 alone speaks
    checkpoint_sets = {p.parent for p in output.rglob("*.ckpt")}
    assert len(checkpoint_sets) == 1
    checkpoints = checkpoint_sets.pop()
    assert sorted(p.name for p in checkpoints.glob("*.ckpt")) == ["best.ckpt", "last.ckpt"]
    assert iteration_of(checkpoints / "last.ckpt") == 4


# ---- SLURM -----------------------------------------------------------------------------------

FAKE_SCONTROL = """#!/bin/sh
echo "$@" >> "$SCONTROL_CALLS"
"""


def slurm_environment(tmp_path: Path, **extra: str) -> dict[str, str]:
    """What srun gives one task of job 4242 (the variables Lightning's SLURMEnvironment reads),
    and an `scontrol` that notes its arguments instead of requeueing."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / "scontrol").write_text(FAKE_SCONTROL)
    (bin_dir / "scontrol").chmod(0o755)
    slurm = {
        "SLURM_JOB_ID": "4242",
        "SLURM_STEP_ID": "0",
        "SLURM_JOB_NAME": "mangacolor",
        "SLURM_NTASKS": "1",
        "SLURM_NTASKS_PER_NODE": "1",
        "SLURM_NNODES": "1",
        "SLURM_PROCID": "0",
        "SLURM_LOCALID": "0",
        "SLURM_NODEID": "0",
        "SLURM_NODELIST": "localhost",
    }
    env = environment(**slurm, SCONTROL_CALLS=str(tmp_path / "scontrol.calls"), **extra)
    env["PATH"] = f"{bin_dir}{os.pathsep}{env['PATH']}"
    return env


@pytest.mark.slow
def test_a_requeued_slurm_job_continues_in_its_folder_by_itself(tmp_path, pages, uninterrupted):
    output, markers = tmp_path / "out", tmp_path / "markers"
    args = [*COMMON, *data_args(pages), f"paths.output_dir={output}"]  # no run folder, no ckpt_path
    process = start([*args, *pause_after(markers, 4)], tmp_path, "job", slurm_environment(tmp_path))
    paused_ranks(process, markers, tmp_path, "job")
    process.send_signal(signal.SIGUSR1)  # #SBATCH --signal=USR1@...: the time limit is near
    (markers / "go").write_text("")
    returncode, out, err = finish(process, tmp_path, "job")

    assert returncode == 128 + signal.SIGUSR1, err[-4000:]
    run_dir = output / "runs" / "slurm-4242-0"
    assert STOP_LINE.search(out).group(1, 2) == ("SIGUSR1", "5")
    assert f"SLURM job 4242 requeued: it continues in {run_dir} by itself" in out
    assert (tmp_path / "scontrol.calls").read_text() == "requeue 4242\n"
    assert iteration_of(run_dir / "checkpoints" / "last.ckpt") == 5

    # SLURM starts the batch script again: the same command, one restart more.
    returncode, out, err = finish(
        start(args, tmp_path, "requeued", slurm_environment(tmp_path, SLURM_RESTART_COUNT="1")),
        tmp_path,
        "requeued",
    )
    assert returncode == 0, err[-4000:]
    assert f"mangacolor-train: {ITERATIONS} iterations" in out
    assert [p.name for p in (output / "runs").iterdir()] == ["slurm-4242-0"]
    assert iteration_of(run_dir / "checkpoints" / "last.ckpt") == ITERATIONS
    assert_same_losses(metric_rows(run_dir), uninterrupted)
    assert (
        tmp_path / "scontrol.calls"
    ).read_text() == "requeue 4242\n"  # a finished run is not requeued


# ---- a full disk -----------------------------------------------------------------------------


@pytest.mark.slow
def test_a_full_disk_mid_checkpoint_ends_with_one_clear_line_and_every_earlier_checkpoint_loads(
    tmp_path, pages, uninterrupted
):
    run_dir = tmp_path / "run"
    full = [
        "+callbacks.full_disk._target_=helpers.interrupt_probe.FullDisk",
        "+callbacks.full_disk.file=iter_0000006.ckpt",
        "+callbacks.full_disk.free=100000",
    ]
    process = start(
        [*COMMON, *data_args(pages), f"hydra.run.dir={run_dir}", *full], tmp_path, "full"
    )
    returncode, out, err = finish(process, tmp_path, "full")

    assert returncode == 1
    checkpoints = run_dir / "checkpoints"
    errors = [line for line in err.splitlines() if line.startswith("mangacolor-train: error:")]
    assert len(errors) == 1, err[-4000:]
    assert "Traceback" not in err
    assert errors[0].startswith(
        f"mangacolor-train: error: could not write iter_0000006.ckpt in {checkpoints}: "
        f"No space left on device (100.00 kB free there, about 1."
    )
    assert "nothing half-written was left and the files already there are intact" in errors[0]
    # Warned at the start that the planned checkpoints would not fit.
    assert re.search(
        r"has 100.00 kB free, but this run's checkpoints need about [\d.]+ MB more", out + err
    )
    assert not list(run_dir.rglob(".*.tmp")) and not (checkpoints / "iter_0000006.ckpt").exists()
    # The write failed at iteration 6, before its validation: everything there is iteration 3's.
    assert sorted(p.name for p in checkpoints.glob("*.ckpt")) == [
        "best.ckpt",
        "iter_0000003.ckpt",
        "last.ckpt",
    ]
    for checkpoint in checkpoints.glob("*.ckpt"):
        assert iteration_of(checkpoint) == 3, checkpoint

    # Space freed (the simulation left out): the command the line ends with continues, exactly.
    returncode, out, err = run_printed_command(
        errors[0], tmp_path, "freed", drop="+callbacks.full_disk"
    )
    assert returncode == 0, err[-4000:]
    assert iteration_of(checkpoints / "last.ckpt") == ITERATIONS
    assert_same_losses(metric_rows(run_dir), uninterrupted)


# ---- keep_last -------------------------------------------------------------------------------


def test_keep_last_keeps_exactly_the_newest_k_iteration_checkpoints(tmp_path, pages):
    run_dir = tmp_path / "run"
    process = start(
        [
            *TINY,
            *data_args(pages),
            "logger=none",
            "train.iterations=5",
            "train.val_every=5",
            "callbacks.checkpoint.every_n_iterations=1",
            "callbacks.checkpoint.keep_last=2",
            f"hydra.run.dir={run_dir}",
        ],
        tmp_path,
        "keep",
    )
    returncode, out, err = finish(process, tmp_path, "keep")
    assert returncode == 0, err[-3000:]
    checkpoints = run_dir / "checkpoints"
    assert sorted(p.name for p in checkpoints.iterdir()) == [
        "best.ckpt",
        "generator.pt",
        "iter_0000004.ckpt",
        "iter_0000005.ckpt",
        "last.ckpt",
        "launch.json",
    ]
    assert os.path.samefile(
        checkpoints / "last.ckpt", checkpoints / "iter_0000005.ckpt"
    )  # a link, not a copy
    assert [iteration_of(checkpoints / n) for n in ("iter_0000004.ckpt", "best.ckpt")] == [4, 5]
    # The size the free-space check planned with is the size written, give or take Lightning's extras.
    planned = float(re.search(r"checkpoints: about ([\d.]+) MB each", out + err).group(1)) * 1e6
    assert planned == pytest.approx((checkpoints / "iter_0000005.ckpt").stat().st_size, rel=0.1)
