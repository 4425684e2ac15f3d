"""mangacolor-bench: correct fields and positive numbers at tiny sizes on the CPU (never its speed)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import torch

from hydra import compose, initialize_config_dir

from conftest import make_pages, run_cli
from mangacolor import benchmarking as bm
from mangacolor.models.pix2pix import Pix2Pix
from mangacolor.resources import config_dir, register_resolvers

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
    assert "mangacolor-bench: 5 rows" in result.stdout

    report = read_report(out)
    assert report["machine"]["device"] == "cpu" and report["machine"]["cpu_cores"] >= 1
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
        assert model["mfu"] is None and model["peak_tflops"] is None  # a CPU has no entry in the table
        assert model["generator_params"] > 0 and model["discriminator_params"] > 0
    assert rows[("model", False)]["settings"]["batch_size"] == 2  # +debug=tiny's data.batch_size

    data = rows[("data", None)]
    assert data["settings"]["folder"] == str(pages) and data["settings"]["workers"] == 0
    assert data["results"]["images_per_s"] > 0 and data["results"]["transforms_images_per_s"] > 0
    assert data["results"]["train_pages"] == 8 and data["results"]["ratio_to_model"] > 0
    assert rows[("end_to_end", False)]["results"]["images_per_s"] > 0
    colourise = rows[("colourise", None)]
    assert colourise["results"]["pages_per_s"] > 0 and colourise["settings"]["page_height"] == 72


def test_bench_rejects_an_unknown_task():
    register_resolvers()
    with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
        cfg = compose("bench", overrides=["+debug=tiny", "bench.tasks=[model,modle]"])
    with pytest.raises(ValueError, match=r"bench.tasks: unknown \['modle'\]"):
        bm.run(cfg)


def test_bench_colourises_at_each_asked_precision_and_names_it_as_the_other_rows(tmp_path):
    register_resolvers()
    with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
        cfg = compose("bench", overrides=[*TINY_BENCH, "bench.tasks=[colourise]",
                                          "bench.precisions=[32-true,bf16-mixed]", f"paths.output_dir={tmp_path}"])
    rows = bm.run(cfg)["rows"]
    assert [(row["task"], row["settings"]["precision"]) for row in rows] == [
        ("colourise", "32-true"), ("colourise", "bf16-mixed")]
    assert all(row["results"]["pages_per_s"] > 0 for row in rows)


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
    assert bm.peak_tflops(name, precision) == peak


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
    assert bm.git_commit(tmp_path).startswith("unknown")  # not a checkout
    try:
        subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
        (tmp_path / "f.txt").write_text("a")
        git = ["git", "-C", str(tmp_path), "-c", "user.name=t", "-c", "user.email=t@t"]
        subprocess.run([*git, "add", "f.txt"], check=True)
        subprocess.run([*git, "commit", "-q", "-m", "x"], check=True)
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("git is not usable here")
    commit = bm.git_commit(tmp_path)
    assert len(commit) >= 7 and not commit.endswith("-dirty")
    (tmp_path / "f.txt").write_text("b")
    assert bm.git_commit(tmp_path) == commit + "-dirty"


def test_sample_page_is_uint8_rgb_of_the_asked_size():
    assert bm.sample_page(30, 20).shape == (3, 30, 20)
    source = torch.randint(0, 256, (3, 50, 40), dtype=torch.uint8)
    page = bm.sample_page(25, 20, source)
    assert page.dtype == torch.uint8 and page.shape == (3, 25, 20)


def test_device_for():
    assert bm.device_for("cpu").type == "cpu"
    assert bm.device_for("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(ValueError, match="mps"):
        bm.device_for("mps")


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
