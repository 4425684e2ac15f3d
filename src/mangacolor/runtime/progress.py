"""Progress of a long job, shown the way its output is read: a live bar on a terminal, plain lines in a log.

On a terminal (the stream's `isatty()`) a tqdm bar redraws in place with the total, the rate and
the time left. Anywhere else (a SLURM or CI log, `make demo > log`, a pipe) every redraw would be
written out -- the 600-iteration demo wrote 110 KB of carriage-return updates -- so one plain line
is printed instead at the first item, then every `every` items or `seconds` seconds, whichever
comes first, and at the end:

    mangacolor-eval: 40/187 (21%), 3.1 img/s, 00:12 elapsed, 00:47 left | dE00 12.41, skipped 0

Training (`mangacolor.callbacks.progress`), mangacolor-eval, mangacolor-colorize and mangacolor-bench
all show their progress through `Progress`.
"""

from __future__ import annotations

import math
import sys
import time
from typing import IO

from tqdm import tqdm

MODES = ("auto", "bar", "lines", "off")


def is_terminal(stream: IO) -> bool:
    """Whether `stream` is an interactive terminal (False for files, pipes and closed streams)."""
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):
        return False


def resolve_mode(mode: str, stream: IO) -> str:
    """'auto' -> 'bar' on a terminal, else 'lines'; 'bar', 'lines' and 'off' as they are."""
    if mode not in MODES:
        raise ValueError(f"progress mode must be one of {', '.join(MODES)}, got {mode!r}")
    if mode == "auto":
        return "bar" if is_terminal(stream) else "lines"
    return mode


def format_seconds(seconds: float | None) -> str:
    """12.3 -> '00:12', 3725 -> '1:02:05' (tqdm's own format, so bar and lines read alike)."""
    if seconds is None or not math.isfinite(seconds):
        return "?"
    return tqdm.format_interval(max(0.0, seconds))


def format_rate(rate: float | None, unit: str) -> str:
    if rate is None:
        return f"? {unit}/s"
    return f"{rate:.3g} {unit}/s" if rate < 100 else f"{rate:,.0f} {unit}/s"


class Progress:
    """`n` of `total` items done: a bar on a terminal, plain lines elsewhere (see the module's doc).

    desc: what the job is, at the start of each line; unit: what an item is ("it", "img", "page").
    initial: items already done before this process started (a resumed run): the count starts
    there and the rate counts only the items done here.
    mode: auto (bar on a terminal, else lines), bar, lines or off.
    every / seconds: in lines mode, a line every `every` items (default: a twentieth of the total)
    or `seconds` seconds, whichever comes first.
    The fields (`update(..., fields)`, `set_fields`) are the latest values shown after the count.
    """

    def __init__(
        self,
        total: int | None,
        desc: str,
        unit: str = "it",
        *,
        initial: int = 0,
        stream: IO | None = None,
        mode: str = "auto",
        every: int | None = None,
        seconds: float = 60.0,
        count_label: str = "",
    ):
        self.stream = stream if stream is not None else sys.stderr
        self.mode = resolve_mode(mode, self.stream)
        if every is not None and every < 1:
            raise ValueError(
                f"progress: a line every {every} items; give at least 1 (or null for a twentieth)"
            )
        if seconds <= 0:
            raise ValueError(f"progress: a line every {seconds} seconds; give a positive number")
        self.total, self.desc, self.unit = total, desc, unit
        self.count_label = (
            count_label  # e.g. "iteration ": "iteration 150/600" rather than "150/600 it"
        )
        self.initial = self.n = initial
        # Without a total, only the clock (and the first and last items) call for a line.
        self.every = every or (max(1, math.ceil(total / 20)) if total else sys.maxsize)
        self.seconds = seconds
        self.fields: dict[str, str] = {}
        self.lines_written = 0
        self._started = time.perf_counter()
        self._last_line_n: int | None = None
        self._last_line_time = self._started
        self._closed = False
        self._bar = None
        if self.mode == "bar":
            self._bar = tqdm(
                total=total,
                initial=initial,
                desc=desc,
                unit=unit,
                file=self.stream,
                dynamic_ncols=True,
                mininterval=0.5,
            )

    # ---- counting ------------------------------------------------------------------------------
    def update(self, n: int = 1, fields: dict[str, object] | None = None) -> None:
        """`n` more items done; `fields` replace the shown values of the same names."""
        self.update_to(self.n + n, fields)

    def update_to(self, count: int, fields: dict[str, object] | None = None) -> None:
        """The count is now `count` (e.g. the training iteration)."""
        if fields:
            self.fields.update({name: str(value) for name, value in fields.items()})
        done, self.n = count - self.n, count
        if self._bar is not None:
            if fields:
                self._bar.set_postfix_str(self._fields_text(), refresh=False)
            self._bar.update(done)
        elif self.mode == "lines" and self._line_due():
            self._write_line()

    def set_fields(self, fields: dict[str, object]) -> None:
        """Change the shown values without counting an item (shown at the next redraw or line)."""
        self.fields.update({name: str(value) for name, value in fields.items()})
        if self._bar is not None:
            self._bar.set_postfix_str(self._fields_text())

    def _line_due(self) -> bool:
        if self._last_line_n is None:
            return True  # the first item: the log shows at once that the job runs, and how fast it starts
        return (
            self.n - self._last_line_n >= self.every
            or time.perf_counter() - self._last_line_time >= self.seconds
        )

    # ---- what is shown --------------------------------------------------------------------------
    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self._started

    @property
    def rate(self) -> float | None:
        """Items per second done by this process (a resumed run's earlier items left out)."""
        done, elapsed = self.n - self.initial, self.elapsed
        return done / elapsed if done > 0 and elapsed > 0 else None

    @property
    def seconds_left(self) -> float | None:
        rate = self.rate
        if self.total is None or rate is None:
            return None
        return max(0, self.total - self.n) / rate

    def _fields_text(self) -> str:
        return ", ".join(
            f"{name} {value}" if name else value for name, value in self.fields.items()
        )

    def line(self) -> str:
        """The plain line for the current count."""
        if self.total:
            count = f"{self.count_label}{self.n}/{self.total} ({100 * self.n / self.total:.0f}%)"
            left = f", {format_seconds(self.seconds_left)} left"
        else:
            count, left = f"{self.count_label}{self.n}", ""
        text = f"{self.desc}: {count}, {format_rate(self.rate, self.unit)}, {format_seconds(self.elapsed)} elapsed{left}"
        fields = self._fields_text()
        return f"{text} | {fields}" if fields else text

    def _write_line(self) -> None:
        print(self.line(), file=self.stream, flush=True)
        self.lines_written += 1
        self._last_line_n, self._last_line_time = self.n, time.perf_counter()

    def write(self, message: str) -> None:
        """A message of its own (a skipped file, a validation result) that does not break the bar."""
        if self._bar is not None:
            self._bar.write(message, file=self.stream)
        else:
            print(message, file=self.stream, flush=True)

    def close(self) -> None:
        """Finish the bar, or write the last count as a line (if not already the last line)."""
        if self._closed:
            return
        self._closed = True
        if self._bar is not None:
            self._bar.close()
        elif self.mode == "lines" and self._last_line_n != self.n:
            self._write_line()

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
