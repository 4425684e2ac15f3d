"""mangacolor.benchmark.report: the printed table, the JSON and the markdown rows of docs/benchmarks.md."""

from __future__ import annotations

import json

from helpers.cli import REPO

from mangacolor.benchmark import profiling
from mangacolor.benchmark import report as bench_report


def test_a_colourise_row_says_its_process_cpu_and_the_report_its_isa_limit():
    row = {
        "task": "colourise",
        "settings": {
            "page_height": 800,
            "page_width": 1152,
            "short_side": 512,
            "precision": "32-true",
        },
        "results": {"pages_per_s": 1.33, "ms_per_page": 753.0, "process_cpu_s_per_page": 1.5},
    }
    assert "(process CPU 1.5 s)" in bench_report.row_summary(row)[2]
    assert (
        bench_report.isa_text({"onednn_max_cpu_isa": "AVX512_CORE_BF16"})
        == ", ONEDNN_MAX_CPU_ISA=AVX512_CORE_BF16"
    )
    assert bench_report.isa_text({"onednn_max_cpu_isa": None}) == ""


def test_printed_table_puts_each_profile_line_under_its_row():
    def row(batch, profile=None):
        results = {
            "iterations_per_s": 1.0,
            "images_per_s": float(batch),
            "step_ms": 1000.0,
            "process_cpu_s_per_iteration": 1.0,
            "gflop_per_image": 1.0,
            "achieved_tflops": 1.0,
            "peak_memory_gib": None,
            "mfu": None,
        }
        if profile is not None:
            results["profile"] = profile
        return {
            "task": "model",
            "settings": {
                "size": 32,
                "batch_size": batch,
                "precision": "32-true",
                "compile": False,
                "channels_last": False,
            },
            "results": results,
        }

    summary = {
        "wall_ms_per_iteration": 12.0,
        "busy_fraction": 0.5,
        "table": "profile_1.txt",
        "shares": dict.fromkeys(profiling.CATEGORIES, 1 / 6),
    }
    lines = bench_report.format_bench_table(
        [row(1), row(2, summary), row(4, {"error": "RuntimeError: no"})]
    ).splitlines()
    assert [line.split()[0] for line in lines] == [
        "task",
        "model",
        "model",
        "profile:",
        "model",
        "profile",
    ]
    assert "busy 50% of 12 ms/it" in lines[3] and "(profile_1.txt)" in lines[3]
    assert lines[5].strip() == "profile failed: RuntimeError: no"


def sample_report(complete=True) -> dict:
    machine = {
        "name": "NVIDIA H100 80GB HBM3",
        "torch": "2.11.0",
        "cuda": "13.0",
        "lightning": "2.6.6",
        "python": "3.12.3",
        "cpu_cores": 16,
        "cpu": "Xeon",
        "load_average_at_start": [0.1, 0.1, 0.1],
    }
    common = {"machine": machine["name"], "torch": "2.11.0", "commit": "abc1234"}
    model = {
        "task": "model",
        **common,
        "settings": {
            "size": 512,
            "precision": "bf16-mixed",
            "batch_size": 32,
            "compile": True,
            "channels_last": False,
        },
        "results": {
            "images_per_s": 812.4,
            "mfu": 0.3107,
            "peak_memory_gib": 41.26,
            "profile": {
                "wall_ms_per_iteration": 39.4,
                "busy_fraction": 0.97,
                "table": "profile_0.txt",
                "shares": dict.fromkeys(profiling.CATEGORIES, 1 / 6),
            },
        },
    }
    data = {
        "task": "data",
        **common,
        "settings": {
            "size": 512,
            "window": 1024,
            "batch_size": 16,
            "workers": 16,
            "decode_on_device": True,
        },
        "results": {"images_per_s": 1500.0, "ratio_to_model": 1.85},
    }
    colorize_row = {
        "task": "colourise",
        **common,
        "settings": {
            "page_height": 1152,
            "page_width": 800,
            "short_side": 512,
            "precision": "bf16-mixed",
            "tile": 1024,
            "pages_per_call": 4,
        },
        "results": {"pages_per_s": 31.25},
    }
    return {
        "date": "2026-11-26T10:00:00+00:00",
        "command": "mangacolor-bench +experiment=manga",
        "commit": "abc1234",
        "machine": machine,
        "load_average_at_end": [0.2, 0.1, 0.1],
        "complete": complete,
        "rows": [model, data, colorize_row],
    }


def test_markdown_rows_have_the_layout_of_the_gpu_table_in_docs():
    docs = (REPO / "docs" / "benchmarks.md").read_text()
    header = "| " + " | ".join(bench_report.COLUMNS) + " |"
    assert header in docs  # the table the rows are pasted into
    lines = bench_report.markdown_table(sample_report()).splitlines()
    assert lines[0] == header and lines[1] == "| --- | --- | --- | --- | --- | --- | --- | --- |"
    assert lines[2] == (
        "| NVIDIA H100 80GB HBM3 | model | 512², bf16-mixed, batch 32, compile on, channels_last off "
        "| 812 | 31.1 % | 41.3 GiB | 2026-11-26 | `abc1234` |"
    )
    assert lines[3] == (
        "| NVIDIA H100 80GB HBM3 | data | 512² of 1024 windows, batch 16, 16 workers, decode on device on "
        "| 1,500 (1.85 x the model) |  |  | 2026-11-26 | `abc1234` |"
    )
    assert "| 31.2 pages/s |" in lines[4]
    text = "\n".join(lines)
    assert (
        "Command: `mangacolor-bench +experiment=manga`" in text
        and "torch 2.11.0, CUDA 13.0" in text
    )
    assert (
        "- row 0 (model, 512², bf16-mixed, batch 32, compile on, channels_last off): profile: busy 97%"
        in text
    )
    assert "Incomplete" not in text
    assert "**Incomplete" in bench_report.markdown_table(sample_report(complete=False))


def test_write_report_puts_the_markdown_beside_the_json(tmp_path):
    bench_report.write_report(sample_report(), tmp_path / "eager" / "bench.json")
    assert json.loads((tmp_path / "eager" / "bench.json").read_text())["rows"][0]["task"] == "model"
    assert (tmp_path / "eager" / "bench.md").read_text().startswith("| card |")
    bench_report.write_report(sample_report(), tmp_path / "plain.json", markdown=False)
    assert not (tmp_path / "plain.md").exists()
