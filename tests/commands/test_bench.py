"""mangacolor-bench: correct fields and positive numbers at tiny sizes on the CPU (never its speed)."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from helpers.cli import REPO, run_cli
from helpers.pages import make_pages
from hydra import compose, initialize_config_dir

from mangacolor.benchmark import machine, profiling, sweep, timers
from mangacolor.benchmark import measurements as bm
from mangacolor.benchmark import report as bench_report
from mangacolor.models.pix2pix import Pix2Pix
from mangacolor.runtime import devices
from mangacolor.runtime.bundled import config_dir, register_resolvers

TINY_BENCH = [
    "+debug=tiny", "bench.warmup=1", "bench.iterations=1", "bench.data_batches=1",
    "bench.colourise.page_height=72", "bench.colourise.page_width=48", "bench.colourise.calls=1",
    "bench.colourise.pages_per_call=2", "bench.colourise.tile=64", "bench.colourise.overlap=16",
]


def read_report(output: Path) -> dict:
    reports = list(output.glob("bench/*/bench.json"))
    assert len(reports) == 1, reports
    return json.loads(reports[0].read_text())


def test_bench_console_script_writes_every_task_with_positive_numbers(tmp_path):
    pages = tmp_path / "pages"
    make_pages(pages, 6, (48, 40))
    make_pages(pages / "more", 2, (40, 56), seed=1, suffix=".jpg")
    out = tmp_path / "out"
    result = run_cli(["mangacolor-bench", *TINY_BENCH, f"data.train_dir={pages}", f"paths.output_dir={out}",
                      "bench.channels_last=[false,true]"], cwd=tmp_path)  # from outside the checkout
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    assert "mangacolor-bench: 6 rows" in result.stdout
    # stderr is not a terminal here: a line per row with the count, no redrawn bar.
    counts = [line for line in result.stderr.splitlines() if line.startswith("mangacolor-bench: ")]
    assert "\r" not in result.stderr and [line.split(",")[0] for line in counts] == [
        f"mangacolor-bench: {n}/6 ({100 * n / 6:.0f}%)" for n in range(1, 7)]
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
        for key in ("iterations_per_s", "images_per_s", "step_ms", "gflop_per_image", "achieved_tflops"):
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
    assert model["host_syncs_per_iteration"] is None and data["results"]["host_syncs_per_batch"] is None
    for channels_last in (False, True):  # bench.channels_last applies to the colourise rows too
        colourise = rows[("colourise", channels_last)]
        assert colourise["results"]["pages_per_s"] > 0 and colourise["settings"]["page_height"] == 72
        assert colourise["results"]["gflop_per_page"] > 0 and colourise["settings"]["threads"] >= 1


def test_bench_rejects_an_unknown_task():
    register_resolvers()
    with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
        cfg = compose("bench", overrides=["+debug=tiny", "bench.tasks=[model,modle]"])
    with pytest.raises(ValueError, match=r"bench.tasks: unknown \['modle'\]"):
        sweep.run(cfg)


def test_bench_colourises_at_each_asked_precision_and_names_it_as_the_other_rows(tmp_path):
    register_resolvers()
    with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
        cfg = compose("bench", overrides=[*TINY_BENCH, "bench.tasks=[colourise]",
                                          "bench.precisions=[32-true,bf16-mixed]", f"paths.output_dir={tmp_path}"])
    rows = sweep.run(cfg)["rows"]
    assert [(row["task"], row["settings"]["precision"]) for row in rows] == [
        ("colourise", "32-true"), ("colourise", "bf16-mixed")]
    assert all(row["results"]["pages_per_s"] > 0 and row["results"]["process_cpu_s_per_page"] > 0 for row in rows)


@pytest.mark.slow
def test_bench_compiled_model_row(tmp_path):
    result = run_cli(["mangacolor-bench", *TINY_BENCH, "bench.tasks=[model]", "bench.compile=[true]",
                      "bench.warmup=2", f"paths.output_dir={tmp_path}"], cwd=tmp_path, timeout=900)
    assert result.returncode == 0, result.stderr[-4000:]
    (row,) = read_report(tmp_path)["rows"]
    assert row["settings"]["compile"] is True and row["results"]["images_per_s"] > 0


# ---- the pieces ----------------------------------------------------------------------------------
@pytest.mark.parametrize("name, precision, peak", [
    ("NVIDIA H100 80GB HBM3", "bf16-mixed", 989.4),
    ("NVIDIA H100 80GB HBM3", "32-true", 494.7),
    ("NVIDIA H100 PCIe", "bf16-mixed", 756.0),
    ("NVIDIA H200", "16-mixed", 989.4),
    ("NVIDIA A100-SXM4-80GB", "bf16-mixed", 312.0),
    ("NVIDIA L4", "bf16-mixed", 121.0),
    ("NVIDIA L40S", "bf16-mixed", None),  # not an L4
    ("NVIDIA H100 80GB HBM3", "64-true", None),
    ("AMD EPYC (2 cores)", "32-true", None),
])
def test_peak_table(name, precision, peak):
    assert machine.peak_tflops(name, precision) == peak


@pytest.mark.parametrize("flags, precision, peak, how", [
    ({"amx_bf16": True, "avx512_bf16": True, "avx512_f": True}, "bf16-mixed", 2 * 2.1 * 1024 / 1000, "(amx_bf16)"),
    ({"avx512_bf16": True, "avx512_f": True}, "bf16-mixed", 2 * 2.1 * 128 / 1000, "(avx512_bf16)"),
    ({"amx_bf16": True, "avx512_f": True}, "32-true", 2 * 2.1 * 64 / 1000, "(avx512_f)"),
    ({"avx2": True}, "32-true", 2 * 2.1 * 32 / 1000, "(avx2)"),
    ({"avx512_f": True}, "bf16-mixed", None, "no bf16 peak"),  # emulated bf16: no peak claimed
])
def test_cpu_peak_from_cores_clock_and_instructions(flags, precision, peak, how):
    value, text = machine.cpu_peak_tflops(precision, flags, 2, (2.1, "cpu MHz in /proc/cpuinfo"))
    assert value == (pytest.approx(peak) if peak else None) and how in text
    assert machine.cpu_peak_tflops("bf16-mixed", {"amx_bf16": True}, 2, (None, "clock unknown"))[0] is None


@pytest.mark.parametrize("isa, peak", [(None, 2 * 2.1 * 1024 / 1000), ("AVX512_CORE_AMX", 2 * 2.1 * 1024 / 1000),
                                       ("AVX512_CORE_BF16", 2 * 2.1 * 128 / 1000)])
def test_a_cpu_peak_follows_onednns_instruction_limit(isa, peak, monkeypatch):
    """With ONEDNN_MAX_CPU_ISA below AMX, bf16 runs on AVX512-BF16: its peak is the one to read against."""
    monkeypatch.setattr(sweep, "cpu_capabilities", lambda: {"amx_bf16": True, "avx512_bf16": True, "avx512_f": True})
    monkeypatch.setattr(sweep, "cpu_clock_ghz", lambda: (2.1, "test"))
    cpu_machine = {"cpu_cores": 2, "onednn_max_cpu_isa": isa}
    assert sweep.peak_of(cpu_machine, torch.device("cpu"), "bf16-mixed")[0] == pytest.approx(peak)


def test_a_colourise_row_says_its_process_cpu_and_the_report_its_isa_limit():
    row = {"task": "colourise", "settings": {"page_height": 800, "page_width": 1152, "short_side": 512,
                                             "precision": "32-true"},
           "results": {"pages_per_s": 1.33, "ms_per_page": 753.0, "process_cpu_s_per_page": 1.5}}
    assert "(process CPU 1.5 s)" in bench_report.row_summary(row)[2]
    assert bench_report.isa_text({"onednn_max_cpu_isa": "AVX512_CORE_BF16"}) == ", ONEDNN_MAX_CPU_ISA=AVX512_CORE_BF16"
    assert bench_report.isa_text({"onednn_max_cpu_isa": None}) == ""


def test_colourise_rows_default_to_what_mangacolor_colorize_does(monkeypatch):
    monkeypatch.setattr(devices, "cpu_capabilities", lambda: {"avx512_bf16": True})
    cpu = torch.device("cpu")
    assert sweep.colourise_plan(compose_bench(["+debug=tiny"]), cpu) == [("bf16-mixed", False, False, None)]
    asked = compose_bench(["+debug=tiny", "bench.precisions=[32-true,auto]", "bench.channels_last=[false]",
                           "bench.colourise.threads=[1,2]"])
    assert sweep.colourise_plan(asked, cpu) == [("32-true", False, False, 1), ("32-true", False, False, 2),
                                                ("bf16-mixed", False, False, 1), ("bf16-mixed", False, False, 2)]


def test_a_colourise_row_that_cannot_compile_is_recorded_and_the_sweep_goes_on(monkeypatch):
    def no_compiler(generator, channels_last=False, compile=False, precision="32-true"):
        if compile:
            raise RuntimeError("InvalidCxxCompiler: No working C++ compiler found")
        return generator

    monkeypatch.setattr(sweep, "fast_generator", no_compiler)
    cfg = compose_bench([*TINY_BENCH, "bench.tasks=[colourise]", "bench.precisions=[32-true]",
                         "bench.compile=[true,false]"])
    compiled, plain = sweep.run(cfg)["rows"]
    assert compiled["results"] == {"error": "compile failed: RuntimeError: InvalidCxxCompiler: No working C++ compiler found"}
    assert plain["results"]["pages_per_s"] > 0


def test_flop_figures_and_mfu():
    results = bm.add_flop_figures({"images_per_s": 1000.0}, 380e9, 989.4)
    assert results["achieved_tflops"] == pytest.approx(380.0)
    assert results["mfu"] == pytest.approx(380.0 / 989.4)
    assert bm.add_flop_figures({"images_per_s": 1.0}, 1e9, None)["mfu"] is None


def test_data_ratio_uses_the_model_row_of_the_same_batch_and_precision():
    def row(task, batch, rate):
        return {"task": task, "settings": {"batch_size": batch, "precision": "bf16-mixed"},
                "results": {"images_per_s": rate}}

    rows = [row("model", 8, 100.0), row("model", 16, 200.0), row("data", 16, 300.0), row("data", 4, 50.0)]
    bm.add_data_ratios(rows)
    assert rows[2]["results"]["ratio_to_model"] == pytest.approx(1.5)
    assert rows[3]["results"]["ratio_to_model"] is None  # no model row at batch 4


def test_git_commit(tmp_path):
    assert machine.git_commit(tmp_path).startswith("unknown")  # not a checkout
    try:
        subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
        (tmp_path / "f.txt").write_text("a")
        git = ["git", "-C", str(tmp_path), "-c", "user.name=t", "-c", "user.email=t@t"]
        subprocess.run([*git, "add", "f.txt"], check=True)
        subprocess.run([*git, "commit", "-q", "-m", "x"], check=True)
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("git is not usable here")
    commit = machine.git_commit(tmp_path)
    assert len(commit) >= 7 and not commit.endswith("-dirty")
    (tmp_path / "f.txt").write_text("b")
    assert machine.git_commit(tmp_path) == commit + "-dirty"


def test_sample_page_is_uint8_rgb_of_the_asked_size():
    assert bm.sample_page(30, 20).shape == (3, 30, 20)
    source = torch.randint(0, 256, (3, 50, 40), dtype=torch.uint8)
    page = bm.sample_page(25, 20, source)
    assert page.dtype == torch.uint8 and page.shape == (3, 25, 20)


# ---- the fast-path switches of Pix2Pix -------------------------------------------------------------
def tiny_pix2pix(**options) -> Pix2Pix:
    return Pix2Pix({"depth": 5, "width": 8, "max_width": 32}, {"channels": [8, 16], "stride1_channels": 16},
                   **options)


def test_channels_last_switch_lays_weights_out_nhwc():
    model = tiny_pix2pix(channels_last=True)
    model.configure_model()
    weight = model.generator.down[1][0].weight
    assert weight.is_contiguous(memory_format=torch.channels_last) and not weight.is_contiguous()


def test_compile_switch_keeps_parameter_names():
    plain = tiny_pix2pix()
    compiled = tiny_pix2pix(compile=True)
    compiled.configure_model()  # compiling is lazy: nothing runs until the first call
    assert list(compiled.state_dict()) == list(plain.state_dict())


# ---- profiles (bench.profile) ----------------------------------------------------------------------
def compose_bench(overrides: list[str]):
    register_resolvers()
    with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
        return compose("bench", overrides=overrides)


def test_profiled_model_row_through_python_dash_m_writes_table_trace_markdown_and_shares(tmp_path):
    out = tmp_path / "out"
    result = subprocess.run(
        [sys.executable, "-m", "mangacolor.commands.bench", *TINY_BENCH, "bench.tasks=[model]", "bench.batch_sizes=[2,4]",
         "bench.profile=[4]", "bench.profile_iterations=2", "bench.profile_trace=true", f"paths.output_dir={out}"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300)
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


@pytest.mark.parametrize("setting, batch_size, wanted", [
    (False, 16, False), (None, 16, False), (True, 1, True), ([16, 64], 16, True), ([16, 64], 32, False)])
def test_profile_setting_picks_rows(setting, batch_size, wanted):
    assert sweep.wants_profile(setting, batch_size) is wanted


@pytest.mark.parametrize("name, category", [
    ("sm90_xmma_fprop_implicit_gemm_bf16bf16_bf16f32_f32_nhwckrsc_nhwc", "convolution"),
    ("void cutlass::Kernel2<cutlass_80_wmma_tensorop_bf16_s161616gemm>", "convolution"),
    ("aten::convolution_backward", "convolution"),
    ("aten::cudnn_convolution_transpose", "convolution"),  # not a copy for its "transpose"
    ("cudnn::bn_fw_tr_1C11_kernel_NCHW<__nv_bfloat16, float>", "normalisation"),
    ("void at::native::batch_norm_collect_statistics_kernel<float>", "normalisation"),
    ("triton_red_fused__native_batch_norm_legit_functional_1", "normalisation"),
    ("void cudnn::engines_precompiled::nchwToNhwcKernel<__nv_bfloat16>", "copies"),
    ("Memcpy HtoD (Pinned -> Device)", "copies"),
    ("void at::native::direct_copy_kernel_cuda(at::TensorIteratorBase&)", "copies"),
    ("void at::native::vectorized_elementwise_kernel<4, leaky_relu_kernel>", "elementwise"),
    ("triton_poi_fused_convolution_leaky_relu_0", "elementwise"),  # Inductor's epilogue, not the conv
    ("void at::native::multi_tensor_apply_kernel<FusedAdamMathFunctor<float, 4>>", "optimizer"),
    ("aten::empty", "other"),
])
def test_categories_from_kernel_and_operator_names(name, category):
    assert profiling.categorise(name) == category


def test_busy_time_counts_overlapping_kernels_once():
    assert profiling.union_length([(0, 10, "a"), (5, 12, "b"), (20, 25, "c"), (21, 22, "d")]) == 17
    assert profiling.union_length([]) == 0


def fake_event(name, device_type, start=0.0, end=0.0, id=0, linked=0, parent=None, self_cpu=0.0):
    """What torch.profiler's events offer the breakdown: enough to test the CUDA path without a GPU."""
    return SimpleNamespace(name=name, device_type=device_type, time_range=SimpleNamespace(start=start, end=end),
                           id=id, linked_correlation_id=linked, cpu_parent=parent, self_cpu_time_total=self_cpu,
                           is_user_annotation=False)


