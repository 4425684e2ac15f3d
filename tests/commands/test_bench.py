"""mangacolor-bench from the command line: correct fields and positive numbers at tiny sizes on the
CPU (never its speed). The library's own tests are in tests/benchmark/."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch
from helpers.bench import TINY_BENCH, read_report
from helpers.cli import run_cli
from helpers.pages import make_pages

from mangacolor.benchmark import profiling


def test_bench_console_script_writes_every_task_with_positive_numbers(tmp_path):
    pages = tmp_path / "pages"
    make_pages(pages, 6, (48, 40))
    make_pages(pages / "more", 2, (40, 56), seed=1, suffix=".jpg")
    out = tmp_path / "out"
    result = run_cli(
        [
            "mangacolor-bench",
            *TINY_BENCH,
            f"data.train_dir={pages}",
            f"paths.output_dir={out}",
            "bench.channels_last=[false,true]",
        ],
        cwd=tmp_path,
    )  # from outside the checkout
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    assert "mangacolor-bench: 6 rows" in result.stdout
    # stderr is not a terminal here: a line per row with the count, no redrawn bar.
    counts = [line for line in result.stderr.splitlines() if line.startswith("mangacolor-bench: ")]
    assert "\r" not in result.stderr and [line.split(",")[0] for line in counts] == [
        f"mangacolor-bench: {n}/6 ({100 * n / 6:.0f}%)" for n in range(1, 7)
    ]
    assert "| colourise: " in counts[-1] and "pages/s" in counts[-1]

    report = read_report(out)
    assert report["machine"]["device"] == "cpu" and report["machine"]["cpu_cores"] >= 1
    assert report["complete"] is True
    markdown = next(out.glob("bench/*/bench.md")).read_text()  # bench.markdown is on by default
    assert markdown.count(f"| {report['machine']['name']} |") == len(report["rows"]) == 6
    assert report["commit"] and report["command"].startswith("mangacolor-bench")
    rows = {(row["task"], row["settings"].get("channels_last")): row for row in report["rows"]}
    assert {task for task, _ in rows} == {"model", "data", "end_to_end", "colourise"}
    for row in report["rows"]:
        assert row["machine"] == report["machine"]["name"] and row["torch"] == torch.__version__
        assert row["commit"] == report["commit"]

    for channels_last in (False, True):
        model = rows[("model", channels_last)]["results"]
        for key in (
            "iterations_per_s",
            "images_per_s",
            "step_ms",
            "gflop_per_image",
            "achieved_tflops",
        ):
            assert model[key] > 0, key
        if model["peak_tflops"] is not None:  # a CPU's peak from its cores, clock and instructions
            assert model["mfu"] == pytest.approx(model["achieved_tflops"] / model["peak_tflops"])
            assert "FLOP/cycle" in model["peak_how"]
        assert model["generator_params"] > 0 and model["discriminator_params"] > 0
    assert rows[("model", False)]["settings"]["batch_size"] == 2  # +debug=tiny's data.batch_size

    data = rows[("data", None)]
    assert data["settings"]["folder"] == str(pages) and data["settings"]["workers"] == 0
    assert data["results"]["images_per_s"] > 0 and data["results"]["transforms_images_per_s"] > 0
    assert data["results"]["train_pages"] == 8 and data["results"]["ratio_to_model"] > 0
    assert data["results"]["worker_pages_per_s"] > 0 and data["results"]["worker_pages_timed"] == 8
    assert rows[("end_to_end", False)]["results"]["images_per_s"] > 0
    # Host syncs are counted with CUDA's sync debug mode: on a CPU there is nothing to count.
    assert (
        model["host_syncs_per_iteration"] is None
        and data["results"]["host_syncs_per_batch"] is None
    )
    for channels_last in (False, True):  # bench.channels_last applies to the colourise rows too
        colorize_row = rows[("colourise", channels_last)]
        assert (
            colorize_row["results"]["pages_per_s"] > 0
            and colorize_row["settings"]["page_height"] == 72
        )
        assert (
            colorize_row["results"]["gflop_per_page"] > 0
            and colorize_row["settings"]["threads"] >= 1
        )


@pytest.mark.slow
def test_bench_compiled_model_row(tmp_path):
    result = run_cli(
        [
            "mangacolor-bench",
            *TINY_BENCH,
            "bench.tasks=[model]",
            "bench.compile=[true]",
            "bench.warmup=2",
            f"paths.output_dir={tmp_path}",
        ],
        cwd=tmp_path,
        timeout=900,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    (row,) = read_report(tmp_path)["rows"]
    assert row["settings"]["compile"] is True and row["results"]["images_per_s"] > 0


def test_profiled_model_row_through_python_dash_m_writes_table_trace_markdown_and_shares(tmp_path):
    out = tmp_path / "out"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "mangacolor.commands.bench",
            *TINY_BENCH,
            "bench.tasks=[model]",
            "bench.batch_sizes=[2,4]",
            "bench.profile=[4]",
            "bench.profile_iterations=2",
            "bench.profile_trace=true",
            f"paths.output_dir={out}",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    folder = next(out.glob("bench/*/"))
    plain, profiled = read_report(out)["rows"]
    assert "profile" not in plain["results"] and plain["settings"]["profile_iterations"] == 0
    summary = profiled["results"]["profile"]
    assert profiled["settings"]["profile_iterations"] == 2 and summary["iterations"] == 2
    assert set(summary["shares"]) == set(profiling.CATEGORIES)
    assert sum(summary["shares"].values()) == pytest.approx(1.0)
    assert summary["shares"]["convolution"] > 0 and summary["shares"]["optimizer"] > 0
    assert 0 < summary["busy_fraction"] and summary["wall_ms_per_iteration"] > 0 and summary["top"]
    assert (summary["table"], summary["trace"]) == ("profile_1.txt", "profile_1.json")
    table = (folder / "profile_1.txt").read_text()
    assert "busy fraction" in table and "aten::" in table
    assert json.loads((folder / "profile_1.json").read_text())  # a Chrome trace
    assert not (folder / "profile_0.txt").exists()
    assert "profile: busy" in result.stdout  # the printed table's line under the row
    assert "- row 1 (model, 32², 32-true, batch 4" in (folder / "bench.md").read_text()
