"""Runs written before the package layout moved (tests/fixtures/pre_layout_run/) still load and resume.

Lightning keys callback and datamodule state by class name and silently drops state it cannot
place, so only a checkpoint written by the old code shows that a move kept everything.
"""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pytest
import torch
from helpers.cli import REPO, TINY, run_cli

from mangacolor.inference.generator_file import load_generator

OLD_RUN = REPO / "tests" / "fixtures" / "pre_layout_run"
LOSSES = ("loss/d_real", "loss/d_fake", "loss/g_adv", "loss/g_l1")


def loss_rows(metrics_csv: Path) -> dict[int, dict[str, float]]:
    rows = {}
    for row in csv.DictReader(open(metrics_csv)):
        if row.get("loss/g_l1"):
            rows[int(row["step"])] = {key: float(row[key]) for key in LOSSES}
    return rows


def test_an_old_checkpoint_resumes_exactly_where_the_old_code_went_on(tmp_path):
    pages = tmp_path / "pages"
    shutil.copytree(OLD_RUN / "pages", pages)
    # The settings the old run was trained with (the defaults of its day), as a user resuming it would keep them.
    result = run_cli(
        [
            "mangacolor-train",
            *TINY,
            "logger=csv",
            "train.iterations=6",
            "train.val_every=3",
            "callbacks.checkpoint.every_n_iterations=3",
            f"data.train_dir={pages / 'train'}",
            f"data.val_dir={pages / 'val'}",
            f"paths.output_dir={tmp_path / 'out'}",
            f"ckpt_path={OLD_RUN / 'iter_0000003.ckpt'}",
        ],
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "mangacolor-train: 6 iterations" in result.stdout
    (run,) = (tmp_path / "out" / "runs").iterdir()
    old, resumed = loss_rows(OLD_RUN / "metrics.csv"), loss_rows(run / "csv" / "metrics.csv")
    assert sorted(resumed) == [4, 5, 6]
    for step in resumed:
        for key in LOSSES:
            assert resumed[step][key] == pytest.approx(old[step][key], rel=1e-5, abs=1e-6), (
                step,
                key,
            )


def test_an_old_generator_file_loads_and_predicts_as_before():
    generator = load_generator(OLD_RUN / "generator.pt")
    generator = generator[0] if isinstance(generator, tuple) else generator
    expected = torch.load(OLD_RUN / "generator_prediction.pt", weights_only=True)
    with torch.no_grad():
        predicted = generator.eval()(expected["input"])
    torch.testing.assert_close(predicted, expected["ab"])