def test_gpu_breakdown_from_device_events_with_optimizer_kernels_found_by_their_launching_op():
    from torch.autograd import DeviceType

    step = fake_event("Optimizer.step#Adam.step", DeviceType.CPU, id=1)
    foreach = fake_event("aten::_foreach_add_", DeviceType.CPU, id=2, parent=step)
    mul_in_step = fake_event("aten::mul_", DeviceType.CPU, id=3, parent=step)
    conv = fake_event("aten::cudnn_convolution", DeviceType.CPU, id=4)
    events = [step, foreach, mul_in_step, conv,
              fake_event("sm90_xmma_fprop_implicit_gemm", DeviceType.CUDA, 0, 600, id=100, linked=4),
              fake_event("vectorized_elementwise_kernel<mul>", DeviceType.CUDA, 600, 700, id=101, linked=3),
              fake_event("multi_tensor_apply_kernel", DeviceType.CUDA, 700, 800, id=102, linked=2),
              fake_event("Memcpy DtoD", DeviceType.CUDA, 750, 1000, id=103)]  # overlaps: a second stream
    summary = profiling.summarise(events, wall_seconds=2000e-6, iterations=2, device=torch.device("cuda"))
    assert summary["busy_fraction"] == pytest.approx(1000 / 2000)  # the union, not the sum (1050)
    assert summary["busy_ms_per_iteration"] == pytest.approx(0.5) and summary["wall_ms_per_iteration"] == 1.0
    shares = summary["shares"]
    assert shares["convolution"] == pytest.approx(600 / 1050) and shares["copies"] == pytest.approx(250 / 1050)
    assert shares["optimizer"] == pytest.approx(200 / 1050)  # the mul launched inside Optimizer.step too
    assert shares["elementwise"] == 0 and sum(shares.values()) == pytest.approx(1.0)
    assert summary["top"][0] == ["sm90_xmma_fprop_implicit_gemm", pytest.approx(600 / 1050, abs=1e-4)]


