"""The stop callback's own values, and the lines a stopped run ends with."""

from __future__ import annotations

import signal

import pytest

from mangacolor.callbacks.graceful_stop import GracefulStop
from mangacolor.runtime.config_errors import ConfigError

KEY = "callbacks.graceful_stop"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"check_every": 0}, f"{KEY}.check_every must be >= 1, got 0"),
        ({"check_every": "10"}, f"{KEY}.check_every must be >= 1, got '10'"),
        ({"requeue_signal": "SIGNOPE"}, f"{KEY}.requeue_signal: not a signal name: 'SIGNOPE'"),
    ],
)
def test_bad_values_are_refused_naming_their_key(options, message):
    with pytest.raises(ConfigError) as caught:
        GracefulStop(**options)
    assert message in str(caught.value)


def test_good_values_are_taken():
    assert GracefulStop(check_every=1, requeue_signal="USR2").check_every == 1
    assert GracefulStop(requeue_signal=None).requeue_signal is None


def stopped(signum: int) -> GracefulStop:
    stop = GracefulStop()
    stop.stopped_by = signum
    return stop


def test_the_stop_line_says_the_signal_the_iteration_what_was_saved_and_how_to_resume(tmp_path):
    saved = tmp_path / "checkpoints" / "last.ckpt"
    line = stopped(signal.SIGINT).stop_line(5, 6, saved, tmp_path, None)
    assert line.startswith(
        f"mangacolor-train: stopped by Ctrl-C (SIGINT) at iteration 5 of 6; "
        f"saved {saved} and generator.pt. Resume with: mangacolor-train "
    )
    assert line.endswith(f"hydra.run.dir={tmp_path} ckpt_path=last")
    unsaved = stopped(signal.SIGTERM).stop_line(5, 6, None, tmp_path, None)
    assert "SIGTERM at iteration 5 of 6; nothing saved (no callbacks.checkpoint)." in unsaved


def test_the_stop_line_says_whether_slurm_requeued_the_job(tmp_path, monkeypatch):
    monkeypatch.setenv("SLURM_JOB_ID", "4242")
    stop = stopped(signal.SIGUSR1)
    requeued = stop.stop_line(5, 6, tmp_path / "last.ckpt", tmp_path, True)
    assert (
        f"SLURM job 4242 requeued: it continues in {tmp_path} by itself (or now: mangacolor-train "
    ) in requeued
    why = "scontrol requeue 4242 failed (1): no"
    refused = stop.stop_line(5, 6, tmp_path / "last.ckpt", tmp_path, why)
    assert f"The SLURM job was not requeued ({why}); resume with: mangacolor-train " in refused


def test_a_second_ctrl_c_says_whether_earlier_checkpoints_are_there(tmp_path):
    stop = GracefulStop()
    first = "mangacolor-train: stopped at once by a second Ctrl-C after iteration 3; "
    assert stop.forced_stop_line(3, False, tmp_path) == first + "nothing was saved"
    assert stop.forced_stop_line(3, True, tmp_path).startswith(
        first + "the checkpoints saved before are as they were. Resume with: mangacolor-train "
    )
