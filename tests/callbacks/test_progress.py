"""Training progress by iteration: the bar's total and resumed start, and what a log gets."""

from __future__ import annotations

import re

import lightning as L
import torch
from helpers.cli import run_cli

from mangacolor.callbacks.progress import IterationProgress, baseline_key
from mangacolor.models.pix2pix import Pix2Pix

TINY_G = dict(depth=5, width=8, max_width=16)
TINY_D = dict(channels=[8, 16], stride1_channels=16)


class Batches(torch.utils.data.IterableDataset):
    def __iter__(self):
        generator = torch.Generator().manual_seed(0)
        while True:
            yield {
                "L": torch.rand(1, 32, 32, generator=generator) * 2 - 1,
                "ab": torch.rand(2, 32, 32, generator=generator) * 0.6 - 0.3,
            }


def fit(iterations: int, progress: IterationProgress, ckpt_path=None, save_to=None) -> Pix2Pix:
    model = Pix2Pix(TINY_G, TINY_D, iterations=iterations, log_every=2)
    trainer = L.Trainer(
        accelerator="cpu",
        max_epochs=-1,
        logger=False,
        enable_checkpointing=False,
        enable_model_summary=False,
        limit_val_batches=0,
        callbacks=[progress],
    )
    assert trainer.progress_bar_callback is progress  # in place of Lightning's own bar
    trainer.fit(model, torch.utils.data.DataLoader(Batches(), batch_size=2), ckpt_path=ckpt_path)
    if save_to is not None:
        trainer.save_checkpoint(save_to)
    return model


def bar_states(text: str) -> list[str]:
    return [state.strip() for state in re.split(r"[\r\n]", text) if "mangacolor-train:" in state]


def test_the_bar_counts_iterations_out_of_the_total_and_a_resume_starts_where_it_stopped(
    tmp_path, capsys
):
    fit(3, IterationProgress(mode="bar"), save_to=tmp_path / "three.ckpt")
    first = bar_states(capsys.readouterr().out)
    assert first[0].startswith("mangacolor-train:   0%") and "0/3" in first[0]
    assert "3/3" in first[-1] and "100%" in first[-1] and "g_l1" in first[-1]  # losses logged at 2

    resumed = fit(7, IterationProgress(mode="bar"), ckpt_path=tmp_path / "three.ckpt")
    states = bar_states(capsys.readouterr().out)
    assert resumed.iteration == 7
    assert (
        "3/7" in states[0]
    )  # Lightning's global_step would say 6: two optimizer steps per iteration
    assert "7/7" in states[-1]
    assert not any(re.search(r"\b[0-2]/7\b", state) for state in states)


def test_lines_say_the_iteration_rate_time_left_and_losses(capsys):
    model = fit(6, IterationProgress(mode="lines", every_iterations=2))
    lines = capsys.readouterr().out.splitlines()
    assert model.iteration == 6
    assert [line.split(",")[0] for line in lines] == [
        f"mangacolor-train: iteration {n}/6 ({100 * n / 6:.0f}%)" for n in (1, 3, 5, 6)
    ]
    assert re.search(
        r"it/s, \d\d:\d\d elapsed, 00:00 left \| [\d.]+ img/s, g_l1 [\d.]+, g_adv", lines[-1]
    )


def test_the_headline_metric_is_one_setting_with_its_grey_baseline_beside_it():
    assert baseline_key("val/ab_l1") == "val/grey_ab_l1"
    assert baseline_key("val/delta_e_2000") == "val/grey_delta_e_2000"


def test_a_log_of_a_run_gets_a_few_plain_lines(tmp_path, page_folders):
    """stdout a pipe, as in a SLURM log or `make demo > log`: no redrawing, about twenty lines."""
    train, val = page_folders
    result = run_cli(
        [
            "mangacolor-train",
            "+debug=tiny",
            "train.iterations=40",
            "train.val_every=20",
            "logger=none",
            "callbacks.checkpoint.every_n_iterations=20",
            "trainer.enable_model_summary=false",
            f"data.train_dir={train}",
            f"data.val_dir={val}",
            f"paths.output_dir={tmp_path / 'out'}",
        ],
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    out = result.stdout
    assert "\r" not in out
    counts = [line for line in out.splitlines() if line.startswith("mangacolor-train: iteration ")]
    assert counts[0].startswith("mangacolor-train: iteration 1/40 (2%)")
    assert counts[-1].startswith("mangacolor-train: iteration 40/40 (100%)")
    assert 20 <= len(counts) <= 22  # the first, every second iteration (a twentieth), the last
    validations = [
        line for line in out.splitlines() if line.startswith("mangacolor-train: validation at")
    ]
    assert [line.split(":")[1] for line in validations] == [
        " validation at iteration 20",
        " validation at iteration 40",
    ]
    assert re.search(
        r"val/delta_e_2000 [\d.]+ vs grey [\d.]+, (NOT )?better than grey", validations[-1]
    )
    assert len(out.encode()) < 6000, out  # Lightning's bar wrote every one of its redraws here