def test_printed_table_puts_each_profile_line_under_its_row():
    def row(batch, profile=None):
        results = {"iterations_per_s": 1.0, "images_per_s": float(batch), "step_ms": 1000.0,
                   "process_cpu_s_per_iteration": 1.0, "gflop_per_image": 1.0, "achieved_tflops": 1.0,
                   "peak_memory_gib": None, "mfu": None}
        if profile is not None:
            results["profile"] = profile
        return {"task": "model", "settings": {"size": 32, "batch_size": batch, "precision": "32-true",
                                              "compile": False, "channels_last": False}, "results": results}

    summary = {"wall_ms_per_iteration": 12.0, "busy_fraction": 0.5, "table": "profile_1.txt",
               "shares": dict.fromkeys(profiling.CATEGORIES, 1 / 6)}
    lines = bench_report.format_bench_table([row(1), row(2, summary), row(4, {"error": "RuntimeError: no"})]).splitlines()
    assert [line.split()[0] for line in lines] == ["task", "model", "model", "profile:", "model", "profile"]
    assert "busy 50% of 12 ms/it" in lines[3] and "(profile_1.txt)" in lines[3]
    assert lines[5].strip() == "profile failed: RuntimeError: no"


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_on_the_gpu_a_profiled_row_accounts_for_device_time(tmp_path):
    cfg = compose_bench([*TINY_BENCH, "trainer.accelerator=gpu", "trainer.precision=bf16-mixed",
                         "bench.tasks=[model]", "bench.profile=true", f"bench.json={tmp_path}/bench.json"])
    (row,) = sweep.run(cfg)["rows"]
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
    cfg = compose_bench([*TINY_BENCH, "trainer.accelerator=gpu", "trainer.precision=bf16-mixed", "bench.warmup=2",
                         "bench.tasks=[model,data]", f"data.train_dir={pages}", f"bench.json={tmp_path}/bench.json"])
    model, data = sweep.run(cfg)["rows"]
    # Counts, not targets: what a card gives goes to docs/benchmarks.md with its lines.
    assert isinstance(model["results"]["host_syncs_per_iteration"], int)
    assert isinstance(data["results"]["host_syncs_per_batch"], int)
    assert len(data["results"]["host_sync_lines"]) == min(3, data["results"]["host_syncs_per_batch"])


