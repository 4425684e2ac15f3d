"""mangacolor-eval from the command line, on tiny folders with a tiny checkpoint made here: the
printed table, the files written (every number checked against a recomputation,
tests/helpers/eval_runs.py), awkward paths, one clear line on error. The library's tests are in
tests/evaluation/."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from helpers.cli import TINY, run_cli
from helpers.eval_runs import (
    GENERATOR,
    METRICS,
    SIZE,
    WINDOW,
    check_against_recomputation,
    make_held_out,
    make_tiny_run,
    mean_ab_of_crops,
    read_outputs,
)
from helpers.pages import make_pages
from PIL import Image

import mangacolor


@pytest.fixture
def tiny_run(tmp_path: Path) -> Path:
    return make_tiny_run(tmp_path)


@pytest.fixture
def held_out(tmp_path: Path) -> Path:
    return make_held_out(tmp_path)


def test_console_script_scores_crops_against_grey_and_mean_ab(tmp_path, tiny_run, held_out):
    ckpt = tiny_run / "checkpoints" / "generator.pt"
    train = tmp_path / "train"
    make_pages(train, 4, (48, 40), seed=7)
    out = tmp_path / "eval out"
    args = [
        "mangacolor-eval",
        f"ckpt_path={ckpt}",
        f"data.test_dir={held_out}",
        f"data.train_dir={train}",
        "data.num_workers=0",
        "eval.progress=false",
        "eval.grid_images=2",
        f"hydra.run.dir={out}",
    ]
    result = run_cli(args, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]

    # The printed table: every metric, model against grey and the mean-ab baseline.
    for text in (
        "model",
        "grey",
        "mean-ab",
        "model - grey",
        "ab-L1",
        "PSNR",
        "SSIM",
        "CIEDE2000",
        "colourfulness",
    ):
        assert text in result.stdout
    assert "mangacolor-eval: 5 images (1 unreadable skipped" in result.stdout

    metrics, rows = read_outputs(out)
    assert metrics["images"] == 5 and metrics["skipped"] == 1
    [skipped] = metrics["skipped_files"]
    assert skipped["path"] == str(held_out / "broken.png") and skipped["reason"]
    assert metrics["checkpoint"] == str(ckpt.resolve()) and metrics["data_dir"] == str(
        held_out.resolve()
    )
    assert metrics["mangacolor_version"] == mangacolor.__version__
    assert metrics["generator"] == {
        **GENERATOR,
        "in_channels": 1,
        "out_channels": 2,
    }  # an ab generator, no hints
    settings = metrics["settings"]
    assert (settings["mode"], settings["size"], settings["window"]) == (
        "crop",
        SIZE,
        WINDOW,
    )  # from the run
    assert settings["device"] == "cpu" and settings["precision"] == "32-true"
    assert set(metrics["improvement_over_grey"]) == {*METRICS, "colourfulness_ratio"}
    assert len(metrics["best"]) == len(metrics["worst"]) == 2
    ranked = sorted(rows, key=lambda row: float(row["model/delta_e_2000"]))
    assert [b["path"] for b in metrics["best"]] == [row["path"] for row in ranked[:2]]
    assert [w["path"] for w in metrics["worst"]] == [row["path"] for row in ranked[::-1][:2]]
    for grid in ("best.png", "worst.png"):
        with Image.open(out / grid) as image:
            assert image.size == (
                2 * SIZE + 3 * 2,
                3 * SIZE + 4 * 2,
            )  # 2 columns, rows L / truth / prediction

    baseline = metrics["mean_ab_baseline"]
    assert baseline["pages"] == 4 and baseline["skipped"] == 0
    mean_ab = torch.tensor(baseline["ab_lab_units"], dtype=torch.float64) / 110
    assert torch.allclose(mean_ab, mean_ab_of_crops(train).double(), atol=1e-5)
    check_against_recomputation(
        metrics, rows, held_out, ckpt, "crop", ("model", "grey", "mean_ab"), mean_ab
    )


def test_the_console_script_takes_awkward_paths_and_fails_with_one_clear_line(
    tmp_path, tiny_run, held_out, monkeypatch, capsys
):
    from mangacolor.commands import eval as entry_point

    ckpt = tiny_run / "checkpoints" / "[Grp] 漫画 (1), x.pt"
    (tiny_run / "checkpoints" / "generator.pt").rename(ckpt)
    pages = held_out.rename(tmp_path / "[Grp] held out, 1")
    out = tmp_path / "out"
    common = [
        "data.num_workers=0",
        "eval.progress=false",
        "eval.grid_images=1",
        f"hydra.run.dir={out}",
    ]
    monkeypatch.setattr(
        "sys.argv", ["mangacolor-eval", f"ckpt_path={ckpt}", f"data.test_dir={pages}", *common]
    )
    entry_point.main()
    assert json.loads((out / "metrics.json").read_text())["images"] == 5

    missing = tmp_path / "no such [dir]"
    out = tmp_path / "out2"
    common[-1] = f"hydra.run.dir={out}"
    monkeypatch.setattr(
        "sys.argv", ["mangacolor-eval", f"ckpt_path={ckpt}", f"data.test_dir={missing}", *common]
    )
    with pytest.raises(SystemExit) as caught:
        entry_point.main()
    assert (
        str(caught.value) == f"mangacolor-eval: error: data.test_dir: folder not found: {missing}"
    )
    assert not (out / ".mangacolor-eval").exists()


@pytest.mark.slow
def test_eval_of_a_tiny_training_run(tmp_path):
    """Train +debug=tiny, then evaluate its last.ckpt with the settings found in the run folder."""
    make_pages(tmp_path / "pages" / "train", 6, (48, 40), seed=1)
    make_pages(tmp_path / "pages" / "val", 3, (44, 44), seed=2)
    trained = run_cli(
        [
            "mangacolor-train",
            *TINY,
            f"data.train_dir={tmp_path / 'pages' / 'train'}",
            f"data.val_dir={tmp_path / 'pages' / 'val'}",
            f"hydra.run.dir={tmp_path / 'run'}",
        ],
        cwd=tmp_path,
    )
    assert trained.returncode == 0, trained.stderr[-3000:]
    result = run_cli(
        [
            "mangacolor-eval",
            f"ckpt_path={tmp_path / 'run' / 'checkpoints' / 'last.ckpt'}",
            f"data.test_dir={tmp_path / 'pages' / 'val'}",
            "data.num_workers=0",
            "eval.progress=false",
            f"hydra.run.dir={tmp_path / 'eval'}",
        ],
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert metrics["images"] == 3 and (
        metrics["settings"]["size"],
        metrics["settings"]["window"],
    ) == (32, 64)
