"""mangacolor-train end to end, through the installed console script, from a foreign folder."""

import csv
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import torch
from helpers.cli import REPO, TINY, run_cli
from helpers.pages import make_pages

from mangacolor.inference.generator_file import load_generator

HEADLINE = re.compile(
    r"; val (?:ΔE00|dE00) ([\d.]+) vs grey ([\d.]+) \((better|NOT better) than grey\); "
    r"colourfulness ([\d.]+) of the truth's"
)
SUMMARY = re.compile(r"ab-L1 ([\d.]+) vs grey ([\d.]+) \(Lab units\)")


def train_cli(tmp_path, page_folders, *overrides, out="out", experiment=None):
    train, val = page_folders
    # The debug preset goes after the experiment, so its tiny sizes win.
    chosen = [f"+experiment={experiment}"] if experiment else []
    result = run_cli(
        [
            "mangacolor-train",
            *chosen,
            *TINY,
            f"data.train_dir={train}",
            f"data.val_dir={val}",
            f"paths.output_dir={tmp_path / out}",
            *overrides,
        ],
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


def only_run_dir(output: Path) -> Path:
    runs = list((output / "runs").iterdir())
    assert len(runs) == 1, runs
    return runs[0]


def test_fast_dev_run_from_another_folder(tmp_path, page_folders):
    train, val = page_folders
    result = run_cli(
        [
            "mangacolor-train",
            "+debug=fast_dev_run",
            f"data.train_dir={train}",
            f"data.val_dir={val}",
            "data.size=32",
            "data.window=64",
            "data.batch_size=2",
            "model.generator.depth=5",
            "model.generator.width=8",
            "model.discriminator.channels=[8,16]",
            "model.discriminator.stride1_channels=16",
            f"paths.output_dir={tmp_path / 'out'}",
        ],
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "mangacolor-train: 1 iterations" in result.stdout


def test_a_run_writes_checkpoints_grids_logs_and_a_summary(tmp_path, page_folders):
    result = train_cli(tmp_path, page_folders, "logger=many")
    run = only_run_dir(tmp_path / "out")
    assert HEADLINE.search(result.stdout) and SUMMARY.search(result.stdout), result.stdout
    assert str(run) in result.stdout
    checkpoints = run / "checkpoints"
    assert {"last.ckpt", "best.ckpt", "iter_0000002.ckpt", "iter_0000004.ckpt", "generator.pt"} <= {
        p.name for p in checkpoints.iterdir()
    }
    assert not list(checkpoints.glob(".*.tmp"))
    assert (run / "images" / "val_0000004.png").is_file()
    assert list((run / "tensorboard").glob("events.out.tfevents.*"))
    rows = list(csv.DictReader(open(run / "csv" / "metrics.csv")))
    columns = set(rows[0])
    assert {
        "step",
        "loss/d_real",
        "loss/d_fake",
        "loss/g_adv",
        "loss/g_l1",
        "d/real_score",
        "d/fake_score",
        "lr/g",
        "lr/d",
        "perf/images_per_s",
        "data/bad_files",
        "val/ab_l1",
        "val/psnr",
    } <= columns
    assert sorted({int(r["step"]) for r in rows}) == [1, 2, 3, 4]  # logged against iterations
    for exported in ("generator.pt", "last.ckpt"):
        generator, config = load_generator(checkpoints / exported)
        assert config["depth"] == 5 and generator.training_size == 32  # +debug=tiny crops 32 px
    ckpt = torch.load(checkpoints / "last.ckpt", weights_only=True)
    assert ckpt["mangacolor"]["iteration"] == 4


def metric_rows(run: Path) -> dict[int, dict]:
    rows = {}
    for row in csv.DictReader(open(run / "csv" / "metrics.csv")):
        if row.get("loss/g_l1"):
            rows[int(row["step"])] = {
                k: float(row[k]) for k in ("loss/d_real", "loss/d_fake", "loss/g_adv", "loss/g_l1")
            }
    return rows


PRINTED_INPUTS = [
    "data.input_styles.plain=0.25",
    "data.input_styles.screentone=0.35",
    "data.input_styles.lines=0.2",
    "data.input_styles.flat=0.2",
]


# The printed run costs as much again; tests/data/test_print_styles.py resumes its data stream in a
# second.
@pytest.mark.parametrize(
    "inputs", [[], pytest.param(PRINTED_INPUTS, marks=pytest.mark.slow)], ids=["plain", "printed"]
)
def test_resume_continues_exactly_like_one_run(tmp_path, page_folders, inputs):
    """N iterations then a resume to 2N logs the same steps as one 2N run, also with B&W page inputs
    (their styles and draws are functions of the seed, rank and batch number)."""
    common = [
        "logger=csv",
        "train.val_every=3",
        "callbacks.checkpoint.every_n_iterations=3",
        *inputs,
    ]
    train_cli(tmp_path, page_folders, *common, "train.iterations=6", out="whole")
    train_cli(tmp_path, page_folders, *common, "train.iterations=3", out="first")
    first = only_run_dir(tmp_path / "first")
    train_cli(
        tmp_path,
        page_folders,
        *common,
        "train.iterations=6",
        f"ckpt_path={first / 'checkpoints' / 'last.ckpt'}",
        out="second",
    )
    whole = metric_rows(only_run_dir(tmp_path / "whole"))
    resumed = {**metric_rows(first), **metric_rows(only_run_dir(tmp_path / "second"))}
    assert sorted(whole) == sorted(resumed) == [1, 2, 3, 4, 5, 6]
    for step in whole:
        for key, value in whole[step].items():
            assert resumed[step][key] == pytest.approx(value, rel=1e-5, abs=1e-6), (step, key)


@pytest.mark.slow
def test_a_resume_with_every_training_trick_on_continues_exactly(tmp_path, page_folders):
    """As above with the average of G, the adversarial ramp (crossing the resume) and spectral norm:
    the same losses, and the same averaged generator exported at the end."""
    common = [
        "logger=csv",
        "train.val_every=3",
        "callbacks.checkpoint.every_n_iterations=3",
        "model.ema.decay=0.5",
        "model.ema.start_fraction=0.2",
        "model.discriminator.spectral_norm=true",
        "model.adversarial.warmup_fraction=0.25",
        "model.adversarial.ramp_fraction=0.5",
    ]
    train_cli(tmp_path, page_folders, *common, "train.iterations=6", out="whole")
    # The first part runs to 3 of the 6 iterations, so its schedule and average start are those of
    # 6.
    train_cli(
        tmp_path, page_folders, *common, "train.iterations=6", "trainer.max_steps=6", out="first"
    )
    first = only_run_dir(tmp_path / "first")
    assert (
        torch.load(first / "checkpoints" / "last.ckpt", weights_only=True)["mangacolor"][
            "iteration"
        ]
        == 3
    )
    train_cli(
        tmp_path,
        page_folders,
        *common,
        "train.iterations=6",
        f"ckpt_path={first / 'checkpoints' / 'last.ckpt'}",
        out="second",
    )
    whole, second = only_run_dir(tmp_path / "whole"), only_run_dir(tmp_path / "second")
    resumed = {**metric_rows(first), **metric_rows(second)}
    assert sorted(metric_rows(whole)) == sorted(resumed) == [1, 2, 3, 4, 5, 6]
    for step, row in metric_rows(whole).items():
        for key, value in row.items():
            assert resumed[step][key] == pytest.approx(value, rel=1e-5, abs=1e-6), (step, key)
    exported = [
        torch.load(run / "checkpoints" / "generator.pt", weights_only=True)
        for run in (whole, second)
    ]
    assert exported[0]["averaged"] is exported[1]["averaged"] is True
    for name, value in exported[0]["state_dict"].items():
        torch.testing.assert_close(
            exported[1]["state_dict"][name], value, rtol=1e-5, atol=1e-6, msg=name
        )


def test_unreadable_pages_are_skipped_and_counted(tmp_path, page_folders):
    train, _ = page_folders
    (train / "empty.jpg").write_bytes(b"")
    (train / "notes.png").write_text("not an image")
    result = train_cli(
        tmp_path, page_folders, "logger=csv", "train.iterations=8", "data.batch_size=4"
    )
    assert "2 unreadable pages skipped" in result.stdout
    log = result.stdout + result.stderr
    assert (
        log.count("empty.jpg: empty file") == 1 and log.count("notes.png: ") == 1
    )  # logged once, with the reason
    rows = list(csv.DictReader(open(only_run_dir(tmp_path / "out") / "csv" / "metrics.csv")))
    assert max(float(r["data/bad_files"]) for r in rows if r.get("data/bad_files")) == 2


def test_a_folder_without_images_fails_before_training(tmp_path):
    (tmp_path / "empty").mkdir()
    result = run_cli(
        ["mangacolor-train", *TINY, f"data.train_dir={tmp_path / 'empty'}"],
        cwd=tmp_path,
        check=False,
    )
    assert result.returncode != 0
    assert "no image files" in result.stderr and str(tmp_path / "empty") in result.stderr


@pytest.mark.parametrize("experiment", ["demo", "seed", "manga"])
def test_each_experiment_runs_in_tiny_form(tmp_path, page_folders, experiment):
    result = train_cli(tmp_path, page_folders, "logger=none", experiment=experiment)
    assert "mangacolor-train: 4 iterations" in result.stdout


def test_multirun_sweep_gives_one_folder_per_run(tmp_path, page_folders):
    train, val = page_folders
    result = run_cli(
        [
            "mangacolor-train",
            "-m",
            *TINY,
            f"data.train_dir={train}",
            f"data.val_dir={val}",
            "logger=none",
            "train.iterations=2",
            f"paths.output_dir={tmp_path / 'out'}",
            "model.lambda_l1=50,100",
        ],
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    sweep = next((tmp_path / "out" / "multiruns").iterdir())
    assert sorted(p.name for p in sweep.iterdir() if p.is_dir()) == ["0", "1"]
    for job in ("0", "1"):
        assert (sweep / job / "checkpoints" / "generator.pt").is_file()


def test_learning_check_beats_the_grey_baseline(tmp_path):
    """A few hundred iterations on synthetic drawings drive val ab-L1 well below grey."""
    make_pages(tmp_path / "train", 24, (64, 64), seed=1)
    make_pages(tmp_path / "val", 8, (64, 64), seed=2)
    result = run_cli(
        [
            "mangacolor-train",
            *TINY,
            f"data.train_dir={tmp_path / 'train'}",
            f"data.val_dir={tmp_path / 'val'}",
            f"paths.output_dir={tmp_path / 'out'}",
            "logger=none",
            "train.iterations=300",
            "train.val_every=300",
            "data.batch_size=8",
            "data.window=64",
            "model.generator.width=16",
            "model.generator.max_width=64",
            "model.lr_g=2e-3",
            "model.log_every=50",
        ],
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    model, grey = map(float, SUMMARY.search(result.stdout).groups())
    assert model < 0.8 * grey, result.stdout
    assert HEADLINE.search(result.stdout), result.stdout


def test_wheel_ships_configs_and_demo_pages(tmp_path):
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(tmp_path), str(REPO)],
        check=True,
        capture_output=True,
    )
    wheel = next(tmp_path.glob("mangacolor-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "mangacolor/_bundled/conf/train.yaml" in names
    assert {
        f"mangacolor/_bundled/conf/experiment/{e}.yaml" for e in ("demo", "seed", "manga")
    } <= names
    assert any(n.startswith("mangacolor/_bundled/demo/train/") for n in names)
    # Installed from the wheel alone, the package finds its configs there, not in a checkout.
    site = tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--target",
            str(site),
            str(wheel),
        ],
        check=True,
        capture_output=True,
    )
    probe = subprocess.run(
        [
            sys.executable,
            "-I",
            "-c",
            "import sys; sys.path.insert(0, sys.argv[1]); from mangacolor.runtime.bundled import "
            "config_dir, demo_data_dir; print(config_dir()); print(demo_data_dir())",
            str(site),
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    for line in probe.stdout.split():
        assert Path(line).is_relative_to(site), probe.stdout


def test_the_console_script_reports_a_bad_value_in_one_line(tmp_path):
    make_pages(tmp_path / "pages", 2)
    result = run_cli(
        [
            "mangacolor-train",
            "+debug=tiny",
            f"data.train_dir={tmp_path / 'pages'}",
            "data.window=16",
            f"paths.output_dir={tmp_path / 'out'}",
        ],
        cwd=tmp_path,
        check=False,
    )
    assert result.returncode != 0
    assert (
        "mangacolor-train: error: data.window (16) must be at least data.size (32)" in result.stderr
    )
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "out" / "runs").exists() or not list((tmp_path / "out").rglob("*.ckpt"))


def test_a_callbacks_bad_value_is_one_line_too(tmp_path):
    """Checked where the callback is built, it still ends the command in one line, not a
    traceback."""
    make_pages(tmp_path / "pages", 2)
    result = run_cli(
        [
            "mangacolor-train",
            "+debug=tiny",
            f"data.train_dir={tmp_path / 'pages'}",
            "callbacks.graceful_stop.check_every=0",
            f"paths.output_dir={tmp_path / 'out'}",
        ],
        cwd=tmp_path,
        check=False,
    )
    assert result.returncode != 0
    assert (
        "mangacolor-train: error: callbacks.graceful_stop.check_every must be >= 1, got 0"
        in result.stderr
    )
    assert "Traceback" not in result.stderr
