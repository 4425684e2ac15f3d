"""mangacolor-export from the command line: the summary line, no overwrite, a bad checkpoint in one line."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import tomllib
import torch
from helpers.cli import REPO

from mangacolor.inference.generator_file import export_generator
from mangacolor.models.components import UNetGenerator


def run_export(args: list[str], cwd) -> subprocess.CompletedProcess:
    """The console script's module (the venv may predate the script's entry in pyproject.toml)."""
    return subprocess.run(
        [sys.executable, "-m", "mangacolor.commands.export", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ},
    )


def test_the_console_script_and_the_extra_are_declared():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert project["scripts"]["mangacolor-export"] == "mangacolor.commands.export:main"
    assert {name.split(">")[0] for name in project["optional-dependencies"]["export"]} == {
        "onnx",
        "onnxscript",
        "onnxruntime",
    }
    assert "'.[test,export,studio]'" in (REPO / "Makefile").read_text()  # make install takes it too


def test_export_writes_once_and_reports_the_check(tmp_path):
    torch.manual_seed(0)
    config = dict(depth=2, width=4, max_width=4)
    folder = tmp_path / "run [1]"
    generator = export_generator(
        UNetGenerator(**config), config, folder / "generator.pt", training_size=8
    )
    result = run_export(
        [f"ckpt_path={generator}", "format=torch-export", f"output={folder / 'out' / 'g.pt2'}"],
        tmp_path,
    )
    assert result.returncode == 0, result.stderr
    line = result.stdout.strip().splitlines()[-1]
    assert (
        line.startswith("mangacolor-export: wrote ")
        and "g.pt2 (torch-export) and g.pt2.json" in line
    )
    assert "max abs difference from PyTorch" in line
    description = json.loads((folder / "out" / "g.pt2.json").read_text())
    assert description["training_size"] == 8 and description["input"]["multiple"] == 4
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run [1]"]  # no Hydra folders left behind

    again = run_export(
        [f"ckpt_path={generator}", "format=torch-export", f"output={folder / 'out' / 'g.pt2'}"],
        tmp_path,
    )
    assert again.returncode != 0
    assert "mangacolor-export: error: " in again.stderr and "g.pt2 exists" in again.stderr
    assert "Traceback" not in again.stderr


def test_a_bad_checkpoint_or_format_is_one_line_naming_it(tmp_path):
    bad = tmp_path / "notes.pt"
    torch.save({"hello": 1}, bad)
    result = run_export([f"ckpt_path={bad}"], tmp_path)
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert (
        "mangacolor-export: error: " in result.stderr
        and "notes.pt: neither a generator.pt export" in result.stderr
    )
    result = run_export([f"ckpt_path={bad}", "format=tflite"], tmp_path)
    assert "format must be one of onnx, torch-export, got 'tflite'" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.pt"]
