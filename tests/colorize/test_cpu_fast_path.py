"""Colouring's CPU fast path: bf16 only on a CPU where it was measured to pay, and within the stated
dE00 of float32 on the same pages (docs/benchmarks.md, "CPU")."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from helpers.pages import make_pages

from mangacolor.color import rgb_to_scaled_lab, uint8_to_unit
from mangacolor.colorize import job
from mangacolor.colorize.job import colorize
from mangacolor.colorize.settings import ColorizeSettings
from mangacolor.data.files import read_image
from mangacolor.inference.generator_file import export_generator
from mangacolor.metrics import delta_e_2000
from mangacolor.models.components import UNetGenerator
from mangacolor.runtime import devices
from mangacolor.runtime.fast_path import fast_generator

# The stated bound (docs/benchmarks.md, "CPU fast path"): over a set of pages, bf16 pages differ from
# float32 pages by a CIEDE2000 of at most 0.25 on average, 1.5 at the 99th percentile of the pixels,
# and no page by more than 1 on average (one unit is about a just-noticeable difference). Measured
# here: 0.02 and 0.41; the demo's generator on 187 clip-art pages (AVX512-BF16): 0.05, 0.56 and
# 0.18 for its worst page. oneDNN's AMX kernels missed it (worst pages 2.8 to 97).
MEAN_DELTA_E00, P99_DELTA_E00, PAGE_DELTA_E00 = 0.25, 1.5, 1.0
GENERATOR = dict(depth=4, width=16, max_width=64, norm="instance", dropout=0.0, dropout_blocks=0)


@pytest.fixture(scope="module")
def trained_generator(tmp_path_factory) -> Path:
    """A small U-Net fitted (L1 on ab) to colour drawn pages: its colours follow the drawing, as a
    trained network's do. A random network's output is mostly amplified noise, which any rounding
    changes wholesale, so it would say little about how bf16 treats a real colouriser."""
    folder = tmp_path_factory.mktemp("drawings")
    pages = torch.stack([read_image(path) for path in make_pages(folder, 16, (64, 64), seed=4)])
    lightness, ab = rgb_to_scaled_lab(uint8_to_unit(pages))
    torch.manual_seed(0)
    generator = UNetGenerator(**GENERATOR)
    optimizer = torch.optim.Adam(generator.parameters(), lr=2e-3)
    for _ in range(60):
        chosen = torch.randint(0, len(pages), (8,))
        loss = (generator(lightness[chosen]) - ab[chosen]).abs().mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert loss.item() < 0.1  # it learnt something: a fresh one starts near 0.18
    return export_generator(generator.eval(), GENERATOR, folder / "generator.pt", training_size=64)


def lab(path: Path) -> torch.Tensor:
    lightness, ab = rgb_to_scaled_lab(uint8_to_unit(read_image(path)[None]))
    return torch.cat([(lightness + 1) * 50, ab * 110], dim=1)


def color(generator: Path, pages: Path, output: Path, **options) -> str:
    # make_pages draws colour pages, which colourise would copy as they are: colour them all the same.
    summary = colorize(
        ColorizeSettings(
            generator,
            pages,
            output,
            format="png",
            device="cpu",
            num_workers=0,
            progress=False,
            recolor_color_pages=True,
            **options,
        ),
        say=lambda message: None,
    )
    return summary.device


# The bf16 pages are coloured in a process of their own with oneDNN held to AVX512-BF16 (no AMX): the
# path `precision=auto` takes where it picks bf16. oneDNN reads the limit once, before its first
# primitive, so it cannot be set inside this test process. (On an AMX CPU, AMX's kernels returned
# wrong batches now and then: there auto stays float32, docs/benchmarks.md.)
BF16_RUN = """
import sys
from pathlib import Path
from mangacolor.colorize.job import colorize
from mangacolor.colorize.settings import ColorizeSettings
generator, pages, output, channels_last = sys.argv[1:]
summary = colorize(ColorizeSettings(Path(generator), Path(pages), Path(output), format="png", device="cpu",
                                    num_workers=0, progress=False, precision="bf16-mixed", tile=128,
                                    tile_overlap=32, channels_last=channels_last, recolor_color_pages=True),
                   say=lambda message: None)