# ---- reports: rewritten after each row, and as markdown ----------------------------------------------
def test_report_is_handed_on_after_each_row_and_marked_complete_at_the_end(tmp_path):
    cfg = compose_bench([*TINY_BENCH, "bench.tasks=[colourise]", "bench.precisions=[32-true,32-true]"])
    seen = []
    final = sweep.run(cfg, on_row=lambda report: seen.append((len(report["rows"]), report["complete"])))
    assert seen == [(1, False), (2, False)] and final["complete"] is True


def sample_report(complete=True) -> dict:
    machine = {"name": "NVIDIA H100 80GB HBM3", "torch": "2.11.0", "cuda": "13.0", "lightning": "2.6.6",
               "python": "3.12.3", "cpu_cores": 16, "cpu": "Xeon", "load_average_at_start": [0.1, 0.1, 0.1]}
    common = {"machine": machine["name"], "torch": "2.11.0", "commit": "abc1234"}
    model = {"task": "model", **common,
             "settings": {"size": 512, "precision": "bf16-mixed", "batch_size": 32, "compile": True, "channels_last": False},
             "results": {"images_per_s": 812.4, "mfu": 0.3107, "peak_memory_gib": 41.26,
                         "profile": {"wall_ms_per_iteration": 39.4, "busy_fraction": 0.97, "table": "profile_0.txt",
                                     "shares": dict.fromkeys(profiling.CATEGORIES, 1 / 6)}}}
    data = {"task": "data", **common,
            "settings": {"size": 512, "window": 1024, "batch_size": 16, "workers": 16, "decode_on_device": True},
            "results": {"images_per_s": 1500.0, "ratio_to_model": 1.85}}
    colourise = {"task": "colourise", **common,
                 "settings": {"page_height": 1152, "page_width": 800, "short_side": 512, "precision": "bf16-mixed",
                              "tile": 1024, "pages_per_call": 4},
                 "results": {"pages_per_s": 31.25}}
    return {"date": "2026-11-26T10:00:00+00:00", "command": "mangacolor-bench +experiment=manga", "commit": "abc1234",
            "machine": machine, "load_average_at_end": [0.2, 0.1, 0.1], "complete": complete,
            "rows": [model, data, colourise]}


