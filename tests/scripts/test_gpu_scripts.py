"""The GPU sweep's scripts (scripts/, docs/benchmarks.md's "GPU session recipe"): what they run,
checked by dry runs, and the sweep itself at tiny sizes on the CPU."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from helpers.bench import TINY_BENCH, bench_settings
from helpers.cli import REPO
from helpers.pages import make_pages

from mangacolor.benchmark import machine

SCRIPTS = REPO / "scripts"


def run_script(
    name: str,
    *args: str,
    env: dict | None = None,
    cwd: Path = REPO,
    timeout: int = 60,
    scripts: Path = SCRIPTS,
) -> subprocess.CompletedProcess:
    if shutil.which("bash") is None:
        pytest.skip("bash is not installed")
    full_env = {key: value for key, value in os.environ.items() if key not in ("PYTHON", "DRY_RUN")}
    full_env.update({"PYTHONPATH": str(REPO / "src"), **(env or {})})
    return subprocess.run(
        ["bash", str(scripts / name), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=full_env,
        check=False,
    )


def dry_run(name: str, *args: str, **env: str) -> list[list[str]]:
    """The commands a script would run (DRY_RUN=1 prints them shell-quoted), split as the shell would."""
    result = run_script(name, *args, env={"DRY_RUN": "1", **env})
    assert result.returncode == 0, result.stderr
    return [shlex.split(line) for line in result.stdout.splitlines() if line.startswith("'")]


def test_gpu_sweep_runs_with_plain_python3_and_never_a_venv():
    lines = [
        *dry_run("bench-gpu.sh", "all", PYTHON="python3", OUT_DIR="/out", PAGES="/pages"),
        *dry_run("test-gpu.sh", PYTHON="python3"),
    ]
    assert lines and not any(".venv" in arg or arg == "pip" for line in lines for arg in line), (
        lines
    )
    bench_lines = [line for line in lines if line[1:3] == ["-m", "mangacolor.commands.bench"]]
    assert len(bench_lines) == 3
    assert all(
        line[:5]
        == [
            "python3",
            "-m",
            "mangacolor.commands.bench",
            "+experiment=manga",
            "data.train_dir=/pages",
        ]
        for line in bench_lines
    )
    outputs = [arg for line in bench_lines for arg in line if arg.startswith("bench.json=")]
    assert outputs == [
        f"bench.json=/out/{part}/bench.json" for part in ("eager", "pipeline", "compiled")
    ]
    assert lines[-1] == ["python3", "-m", "pytest", "-q", "-m", "gpu"]


def test_gpu_sweep_parts_and_their_settings():
    eager = dry_run("bench-gpu.sh", "eager", PYTHON="python3")
    compiled = dry_run(
        "bench-gpu.sh", "compile", "+debug=tiny", PYTHON="python3", COMPILE_BATCHES="[32,64]"
    )
    assert len(eager) == 2 and len(compiled) == 1
    assert (
        "bench.batch_sizes=[32,64]" in compiled[0] and compiled[0][-1] == "+debug=tiny"
    )  # extra overrides last
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
        settings = bench_settings(line[3:])
        assert settings.data.train_dir == "/pages" and settings.data.size == 512


def test_gpu_prep_lists_the_wheels_and_pages_and_names_the_commit(tmp_path):
    shared = tmp_path / "shared"
    make_pages(shared, 3, (16, 16), suffix=".jpg")
    result = run_script(
        "gpu-prep.sh",
        env={
            "DRY_RUN": "1",
            "PYTHON": sys.executable,
            "SHARED_PAGES": str(shared),
            "GPU_PAGE_COUNT": "2",
        },
    )
    assert result.returncode == 0, result.stderr
    lines = [shlex.split(line) for line in result.stdout.splitlines() if line.startswith("'")]
    download = next(line for line in lines if line[1:4] == ["-m", "pip", "download"])
    assert {"kornia==0.9.0", "hydra-core==1.3.8", "omegaconf==2.3.1"} <= set(download)
    assert download[download.index("--python-version") + 1] == "3.12"
    assert any(
        line[1:4] == ["-m", "pip", "wheel"] and "antlr4-python3-runtime==4.9.3" in line
        for line in lines
    )
    (copy,) = [line for line in lines if line[0] == "cp"]
    assert copy[2] == str(REPO / ".gpu-pages") and [Path(p).name for p in copy[3:]] == [
        "page_000.jpg",
        "page_001.jpg",
    ]
    assert result.stdout.splitlines()[-1] == f"MANGACOLOR_COMMIT={machine.git_commit(REPO)}"


def test_gpu_pages_copies_the_first_pages_by_name_into_its_own_folder(tmp_path):
    copy = tmp_path / "repo"
    shutil.copytree(SCRIPTS, copy / "scripts")
    shared = tmp_path / "shared"
    make_pages(shared, 4, (16, 16), suffix=".png")
    (copy / ".gpu-pages").mkdir()
    (copy / ".gpu-pages" / "stale.png").write_bytes(b"old")
    result = run_script(
        "gpu-pages.sh",
        env={"SHARED_PAGES": str(shared), "GPU_PAGE_COUNT": "3"},
        scripts=copy / "scripts",
    )
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in (copy / ".gpu-pages").iterdir()) == [
        "page_000.png",
        "page_001.png",
        "page_002.png",
    ]
    missing = run_script(
        "gpu-pages.sh", env={"SHARED_PAGES": str(tmp_path / "nowhere")}, scripts=copy / "scripts"
    )
    assert missing.returncode == 1 and "folder not found" in missing.stderr


def test_test_gpu_script_runs_the_gpu_tests_of_a_file():
    result = run_script(
        "test-gpu.sh",
        "tests/benchmark/test_sweep.py",
        env={"PYTHON": sys.executable},
        cwd=Path("/"),
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    # Here the two CUDA tests skip (or pass, on a GPU machine); every other test is deselected.
    assert re.search(r"\b2 (skipped|passed)", result.stdout) and "deselected" in result.stdout, (
        result.stdout
    )


@pytest.mark.slow
def test_gpu_sweep_runs_at_tiny_sizes_on_the_cpu(tmp_path):
    """The exact lines of scripts/bench-gpu.sh, shrunk by overrides: a typo costs CI, not a GPU call."""
    pages, out = tmp_path / "pages", tmp_path / "out"
    make_pages(pages, 6, (48, 40), suffix=".jpg")
    tiny = [
        *TINY_BENCH,
        "bench.iterations=2",
        "data.num_workers=0",
        "bench.data_workers=[0]",
        f"paths.output_dir={tmp_path / 'hydra'}",
    ]
    result = run_script(
        "bench-gpu.sh",
        "all",
        *tiny,
        cwd=tmp_path,
        timeout=900,
        env={
            "PYTHON": sys.executable,
            "PAGES": str(pages),
            "OUT_DIR": str(out),
            "COMPILE_BATCHES": "[2]",
        },
    )
    assert result.returncode == 0 and "bench-gpu.sh: failed" not in result.stderr, result.stderr[
        -4000:
    ]
    eager = json.loads((out / "eager" / "bench.json").read_text())
    assert [
        (r["settings"]["batch_size"], r["settings"]["channels_last"]) for r in eager["rows"]
    ] == [(b, cl) for b in (1, 8, 16, 32, 64) for cl in (False, True)]
    pipeline = json.loads((out / "pipeline" / "bench.json").read_text())
    assert [r["task"] for r in pipeline["rows"]] == [
        "model",
        "model",
        "data",
        "data",
        "end_to_end",
        "colourise",
        "colourise",
    ]
    assert [r["settings"]["decode_on_device"] for r in pipeline["rows"][2:4]] == [False, True]
    assert {p.name for p in (out / "pipeline").iterdir()} == {
        "bench.json",
        "bench.md",
        "profile_0.txt",
        "profile_1.txt",
    }
    (compiled,) = json.loads((out / "compiled" / "bench.json").read_text())["rows"]
    assert compiled["settings"]["compile"] is True and compiled["results"]["images_per_s"] > 0


def test_a_failing_sweep_line_does_not_stop_the_others_and_fails_the_script(tmp_path):
    python = (
        tmp_path / "python"
    )  # stands in for python3: the compiled line fails, the others succeed
    python.write_text(
        '#!/bin/sh\ncase "$*" in *compile=\\[true\\]*) exit 3;; esac\necho ran "$@"\n'
    )
    python.chmod(0o755)
    result = run_script("bench-gpu.sh", "all", env={"PYTHON": str(python)})
    assert result.stdout.count("ran -m mangacolor.commands.bench") == 2
    assert result.returncode == 1 and "bench-gpu.sh: failed: compiled" in result.stderr
