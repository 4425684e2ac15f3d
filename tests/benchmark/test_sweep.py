"""mangacolor.benchmark.sweep and its settings: the rows a config asks for, measured and recorded at
tiny sizes on the CPU (the two GPU tests run where CUDA is: scripts/test-gpu.sh)."""

from __future__ import annotations

import pytest
import torch
from helpers.bench import TINY_BENCH, bench_settings
from helpers.pages import make_pages

from mangacolor.benchmark import measurements as bm
from mangacolor.benchmark import report as bench_report
from mangacolor.benchmark import rows as bench_rows
from mangacolor.benchmark import run_context, sweep
from mangacolor.benchmark import settings as bench_settings_module
from mangacolor.runtime import devices


def test_bench_rejects_an_unknown_task():
    with pytest.raises(ValueError, match=r"bench.tasks: unknown \['modle'\]"):
        bench_settings(["+debug=tiny", "bench.tasks=[model,modle]"])


def test_bench_colourises_at_each_asked_precision_and_names_it_as_the_other_rows(tmp_path):
    settings = bench_settings(
        [
            *TINY_BENCH,
            "bench.tasks=[colourise]",
            "bench.precisions=[32-true,bf16-mixed]",
            f"paths.output_dir={tmp_path}",
        ]
    )
    rows = sweep.run(settings)["rows"]
    assert [(row["task"], row["settings"]["precision"]) for row in rows] == [
        ("colourise", "32-true"),
        ("colourise", "bf16-mixed"),
    ]
    assert all(
        row["results"]["pages_per_s"] > 0 and row["results"]["process_cpu_s_per_page"] > 0
        for row in rows
    )


@pytest.mark.parametrize(
    "isa, peak",
    [
        (None, 2 * 2.1 * 1024 / 1000),
        ("AVX512_CORE_AMX", 2 * 2.1 * 1024 / 1000),
        ("AVX512_CORE_BF16", 2 * 2.1 * 128 / 1000),
    ],
)
def test_a_cpu_peak_follows_onednns_instruction_limit(isa, peak, monkeypatch):
    """With ONEDNN_MAX_CPU_ISA below AMX, bf16 runs on AVX512-BF16: its peak is the one to read
    against."""
    monkeypatch.setattr(
        run_context,
        "cpu_capabilities",
        lambda: {"amx_bf16": True, "avx512_bf16": True, "avx512_f": True},
    )
    monkeypatch.setattr(run_context, "cpu_clock_ghz", lambda: (2.1, "test"))
    cpu_machine = {"cpu_cores": 2, "onednn_max_cpu_isa": isa}
    assert run_context.peak_of(cpu_machine, torch.device("cpu"), "bf16-mixed")[0] == pytest.approx(
        peak
    )


def test_colourise_rows_default_to_what_mangacolor_colorize_does(monkeypatch):
    monkeypatch.setattr(devices, "cpu_capabilities", lambda: {"avx512_bf16": True})
    cpu = torch.device("cpu")
    assert sweep.colorize_plan(bench_settings(["+debug=tiny"]), cpu) == [
        ("bf16-mixed", False, False, None)
    ]
    asked = bench_settings(
        [
            "+debug=tiny",
            "bench.precisions=[32-true,auto]",
            "bench.channels_last=[false]",
            "bench.colourise.threads=[1,2]",
        ]
    )
    assert sweep.colorize_plan(asked, cpu) == [
        ("32-true", False, False, 1),
        ("32-true", False, False, 2),
        ("bf16-mixed", False, False, 1),
        ("bf16-mixed", False, False, 2),
    ]


def test_a_colourise_row_that_cannot_compile_is_recorded_and_the_sweep_goes_on(monkeypatch):
    def no_compiler(generator, channels_last=False, compile=False, precision="32-true"):
        if compile:
            raise RuntimeError("InvalidCxxCompiler: No working C++ compiler found")
        return generator

    monkeypatch.setattr(bench_rows, "fast_generator", no_compiler)
    settings = bench_settings(
        [
            *TINY_BENCH,
            "bench.tasks=[colourise]",
            "bench.precisions=[32-true]",
            "bench.compile=[true,false]",
        ]
    )
    compiled, plain = sweep.run(settings)["rows"]
    assert compiled["results"] == {
        "error": "compile failed: RuntimeError: InvalidCxxCompiler: No working C++ compiler found"
    }
    assert plain["results"]["pages_per_s"] > 0


@pytest.mark.parametrize(
    "setting, batch_size, wanted",
    [
        (False, 16, False),
        (None, 16, False),
        (True, 1, True),
        ([16, 64], 16, True),
        ([16, 64], 32, False),
    ],
)
def test_profile_setting_picks_rows(setting, batch_size, wanted):
    assert bench_settings_module.wants_profile(setting, batch_size) is wanted


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_on_the_gpu_a_profiled_row_accounts_for_device_time(tmp_path):
    settings = bench_settings(
        [
            *TINY_BENCH,
            "trainer.accelerator=gpu",
            "trainer.precision=bf16-mixed",
            "bench.tasks=[model]",
            "bench.profile=true",
            f"bench.json={tmp_path}/bench.json",
        ]
    )
    (row,) = sweep.run(settings)["rows"]
    summary = row["results"]["profile"]
    assert "error" not in summary, summary
    assert 0 < summary["busy_fraction"] <= 1.0 and "device kernels" in summary["busy_measure"]
    assert sum(summary["shares"].values()) == pytest.approx(1.0)
    assert summary["shares"]["convolution"] > 0 and summary["shares"]["optimizer"] > 0, summary
    assert "Self CUDA" in (tmp_path / "profile_0.txt").read_text()
    assert row["results"]["peak_memory_gib"] > 0


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_on_the_gpu_model_and_data_rows_count_the_hosts_waits(tmp_path):
    pages = tmp_path / "pages"
    make_pages(pages, 6, (48, 40), suffix=".jpg")
    settings = bench_settings(
        [
            *TINY_BENCH,
            "trainer.accelerator=gpu",
            "trainer.precision=bf16-mixed",
            "bench.warmup=2",
            "bench.tasks=[model,data]",
            f"data.train_dir={pages}",
            f"bench.json={tmp_path}/bench.json",
        ]
    )
    model, data = sweep.run(settings)["rows"]
    # Counts, not targets: what a card gives goes to docs/benchmarks.md with its lines.
    assert isinstance(model["results"]["host_syncs_per_iteration"], int)
    assert isinstance(data["results"]["host_syncs_per_batch"], int)
    assert len(data["results"]["host_sync_lines"]) == min(
        3, data["results"]["host_syncs_per_batch"]
    )