def test_markdown_rows_have_the_layout_of_the_gpu_table_in_docs():
    docs = (REPO / "docs" / "benchmarks.md").read_text()
    header = "| " + " | ".join(bench_report.COLUMNS) + " |"
    assert header in docs  # the table the rows are pasted into
    lines = bench_report.markdown_table(sample_report()).splitlines()
    assert lines[0] == header and lines[1] == "| --- | --- | --- | --- | --- | --- | --- | --- |"
    assert lines[2] == ("| NVIDIA H100 80GB HBM3 | model | 512², bf16-mixed, batch 32, compile on, channels_last off "
                        "| 812 | 31.1 % | 41.3 GiB | 2026-11-26 | `abc1234` |")
    assert lines[3] == ("| NVIDIA H100 80GB HBM3 | data | 512² of 1024 windows, batch 16, 16 workers, decode on device on "
                        "| 1,500 (1.85 x the model) |  |  | 2026-11-26 | `abc1234` |")
    assert "| 31.2 pages/s |" in lines[4]
    text = "\n".join(lines)
    assert "Command: `mangacolor-bench +experiment=manga`" in text and "torch 2.11.0, CUDA 13.0" in text
    assert "- row 0 (model, 512², bf16-mixed, batch 32, compile on, channels_last off): profile: busy 97%" in text
    assert "Incomplete" not in text
    assert "**Incomplete" in bench_report.markdown_table(sample_report(complete=False))


def test_write_report_puts_the_markdown_beside_the_json(tmp_path):
    bench_report.write_report(sample_report(), tmp_path / "eager" / "bench.json")
    assert json.loads((tmp_path / "eager" / "bench.json").read_text())["rows"][0]["task"] == "model"
    assert (tmp_path / "eager" / "bench.md").read_text().startswith("| card |")
    bench_report.write_report(sample_report(), tmp_path / "plain.json", markdown=False)
    assert not (tmp_path / "plain.md").exists()


# ---- data.decode_on_device rows ----------------------------------------------------------------------
def test_decode_on_device_rows_come_from_the_bench_list_or_the_data_setting():
    from omegaconf import OmegaConf

    def cfg(bench_list, data):
        return OmegaConf.create({"bench": {"data_decode_on_device": bench_list}, "data": data})

    assert sweep.decode_choices(cfg([False, True], {"decode_on_device": False})) == [False, True]
    assert sweep.decode_choices(cfg(None, {"decode_on_device": True})) == [None]  # the datamodule's own
    with pytest.raises(ValueError, match="needs data.decode_on_device"):
        sweep.decode_choices(cfg([True], {}))