print(summary.device)
"""


@pytest.mark.parametrize("channels_last", ["true", "false"])
def test_bf16_pages_stay_within_the_stated_delta_e_of_float32(
    trained_generator, tmp_path, channels_last
):
    pages = tmp_path / "pages"
    make_pages(pages, 3, (120, 90), seed=7)
    make_pages(pages / "strips", 2, (64, 300), seed=8)  # tiled: tiles blend in bf16 too
    assert "32-true" in color(
        trained_generator, pages, tmp_path / "fp32", precision="32-true", tile=128, tile_overlap=32
    )
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            BF16_RUN,
            str(trained_generator),
            str(pages),
            str(tmp_path / "bf16"),
            channels_last,
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "ONEDNN_MAX_CPU_ISA": "AVX512_CORE_BF16"},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    used = result.stdout.strip().splitlines()[-1]
    assert used.startswith("cpu (bf16-mixed") and ("channels_last" in used) == (
        channels_last == "true"
    )

    pages_differences = [
        delta_e_2000(
            lab(tmp_path / "bf16" / path.relative_to(tmp_path / "fp32")), lab(path)
        ).flatten()
        for path in sorted((tmp_path / "fp32").rglob("*.png"))
    ]
    differences = torch.cat(pages_differences)
    assert differences.numel() == 3 * 120 * 90 + 2 * 64 * 300
    assert torch.isfinite(differences).all()
    assert differences.mean() <= MEAN_DELTA_E00 and differences.quantile(0.99) <= P99_DELTA_E00, (
        f"mean {differences.mean():.3f}, 99th percentile {differences.quantile(0.99):.3f}"
    )
    assert max(page.mean() for page in pages_differences) <= PAGE_DELTA_E00
    assert differences.max() > 0  # bf16 did run: the pages are not float32's to the last level


@pytest.mark.parametrize(
    "flags, color_auto",
    [
        (
            {"avx512_bf16": True, "avx512_f": True},
            "bf16-mixed",
        ),  # e.g. AMD Zen 4: measured 1.86 x float32
        (
            {"amx_bf16": True, "avx512_bf16": True},
            "32-true",
        ),  # AMX: fast, but wrong batches now and then
        (
            {"avx512_f": True, "avx2": True},
            "32-true",
        ),  # bf16 would be emulated: slower than float32
        ({}, "32-true"),
    ],
)
def test_auto_picks_bf16_only_on_a_cpu_where_it_pays(monkeypatch, flags, color_auto):
    monkeypatch.setattr(devices, "cpu_capabilities", lambda: flags)
    cpu = torch.device("cpu")
    assert devices.resolve_precision("auto", cpu, bf16_cpu=True) == color_auto
    assert (
        devices.resolve_precision("auto", cpu) == "32-true"
    )  # training and eval: the same on every CPU
    assert devices.resolve_precision("32-true", cpu, bf16_cpu=True) == "32-true"  # asked for: kept


def test_colorize_defaults_take_the_fast_path_where_it_pays(
    trained_generator, tmp_path, monkeypatch
):
    pages = tmp_path / "pages"
    make_pages(pages, 1, (40, 40))
    monkeypatch.setattr(devices, "cpu_capabilities", lambda: {"avx512_bf16": True})
    assert (
        color(trained_generator, pages, tmp_path / "fast", threads=1)
        == "cpu (bf16-mixed, 1 threads)"
    )
    monkeypatch.setattr(
        devices, "cpu_capabilities", lambda: {"avx512_bf16": True, "amx_bf16": True}
    )
    assert (
        color(trained_generator, pages, tmp_path / "amx", threads=1) == "cpu (32-true, 1 threads)"
    )
    assert color(
        trained_generator, pages, tmp_path / "asked", threads=1, precision="bf16-mixed"
    ) == (
        "cpu (bf16-mixed, channels_last, 1 threads)"
    )  # asked for on an AMX CPU: NHWC, as AMX works


def test_cpu_flags_come_from_torch_or_else_proc_cpuinfo(monkeypatch):
    monkeypatch.setattr(torch.cpu, "get_capabilities", lambda: {"avx512_bf16": True}, raising=False)
    assert devices.cpu_capabilities() == {"avx512_bf16": True}
    monkeypatch.delattr(torch.cpu, "get_capabilities")
    if Path("/proc/cpuinfo").is_file():
        flags = devices.cpu_capabilities()
        assert flags and all(value is True for value in flags.values())


def test_a_bad_fast_path_setting_names_its_key(tmp_path):
    from mangacolor.runtime.config_errors import ConfigError

    with pytest.raises(ConfigError, match="channels_last must be auto, true or false"):
        ColorizeSettings(tmp_path, tmp_path, tmp_path / "out", channels_last="sometimes").check()
    with pytest.raises(ConfigError, match="threads must be >= 1"):
        ColorizeSettings(tmp_path, tmp_path, tmp_path / "out", threads=0).check()


def test_threads_are_set_as_asked(trained_generator, tmp_path, monkeypatch):
    asked = []
    monkeypatch.setattr(job, "set_threads", lambda threads: asked.append(threads) or 3)
    make_pages(tmp_path / "pages", 1, (40, 40))
    assert color(
        trained_generator, tmp_path / "pages", tmp_path / "out", precision="32-true", threads=3
    ).endswith("3 threads)")
    assert asked == [3]


class SometimesNaN(torch.nn.Module):
    """A network whose mixed-precision output is NaN on its first call, as AMX bf16 gave now and then."""

    multiple = 16

    def __init__(self):
        super().__init__()
        self.scale = torch.nn.Parameter(torch.tensor(0.5))
        self.calls = 0

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        out = torch.tanh(inputs.expand(-1, 2, -1, -1) * self.scale)
        return torch.full_like(out, float("nan")) if self.calls == 1 else out


def test_a_non_finite_mixed_precision_batch_is_computed_again_in_float32():
    network = SometimesNaN()
    guarded = fast_generator(network, precision="bf16-mixed")
    assert guarded.multiple == 16  # the callers' attributes are the network's
    lightness = torch.rand(2, 1, 32, 32) * 2 - 1
    with torch.autocast("cpu", dtype=torch.bfloat16):
        ab = guarded(lightness)
    assert (
        torch.isfinite(ab).all() and ab.dtype == torch.float32
    )  # the second call: float32, no autocast
    assert torch.equal(ab, torch.tanh(lightness.expand(-1, 2, -1, -1) * 0.5))
    assert guarded.recomputed == 1 and network.calls == 2
    with torch.autocast("cpu", dtype=torch.bfloat16):
        guarded(lightness)
    assert guarded.recomputed == 1 and network.calls == 3  # a finite output is used as it is
    assert (
        fast_generator(SometimesNaN(), precision="32-true").__class__ is SometimesNaN
    )  # float32: nothing to guard