def test_report_is_handed_on_after_each_row_and_marked_complete_at_the_end(tmp_path):
    settings = bench_settings(
        [*TINY_BENCH, "bench.tasks=[colourise]", "bench.precisions=[32-true,32-true]"]
    )
    seen = []
    final = sweep.run(
        settings, on_row=lambda report: seen.append((len(report["rows"]), report["complete"]))
    )
    assert seen == [(1, False), (2, False)] and final["complete"] is True


def test_decode_on_device_rows_come_from_the_bench_list_or_the_data_setting():
    from omegaconf import OmegaConf

    def cfg(bench_list, data):
        return OmegaConf.create({"bench": {"data_decode_on_device": bench_list}, "data": data})

    assert bench_settings_module.decode_choices(
        cfg([False, True], {"decode_on_device": False})
    ) == [False, True]
    assert bench_settings_module.decode_choices(cfg(None, {"decode_on_device": True})) == [
        None
    ]  # the datamodule's own
    with pytest.raises(ValueError, match="needs data.decode_on_device"):
        bench_settings_module.decode_choices(cfg([True], {}))


def test_data_rows_price_each_input_style(tmp_path):
    """bench.data_input_styles: one data row per style alone, the B&W page synthesis included; the
    rows say which style they ran, and a misspelt style stops before any measurement."""
    pages = tmp_path / "pages"
    make_pages(pages, 4, (48, 40))
    settings = bench_settings(
        [
            *TINY_BENCH,
            "bench.tasks=[data]",
            f"data.train_dir={pages}",
            "bench.data_input_styles=[plain,screentone]",
            f"bench.json={tmp_path}/bench.json",
        ]
    )
    rows = sweep.run(settings)["rows"]
    assert [row["settings"]["input_styles"] for row in rows] == [
        {"plain": 1.0},
        {"screentone": 1.0},
    ]
    assert all(
        row["results"]["transforms_images_per_s"] > 0
        and row["results"]["transforms_cpu_ms_per_image"] > 0
        for row in rows
    )
    assert "inputs=screentone" in bench_report.row_summary(rows[1])[0]
    assert "inputs" not in bench_report.row_summary(rows[0])[0]
    with pytest.raises(ValueError, match="bench.data_input_styles: unknown"):
        bench_settings(["bench.data_input_styles=[sepia]"])
    mixed = bench_settings(["+experiment=demo"])
    assert bench_rows.configured_input_styles(mixed, None)["screentone"] == pytest.approx(0.35)


def test_a_batch_too_large_for_the_device_is_recorded_and_the_sweep_goes_on(tmp_path, monkeypatch):
    real_measure = bm.measure_model_speed

    def out_of_memory_above_two(make_model, size, batch_size, *args, **kwargs):
        if batch_size > 2:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")
        return real_measure(make_model, size, batch_size, *args, **kwargs)

    monkeypatch.setattr(bench_rows, "measure_model_speed", out_of_memory_above_two)
    settings = bench_settings(
        [
            *TINY_BENCH,
            "bench.tasks=[model,data]",
            "bench.batch_sizes=[2,4]",
            f"bench.json={tmp_path}/bench.json",
        ]
    )
    report = sweep.run(settings)
    small, large, data = report["rows"]
    assert small["results"]["images_per_s"] > 0
    assert large["settings"]["batch_size"] == 4
    assert large["results"] == {
        "error": "out of memory: CUDA out of memory. Tried to allocate 20.00 GiB"
    }
    assert (
        data["results"]["model_images_per_s"] == small["results"]["images_per_s"]
    )  # the measured one
    assert "out of memory" in bench_report.format_bench_table(report["rows"]).splitlines()[2]
    assert "| out of memory: CUDA out of memory" in bench_report.markdown_table(report)


def test_data_rows_price_the_hint_simulation(tmp_path):
    """bench.data_hints: a data row without and with data.hints' simulation (its configured ranges
    kept), each saying which it ran."""
    pages = tmp_path / "pages"
    make_pages(pages, 4, (48, 40))
    settings = bench_settings(
        [
            *TINY_BENCH,
            "bench.tasks=[data]",
            f"data.train_dir={pages}",
            "data.hints.none=0.0",
            "bench.data_hints=[false,true]",
            f"bench.json={tmp_path}/bench.json",
        ]
    )
    rows = sweep.run(settings)["rows"]
    assert [row["settings"]["hints"] for row in rows] == [False, True]
    assert all(row["results"]["transforms_cpu_ms_per_image"] > 0 for row in rows)
    assert "hints=on" in bench_report.row_summary(rows[1])[0]
    assert "hints" not in bench_report.row_summary(rows[0])[0]
    assert bench_settings_module.hints_enabled(bench_settings(["data.hints.enabled=true"]), None)
    assert not bench_settings_module.hints_enabled(bench_settings([]), None)