def test_data_rows_price_each_input_style(tmp_path):
    """bench.data_input_styles: one data row per style alone, the B&W page synthesis included; the
    rows say which style they ran, and a misspelt style stops before any measurement."""
    pages = tmp_path / "pages"
    make_pages(pages, 4, (48, 40))
    cfg = compose_bench([*TINY_BENCH, "bench.tasks=[data]", f"data.train_dir={pages}",
                         "bench.data_input_styles=[plain,screentone]", f"bench.json={tmp_path}/bench.json"])
    rows = sweep.run(cfg)["rows"]
    assert [row["settings"]["input_styles"] for row in rows] == [{"plain": 1.0}, {"screentone": 1.0}]
    assert all(row["results"]["transforms_images_per_s"] > 0 and row["results"]["transforms_cpu_ms_per_image"] > 0
               for row in rows)
    assert "inputs=screentone" in bench_report.row_summary(rows[1])[0]
    assert "inputs" not in bench_report.row_summary(rows[0])[0]
    with pytest.raises(ValueError, match="bench.data_input_styles: unknown"):
        sweep.check_bench_config(compose_bench(["bench.data_input_styles=[sepia]"]))
    mixed = compose_bench(["+experiment=demo"])
    assert sweep.configured_input_styles(mixed, None)["screentone"] == pytest.approx(0.35)


def test_data_rows_price_the_hint_simulation(tmp_path):
    """bench.data_hints: a data row without and with data.hints' simulation (its configured ranges
    kept), each saying which it ran."""
    pages = tmp_path / "pages"
    make_pages(pages, 4, (48, 40))
    cfg = compose_bench([*TINY_BENCH, "bench.tasks=[data]", f"data.train_dir={pages}", "data.hints.none=0.0",
                         "bench.data_hints=[false,true]", f"bench.json={tmp_path}/bench.json"])
    rows = sweep.run(cfg)["rows"]
    assert [row["settings"]["hints"] for row in rows] == [False, True]
    assert all(row["results"]["transforms_cpu_ms_per_image"] > 0 for row in rows)
    assert "hints=on" in bench_report.row_summary(rows[1])[0]
    assert "hints" not in bench_report.row_summary(rows[0])[0]
    assert sweep.hints_enabled(compose_bench(["data.hints.enabled=true"]), None)
    assert not sweep.hints_enabled(compose_bench([]), None)


# ---- the GPU sweep's scripts (scripts/, docs/benchmarks.md's "GPU session recipe") ------------------
SCRIPTS = REPO / "scripts"


