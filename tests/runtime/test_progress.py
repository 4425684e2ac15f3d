"""The shared progress display: a bar on a terminal, a few plain lines anywhere else."""

import io

import pytest

from mangacolor.runtime import progress as progress_module
from mangacolor.runtime.progress import Progress, is_terminal, resolve_mode


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


class FakeClock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch) -> FakeClock:
    fake = FakeClock()
    monkeypatch.setattr(progress_module.time, "perf_counter", fake)
    return fake


def test_auto_is_a_bar_on_a_terminal_and_lines_anywhere_else(tmp_path):
    assert resolve_mode("auto", Terminal()) == "bar"
    assert resolve_mode("auto", io.StringIO()) == "lines"
    with open(tmp_path / "log", "w") as log:  # `make demo > log`
        assert not is_terminal(log)
        assert resolve_mode("auto", log) == "lines"
    closed = io.StringIO()
    closed.close()
    assert resolve_mode("auto", closed) == "lines"  # isatty() raises on a closed stream
    assert resolve_mode("auto", object()) == "lines"  # no isatty at all
    assert (
        resolve_mode("lines", Terminal()) == "lines" and resolve_mode("bar", io.StringIO()) == "bar"
    )
    with pytest.raises(ValueError, match="auto, bar, lines, off"):
        resolve_mode("fancy", io.StringIO())


def test_a_terminal_gets_one_redrawn_bar_with_the_total(clock):
    stream = Terminal()
    bar = Progress(50, "job", "page", stream=stream)
    for _ in range(50):
        clock.now += 1.0
        bar.update(1, {"dE00": "3.1"})
    bar.close()
    text = stream.getvalue()
    assert "\r" in text  # redrawn in place
    assert "50/50" in text and "100%" in text and "dE00 3.1" in text
    assert bar.lines_written == 0


def test_a_log_gets_a_line_at_the_start_every_twentieth_and_at_the_end(clock):
    stream = io.StringIO()
    job = Progress(1000, "job", "img", stream=stream, seconds=1e9)
    for _ in range(1000):
        clock.now += 0.5
        job.update(1, {"dE00": "3.14"})
    job.close()
    text = stream.getvalue()
    lines = text.splitlines()
    assert "\r" not in text
    assert (
        len(lines) == job.lines_written == 21
    )  # item 1, items 51, 101, ... 951 (every 50), and 1000
    assert lines[0].startswith("job: 1/1000 (0%)")
    assert lines[1].startswith("job: 51/1000 (5%)")
    assert lines[-1].startswith(
        "job: 1000/1000 (100%), 2 img/s, 08:20 elapsed, 00:00 left | dE00 3.14"
    )
    assert len(text) < 2000  # a thousand items, two kilobytes at most


def test_a_slow_job_gets_a_line_every_so_many_seconds(clock):
    stream = io.StringIO()
    job = Progress(1000, "job", "img", stream=stream, every=500, seconds=60)
    for _ in range(30):
        clock.now += 10.0  # an item every 10 s: the clock calls for a line every sixth item
        job.update()
    lines = stream.getvalue().splitlines()
    assert [line.split(",")[0] for line in lines] == [
        f"job: {n}/1000 ({n / 10:.0f}%)" for n in (1, 7, 13, 19, 25)
    ]
    assert "0.1 img/s" in lines[-1] and "2:42:30 left" in lines[-1]  # 975 items at 0.1 items/s


def test_a_resumed_count_starts_where_it_left_off_and_rates_only_new_items(clock):
    stream = io.StringIO()
    job = Progress(
        100, "mangacolor-train", "it", initial=40, stream=stream, count_label="iteration "
    )
    clock.now += 4.0
    job.update_to(42)
    assert stream.getvalue().startswith(
        "mangacolor-train: iteration 42/100 (42%), 0.5 it/s, 00:04 elapsed, 01:56 left"
    )
    bar_stream = Terminal()
    bar = Progress(100, "mangacolor-train", "it", initial=40, stream=bar_stream)
    bar.close()
    assert "40/100" in bar_stream.getvalue() and "0/100" not in bar_stream.getvalue().replace(
        "40/100", ""
    )


def test_off_shows_no_count_but_still_the_messages(clock):
    stream = Terminal()
    job = Progress(10, "job", stream=stream, mode="off")
    job.update(5)
    job.write("skipped a.png: truncated")
    job.close()
    assert stream.getvalue() == "skipped a.png: truncated\n"


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="every 0 items"):
        Progress(10, "job", stream=io.StringIO(), every=0)
    with pytest.raises(ValueError, match="every 0 seconds"):
        Progress(10, "job", stream=io.StringIO(), seconds=0)
