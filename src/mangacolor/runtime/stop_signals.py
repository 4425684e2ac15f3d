"""Signals that ask a long job to stop: the handler only records the request; the job acts on it
between two steps.

A Python signal handler runs between two bytecodes of the main thread: in the middle of a
backward pass, an optimizer step or a checkpoint write. Saving from there can store a state half
way through an update (Lightning's SLURM handler does, Lightning issue #21406), and under DDP a
collective started there pairs with whatever the other ranks are doing. So `StopRequest` only
notes the first signal; training checks it between iterations
(`mangacolor.callbacks.graceful_stop.GracefulStop`) and stops there, saving first.

A second Ctrl-C is the way out when that takes too long: it raises KeyboardInterrupt at once
(a write in progress is abandoned, its temporary file removed, the files already there kept).
A repeated SIGTERM or requeue signal does not hurry the stop: schedulers send them again while
the job is saving.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterable
from types import FrameType

DESCRIPTIONS = {
    signal.SIGINT: "Ctrl-C (SIGINT)",
    signal.SIGTERM: "SIGTERM",
}


def describe(signum: int) -> str:
    """'Ctrl-C (SIGINT)', 'SIGTERM', 'SIGUSR1', ..."""
    signum = signal.Signals(signum)
    return DESCRIPTIONS.get(signum, signum.name)


def exit_code(signum: int) -> int:
    """The shell's code for a process ended by `signum`: 130 for SIGINT, 143 for SIGTERM."""
    return 128 + int(signum)


class StopRequest:
    """The first stop signal this process received, if any (`signum`), and whether a second
    Ctrl-C asked to stop at once (`forced`)."""

    def __init__(self) -> None:
        self.signum: int | None = None
        self.forced = False
        self.quiet = False  # True on DDP ranks above 0: rank 0 alone says what happens
        self._previous: dict[int, object] = {}
        self._pid = os.getpid()

    def install(self, signals: Iterable[int]) -> None:
        """Record `signals` from now on, instead of their current handlers (kept for `restore`)."""
        self._pid = os.getpid()
        for signum in signals:
            self._previous.setdefault(signum, signal.getsignal(signum))
            signal.signal(signum, self._handle)

    def restore(self) -> None:
        """Put back the handlers `install` replaced."""
        for signum, handler in self._previous.items():
            signal.signal(signum, handler if handler is not None else signal.SIG_DFL)
        self._previous = {}

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if os.getpid() != self._pid:
            # A DataLoader worker forked from the trainer inherits this handler; a terminal's
            # Ctrl-C or a scheduler's signal reaches it too. Its parent decides when to stop.
            return
        if self.signum is None:
            self.signum = signum
            self._say(
                f"{describe(signum)} received: stopping after the current iteration, once last.ckpt and "
                f"generator.pt are saved"
                + (
                    " (Ctrl-C again stops at once, without saving)"
                    if signum == signal.SIGINT
                    else ""
                )
            )
            return
        if signum == signal.SIGINT:
            self.forced = True
            signal.signal(signal.SIGINT, signal.default_int_handler)
            raise KeyboardInterrupt

    def _say(self, text: str) -> None:
        if not self.quiet:
            # os.write, not print: print's buffer may be mid-write in the code this handler interrupted.
            os.write(2, f"\nmangacolor: {text}\n".encode(errors="replace"))