def run_script(name: str, *args: str, env: dict | None = None, cwd: Path = REPO, timeout: int = 60,
               scripts: Path = SCRIPTS) -> subprocess.CompletedProcess:
    if shutil.which("bash") is None:
        pytest.skip("bash is not installed")
    full_env = {key: value for key, value in os.environ.items() if key not in ("PYTHON", "DRY_RUN")}
    full_env.update({"PYTHONPATH": str(REPO / "src"), **(env or {})})
    return subprocess.run(["bash", str(scripts / name), *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env=full_env, check=False)


def dry_run(name: str, *args: str, **env: str) -> list[list[str]]:
    """The commands a script would run (DRY_RUN=1 prints them shell-quoted), split as the shell would."""
    result = run_script(name, *args, env={"DRY_RUN": "1", **env})
    assert result.returncode == 0, result.stderr
    return [shlex.split(line) for line in result.stdout.splitlines() if line.startswith("'")]


def test_gpu_sweep_runs_with_plain_python3_and_never_a_venv():
    lines = [*dry_run("bench-gpu.sh", "all", PYTHON="python3", OUT_DIR="/out", PAGES="/pages"),
             *dry_run("test-gpu.sh", PYTHON="python3")]
    assert lines and not any(".venv" in arg or arg == "pip" for line in lines for arg in line), lines
    bench_lines = [line for line in lines if line[1:3] == ["-m", "mangacolor.commands.bench"]]
    assert len(bench_lines) == 3
    assert all(line[:5] == ["python3", "-m", "mangacolor.commands.bench", "+experiment=manga", "data.train_dir=/pages"]
               for line in bench_lines)
    outputs = [arg for line in bench_lines for arg in line if arg.startswith("bench.json=")]
    assert outputs == [f"bench.json=/out/{part}/bench.json" for part in ("eager", "pipeline", "compiled")]
    assert lines[-1] == ["python3", "-m", "pytest", "-q", "-m", "gpu"]


def test_gpu_sweep_parts_and_their_settings():
    eager = dry_run("bench-gpu.sh", "eager", PYTHON="python3")
    compiled = dry_run("bench-gpu.sh", "compile", "+debug=tiny", PYTHON="python3", COMPILE_BATCHES="[32,64]")
    assert len(eager) == 2 and len(compiled) == 1
    assert "bench.batch_sizes=[32,64]" in compiled[0] and compiled[0][-1] == "+debug=tiny"  # extra overrides last
    assert "bench.data_decode_on_device=[false,true]" in eager[1]
    no_decode = dry_run("bench-gpu.sh", "eager", PYTHON="python3", DECODE_SWEEP="")
    assert not any("decode_on_device" in arg for line in no_decode for arg in line)
    assert f"data.train_dir={REPO / '.gpu-pages'}" in eager[0]  # the folder gpu-prep.sh fills
    wrong = run_script("bench-gpu.sh", "eagre")
    assert wrong.returncode == 2 and "usage: scripts/bench-gpu.sh eager|compile|all" in wrong.stderr


def test_gpu_scripts_use_the_venv_when_there_is_one(tmp_path):
    copy = tmp_path / "repo"
    shutil.copytree(SCRIPTS, copy / "scripts")
    assert dry_run_in(copy)[0][0] == "python3"
    venv_python = copy / ".venv" / "bin" / "python"
    venv_python.parent.mkdir(parents=True)
    venv_python.write_text("#!/bin/sh\n")
    venv_python.chmod(0o755)
    assert dry_run_in(copy)[0][0] == str(venv_python)


def dry_run_in(copy: Path) -> list[list[str]]:
    result = run_script("test-gpu.sh", env={"DRY_RUN": "1"}, scripts=copy / "scripts")
    assert result.returncode == 0, result.stderr
    return [shlex.split(line) for line in result.stdout.splitlines()]


def test_every_override_of_the_gpu_sweep_composes_and_passes_the_bench_checks():
    for line in dry_run("bench-gpu.sh", "all", PYTHON="python3", OUT_DIR="/out", PAGES="/pages"):
        cfg = compose_bench(line[3:])
        sweep.check_bench_config(cfg)
        assert cfg.data.train_dir == "/pages" and cfg.data.size == 512


def test_gpu_prep_lists_the_wheels_and_pages_and_names_the_commit(tmp_path):
    shared = tmp_path / "shared"
    make_pages(shared, 3, (16, 16), suffix=".jpg")
    result = run_script("gpu-prep.sh", env={"DRY_RUN": "1", "PYTHON": sys.executable, "SHARED_PAGES": str(shared),
                                             "GPU_PAGE_COUNT": "2"})
    assert result.returncode == 0, result.stderr
    lines = [shlex.split(line) for line in result.stdout.splitlines() if line.startswith("'")]
    download = next(line for line in lines if line[1:4] == ["-m", "pip", "download"])
    assert {"kornia==0.9.0", "hydra-core==1.3.8", "omegaconf==2.3.1"} <= set(download)
    assert download[download.index("--python-version") + 1] == "3.12"
    assert any(line[1:4] == ["-m", "pip", "wheel"] and "antlr4-python3-runtime==4.9.3" in line for line in lines)
    (copy,) = [line for line in lines if line[0] == "cp"]
    assert copy[2] == str(REPO / ".gpu-pages") and [Path(p).name for p in copy[3:]] == ["page_000.jpg", "page_001.jpg"]
    assert result.stdout.splitlines()[-1] == f"MANGACOLOR_COMMIT={machine.git_commit(REPO)}"


def test_gpu_pages_copies_the_first_pages_by_name_into_its_own_folder(tmp_path):
    copy = tmp_path / "repo"
    shutil.copytree(SCRIPTS, copy / "scripts")
    shared = tmp_path / "shared"
    make_pages(shared, 4, (16, 16), suffix=".png")
    (copy / ".gpu-pages").mkdir()
    (copy / ".gpu-pages" / "stale.png").write_bytes(b"old")
    result = run_script("gpu-pages.sh", env={"SHARED_PAGES": str(shared), "GPU_PAGE_COUNT": "3"}, scripts=copy / "scripts")
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in (copy / ".gpu-pages").iterdir()) == ["page_000.png", "page_001.png", "page_002.png"]
    missing = run_script("gpu-pages.sh", env={"SHARED_PAGES": str(tmp_path / "nowhere")}, scripts=copy / "scripts")
    assert missing.returncode == 1 and "folder not found" in missing.stderr


def test_test_gpu_script_runs_the_gpu_tests_of_a_file():
    result = run_script("test-gpu.sh", "tests/commands/test_bench.py",
                        env={"PYTHON": sys.executable}, cwd=Path("/"), timeout=300)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    # Here the two CUDA tests skip (or pass, on a GPU machine); every other test is deselected.
    assert re.search(r"\b2 (skipped|passed)", result.stdout) and "deselected" in result.stdout, result.stdout


