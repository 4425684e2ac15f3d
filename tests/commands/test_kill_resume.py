"""Kill a training run with SIGKILL at three moments, resume each time from last.ckpt, and finish.

The moments are made exact by a launcher (test code only, nothing in the package) that pauses the
run at a chosen point and tells the test, which then kills it:
  1. mid-training, between two checkpoints (after iteration 3; last.ckpt is iteration 2);
  2. in the middle of writing a checkpoint (iter_0000006.ckpt half written to its temporary file);
  3. at the very end, half-way through writing generator.pt (last.ckpt is the final iteration).
The resumed run must end with the right iteration count, every checkpoint left on disk must load,
and the result must be the one an uninterrupted run gives.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from helpers.pages import make_pages

from mangacolor.inference.generator_file import load_generator
from mangacolor.runtime.checkpoint_io import safe_torch_load

ITERATIONS = 8

LAUNCHER = r"""
import contextlib, os, sys, time
from pathlib import Path


def pause(where):
    Path(os.environ["TEST_PAUSED_MARKER"]).write_text(where)
    time.sleep(3600)  # until the test kills this process


at_iteration = int(os.environ.get("TEST_PAUSE_AFTER_ITERATION", "0"))
if at_iteration:
    from mangacolor.models.pix2pix import Pix2Pix

    real_step = Pix2Pix.training_step

    def step_then_pause(self, batch, batch_idx):
        result = real_step(self, batch, batch_idx)
        if self.iteration == at_iteration:
            pause(f"after iteration {self.iteration}")
        return result

    Pix2Pix.training_step = step_then_pause

writing = os.environ.get("TEST_PAUSE_WRITING")
if writing:
    import mangacolor.runtime.checkpoint_io
    import mangacolor.inference.generator_file
    from mangacolor.runtime.atomic import atomic_write

    @contextlib.contextmanager
    def half_written(path, **options):
        with atomic_write(path, **options) as handle:
            yield handle
            if Path(path).name == writing:  # leave half of it in the temporary file, then die
                handle.flush()
                handle.truncate(handle.tell() // 2)
                handle.flush()
                os.fsync(handle.fileno())
                pause(f"writing {path}")

    mangacolor.runtime.checkpoint_io.atomic_write = half_written
    mangacolor.inference.generator_file.atomic_write = half_written

from mangacolor.commands.train import main

sys.argv[0] = "mangacolor-train"
main()
"""


def overrides(pages: Path, run_dir: Path, resume_from: Path | None = None) -> list[str]:
    return [
        "+debug=tiny",
        f"data.train_dir={pages}",
        "logger=none",
        "trainer.enable_progress_bar=false",
        f"train.iterations={ITERATIONS}",
        "callbacks.checkpoint.every_n_iterations=2",
        f"hydra.run.dir={run_dir}",
        *([f"ckpt_path={resume_from}"] if resume_from else []),
    ]


def start(args: list[str], log: Path, env: dict) -> subprocess.Popen:
    with open(log, "wb") as out:  # a file, not a pipe: a full pipe would stall the child
        return subprocess.Popen(
            [sys.executable, "-c", LAUNCHER, *args],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, **env},
            cwd=log.parent,
        )


def run_until_paused_then_kill(args: list[str], tmp_path: Path, name: str, pause: dict) -> str:
    marker = tmp_path / f"{name}.paused"
    log = tmp_path / f"{name}.log"
    process = start(args, log, {**pause, "TEST_PAUSED_MARKER": str(marker)})
    deadline = time.monotonic() + 300  # a guard against a hang, not a timing check
    try:
        while not marker.exists():
            if process.poll() is not None:
                pytest.fail(
                    f"{name} ended (rc {process.returncode}) before pausing:\n{log.read_text()[-3000:]}"
                )
            if time.monotonic() > deadline:
                pytest.fail(f"{name} never paused:\n{log.read_text()[-3000:]}")
            time.sleep(0.05)
    finally:
        process.send_signal(signal.SIGKILL)  # power cut
        process.wait()
    assert process.returncode == -signal.SIGKILL
    return marker.read_text()


def iteration_of(checkpoint: Path) -> int:
    return int(safe_torch_load(checkpoint)["mangacolor"]["iteration"])


def test_killed_three_times_and_resumed_it_finishes_as_if_never_killed(tmp_path):
    pages = tmp_path / "pages"
    make_pages(pages, 10)
    runs = [tmp_path / f"run{i}" for i in range(1, 5)]

    # 1. Killed mid-training, between checkpoints.
    where = run_until_paused_then_kill(
        overrides(pages, runs[0]), tmp_path, "run1", {"TEST_PAUSE_AFTER_ITERATION": "3"}
    )
    assert where == "after iteration 3"
    assert iteration_of(runs[0] / "checkpoints" / "last.ckpt") == 2

    # 2. Resumed, then killed half-way through writing a checkpoint.
    run_until_paused_then_kill(
        overrides(pages, runs[1], runs[0] / "checkpoints" / "last.ckpt"),
        tmp_path,
        "run2",
        {"TEST_PAUSE_WRITING": "iter_0000006.ckpt"},
    )
    checkpoints = runs[1] / "checkpoints"
    assert not (
        checkpoints / "iter_0000006.ckpt"
    ).exists()  # the half-written file has only its temporary name
    assert [p.name for p in checkpoints.glob(".iter_0000006.ckpt.*.tmp")]
    assert iteration_of(checkpoints / "last.ckpt") == 4

    # 3. Resumed, then killed at the very end, half-way through writing generator.pt.
    run_until_paused_then_kill(
        overrides(pages, runs[2], runs[1] / "checkpoints" / "last.ckpt"),
        tmp_path,
        "run3",
        {"TEST_PAUSE_WRITING": "generator.pt"},
    )
    assert not (runs[2] / "checkpoints" / "generator.pt").exists()
    assert iteration_of(runs[2] / "checkpoints" / "last.ckpt") == ITERATIONS

    # 4. Resumed once more: nothing left to train, so it only writes what the kill cut short.
    log = tmp_path / "run4.log"
    final = start(overrides(pages, runs[3], runs[2] / "checkpoints" / "last.ckpt"), log, {})
    assert final.wait(timeout=300) == 0, log.read_text()[-3000:]
    assert f"mangacolor-train: {ITERATIONS} iterations" in log.read_text()
    assert iteration_of(runs[3] / "checkpoints" / "last.ckpt") == ITERATIONS

    # No corrupt checkpoint anywhere: every file with a checkpoint's name loads.
    for checkpoint in sorted(tmp_path.glob("run*/checkpoints/*.ckpt")):
        assert iteration_of(checkpoint) > 0, checkpoint
    resumed, _ = load_generator(runs[3] / "checkpoints" / "generator.pt")

    # And the result is what an uninterrupted run gives: resuming lost and repeated nothing.
    log = tmp_path / "uninterrupted.log"
    whole = start(overrides(pages, tmp_path / "uninterrupted"), log, {})
    assert whole.wait(timeout=300) == 0, log.read_text()[-3000:]
    uninterrupted, _ = load_generator(tmp_path / "uninterrupted" / "checkpoints" / "generator.pt")
    for (name, a), b in zip(
        resumed.state_dict().items(), uninterrupted.state_dict().values(), strict=True
    ):
        assert torch.equal(a, b), name
