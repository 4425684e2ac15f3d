"""mangacolor.benchmark.machine: datasheet and CPU peaks, and the commit a report names."""

from __future__ import annotations

import subprocess

import pytest

from mangacolor.benchmark import machine


@pytest.mark.parametrize(
    "name, precision, peak",
    [
        ("NVIDIA H100 80GB HBM3", "bf16-mixed", 989.4),
        ("NVIDIA H100 80GB HBM3", "32-true", 494.7),
        ("NVIDIA H100 PCIe", "bf16-mixed", 756.0),
        ("NVIDIA H200", "16-mixed", 989.4),
        ("NVIDIA A100-SXM4-80GB", "bf16-mixed", 312.0),
        ("NVIDIA L4", "bf16-mixed", 121.0),
        ("NVIDIA L40S", "bf16-mixed", None),  # not an L4
        ("NVIDIA H100 80GB HBM3", "64-true", None),
        ("AMD EPYC (2 cores)", "32-true", None),
    ],
)
def test_peak_table(name, precision, peak):
    assert machine.peak_tflops(name, precision) == peak


@pytest.mark.parametrize(
    "flags, precision, peak, how",
    [
        (
            {"amx_bf16": True, "avx512_bf16": True, "avx512_f": True},
            "bf16-mixed",
            2 * 2.1 * 1024 / 1000,
            "(amx_bf16)",
        ),
        (
            {"avx512_bf16": True, "avx512_f": True},
            "bf16-mixed",
            2 * 2.1 * 128 / 1000,
            "(avx512_bf16)",
        ),
        ({"amx_bf16": True, "avx512_f": True}, "32-true", 2 * 2.1 * 64 / 1000, "(avx512_f)"),
        ({"avx2": True}, "32-true", 2 * 2.1 * 32 / 1000, "(avx2)"),
        ({"avx512_f": True}, "bf16-mixed", None, "no bf16 peak"),  # emulated bf16: no peak claimed
    ],
)
def test_cpu_peak_from_cores_clock_and_instructions(flags, precision, peak, how):
    value, text = machine.cpu_peak_tflops(precision, flags, 2, (2.1, "cpu MHz in /proc/cpuinfo"))
    assert value == (pytest.approx(peak) if peak else None) and how in text
    assert (
        machine.cpu_peak_tflops("bf16-mixed", {"amx_bf16": True}, 2, (None, "clock unknown"))[0]
        is None
    )


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