@pytest.mark.slow
def test_gpu_sweep_runs_at_tiny_sizes_on_the_cpu(tmp_path):
    """The exact lines of scripts/bench-gpu.sh, shrunk by overrides: a typo costs CI, not a GPU call."""
    pages, out = tmp_path / "pages", tmp_path / "out"
    make_pages(pages, 6, (48, 40), suffix=".jpg")
    tiny = [*TINY_BENCH, "bench.iterations=2", "data.num_workers=0", "bench.data_workers=[0]",
            f"paths.output_dir={tmp_path / 'hydra'}"]
    result = run_script("bench-gpu.sh", "all", *tiny, cwd=tmp_path, timeout=900,
                        env={"PYTHON": sys.executable, "PAGES": str(pages), "OUT_DIR": str(out),
                             "COMPILE_BATCHES": "[2]"})
    assert result.returncode == 0 and "bench-gpu.sh: failed" not in result.stderr, result.stderr[-4000:]
    eager = json.loads((out / "eager" / "bench.json").read_text())
    assert [(r["settings"]["batch_size"], r["settings"]["channels_last"]) for r in eager["rows"]] == [
        (b, cl) for b in (1, 8, 16, 32, 64) for cl in (False, True)]
    pipeline = json.loads((out / "pipeline" / "bench.json").read_text())
    assert [r["task"] for r in pipeline["rows"]] == ["model", "model", "data", "data", "end_to_end",
                                                     "colourise", "colourise"]
    assert [r["settings"]["decode_on_device"] for r in pipeline["rows"][2:4]] == [False, True]
    assert {p.name for p in (out / "pipeline").iterdir()} == {"bench.json", "bench.md", "profile_0.txt",
                                                              "profile_1.txt"}
    (compiled,) = json.loads((out / "compiled" / "bench.json").read_text())["rows"]
    assert compiled["settings"]["compile"] is True and compiled["results"]["images_per_s"] > 0


def test_a_failing_sweep_line_does_not_stop_the_others_and_fails_the_script(tmp_path):
    python = tmp_path / "python"  # stands in for python3: the compiled line fails, the others succeed
    python.write_text('#!/bin/sh\ncase "$*" in *compile=\\[true\\]*) exit 3;; esac\necho ran "$@"\n')
    python.chmod(0o755)
    result = run_script("bench-gpu.sh", "all", env={"PYTHON": str(python)})
    assert result.stdout.count("ran -m mangacolor.commands.bench") == 2
    assert result.returncode == 1 and "bench-gpu.sh: failed: compiled" in result.stderr


def test_gpu_breakdown_without_links_falls_back_to_kernel_names():
    from torch.autograd import DeviceType

    events = [fake_event("Optimizer.step#Adam.step", DeviceType.CPU, id=0),
              fake_event("multi_tensor_apply_kernel<FusedAdam>", DeviceType.CUDA, 0, 10, id=5),
              fake_event("vectorized_elementwise_kernel<mul>", DeviceType.CUDA, 10, 30, id=6)]
    shares = profiling.summarise(events, 30e-6, 1, torch.device("cuda"))["shares"]
    assert shares["optimizer"] == pytest.approx(1 / 3) and shares["elementwise"] == pytest.approx(2 / 3)


def test_a_batch_too_large_for_the_device_is_recorded_and_the_sweep_goes_on(tmp_path, monkeypatch):
    real_measure = bm.measure_model_speed

    def out_of_memory_above_two(make_model, size, batch_size, *args, **kwargs):
        if batch_size > 2:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")
        return real_measure(make_model, size, batch_size, *args, **kwargs)

    monkeypatch.setattr(sweep, "measure_model_speed", out_of_memory_above_two)
    cfg = compose_bench([*TINY_BENCH, "bench.tasks=[model,data]", "bench.batch_sizes=[2,4]",
                         f"bench.json={tmp_path}/bench.json"])
    report = sweep.run(cfg)
    small, large, data = report["rows"]
    assert small["results"]["images_per_s"] > 0
    assert large["settings"]["batch_size"] == 4
    assert large["results"] == {"error": "out of memory: CUDA out of memory. Tried to allocate 20.00 GiB"}
    assert data["results"]["model_images_per_s"] == small["results"]["images_per_s"]  # the measured one
    assert "out of memory" in bench_report.format_bench_table(report["rows"]).splitlines()[2]
    assert "| out of memory: CUDA out of memory" in bench_report.markdown_table(report)


def test_a_fit_that_raises_leaves_no_profiler_or_sync_counting_running():
    module = SimpleNamespace(iteration=1)
    counter = timers.HostSyncCounter(iteration=2, device=torch.device("cpu"))
    counter.on_train_batch_start(None, module, None, 0)
    assert counter._counting is not None
    counter.on_exception(None, module, torch.OutOfMemoryError("out of memory"))
    assert counter._counting is None

    profiler = profiling.StepProfiler(start=1, iterations=3, device=torch.device("cpu"))
    profiler.on_train_batch_end(None, module, None, None, 0)  # iteration 1: recording starts
    assert profiler.profiler is not None
    profiler.on_exception(None, module, torch.OutOfMemoryError("out of memory"))
    assert profiler.profiler is None and torch.autograd.profiler._is_profiler_enabled is False
