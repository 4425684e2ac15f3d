"""StopRequest: a signal is recorded, not acted on; a second Ctrl-C stops at once."""

from __future__ import annotations

import os
import signal

import pytest

from mangacolor.runtime.stop_signals import StopRequest, describe, exit_code


@pytest.fixture
def request_on_signals():
    stop = StopRequest()
    before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGUSR1)}
    stop.install([signal.SIGINT, signal.SIGTERM, signal.SIGUSR1])
    yield stop
    stop.restore()
    assert {s: signal.getsignal(s) for s in before} == before  # the handlers it replaced are back


def test_the_first_signal_is_recorded_and_the_program_goes_on(request_on_signals, capfd):
    os.kill(os.getpid(), signal.SIGTERM)
    assert request_on_signals.signum == signal.SIGTERM and not request_on_signals.forced
    assert "SIGTERM received: stopping after the current iteration" in capfd.readouterr().err
    # Schedulers repeat SIGTERM while the job saves: that must not hurry or change anything.
    os.kill(os.getpid(), signal.SIGTERM)
    os.kill(os.getpid(), signal.SIGUSR1)
    assert request_on_signals.signum == signal.SIGTERM and not request_on_signals.forced


def test_a_second_ctrl_c_raises_keyboard_interrupt_at_once(request_on_signals, capfd):
    os.kill(os.getpid(), signal.SIGINT)
    assert request_on_signals.signum == signal.SIGINT
    assert "Ctrl-C again stops at once" in capfd.readouterr().err
    with pytest.raises(KeyboardInterrupt):
        os.kill(os.getpid(), signal.SIGINT)
    assert request_on_signals.forced


def test_a_forked_worker_ignores_the_signal_its_parent_will_act_on(request_on_signals):
    request_on_signals._pid = (
        os.getpid() + 1
    )  # as seen from a DataLoader worker forked after install
    os.kill(os.getpid(), signal.SIGINT)
    assert request_on_signals.signum is None


def test_quiet_ranks_say_nothing(request_on_signals, capfd):
    request_on_signals.quiet = True
    os.kill(os.getpid(), signal.SIGUSR1)
    assert request_on_signals.signum == signal.SIGUSR1
    assert capfd.readouterr().err == ""


def test_exit_codes_and_names_follow_the_shell():
    assert (exit_code(signal.SIGINT), exit_code(signal.SIGTERM), exit_code(signal.SIGUSR1)) == (
        130,
        143,
        138,
    )
    assert describe(signal.SIGINT) == "Ctrl-C (SIGINT)" and describe(signal.SIGUSR1) == "SIGUSR1"
