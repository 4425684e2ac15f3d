"""Bad settings fail at start, before any page is read or model built, with a message naming the key."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from helpers.cli import run_cli
from helpers.configs import compose_train
from helpers.pages import make_pages
from hydra.errors import MissingConfigException

from mangacolor.data.datamodule import PagesDataModule
from mangacolor.models.pix2pix import Pix2Pix
from mangacolor.runtime.bundled import config_dir
from mangacolor.runtime.config_errors import ConfigError
from mangacolor.runtime.resume import record_launch
from mangacolor.training.checks import check_train_config, check_train_inputs
from mangacolor.training.settings import TrainSettings
from mangacolor.training.train import train


@pytest.fixture
def pages(tmp_path) -> Path:
    make_pages(tmp_path / "pages", 2)
    return tmp_path / "pages"


@pytest.fixture
def nothing_built(monkeypatch):
    """Any page read or model built before the check fails the test."""

    def refuse(*args, **kwargs):
        raise AssertionError("the run got past its start before the bad value was caught")

    monkeypatch.setattr(Pix2Pix, "__init__", refuse)
    monkeypatch.setattr(PagesDataModule, "setup", refuse)


BAD_VALUES = [  # (override on +debug=tiny: size 32, window 64, depth 5), words the message must hold
    ("data.size=48", "data.size (48) must be a multiple of 2**model.generator.depth (32)"),
    ("data.size=0", "data.size must be positive"),
    ("data.size=abc", "data.size must be a whole number, got 'abc'"),
    ("model.generator.depth=1", "model.generator.depth must be at least 2"),
    (
        "model.discriminator.channels=[8,16,32,64,128,256]",
        "model.discriminator.channels: 6 stride-2 layers",
    ),
    ("data.window=16", "data.window (16) must be at least data.size (32)"),
    ("model.lr_g=0", "model.lr_g must be positive, got 0"),
    ("model.lr_d=-0.0002", "model.lr_d must be positive, got -0.0002"),
    ("data.batch_size=0", "data.batch_size must be >= 1, got 0"),
    ("data.batch_size=-4", "data.batch_size must be >= 1, got -4"),
    ("data.val_batch_size=0", "data.val_batch_size must be >= 1"),
    ("model.beta1=1.5", "model.beta1 must be in [0, 1)"),
    ("model.max_nonfinite=0", "model.max_nonfinite must be >= 1"),
    ("train.iterations=0", "train.iterations must be >= 1"),
    (
        "callbacks.checkpoint.every_n_iterations=0",
        "callbacks.checkpoint.every_n_iterations must be >= 1",
    ),
    ("data.val_fraction=1.0", "data.val_fraction must be in [0, 1)"),
    ("model.gan_mode=wgan", "model.gan_mode must be one of vanilla, lsgan, hinge, got 'wgan'"),
    ("model.generator.norm=group", "model.generator.norm must be one of batch, instance, none"),
    (
        "model.discriminator.norm=layer",
        "model.discriminator.norm must be one of batch, instance, none",
    ),
    # 96 = 32 x 3: the largest power of two dividing it is 32, so depth 5 is the suggestion.
    ("data.size=96 model.generator.depth=6", "try model.generator.depth=5"),
]


@pytest.mark.parametrize(("override", "message"), BAD_VALUES, ids=[o for o, _ in BAD_VALUES])
def test_a_bad_value_fails_at_start_naming_its_key(
    override, message, pages, tmp_path, nothing_built
):
    cfg = compose_train(
        ["+debug=tiny", f"data.train_dir={pages}", *override.split()], tmp_path / "run"
    )
    with pytest.raises(ConfigError) as caught:
        train(TrainSettings.from_config(cfg))
    assert message in str(caught.value)


# The model's own values are checked once, by its constructor (models/options.py), so the bench,
# which builds the model without train's checks, gets the same rules: train fails as it builds it.
MODEL_RULES = [
    ("model.predicts=rgb", "model.predicts must be one of ab, lab, got 'rgb'"),
    ("model.ema.decay=1.5", "model.ema.decay must be in (0, 1) (or null: no average), got 1.5"),
    ("model.ema.decay=high", "model.ema.decay must be a number, got 'high'"),
    ("model.ema.start_fraction=1.0", "model.ema.start_fraction must be in [0, 1), got 1.0"),
    (
        "model.adversarial.warmup_fraction=0.8 model.adversarial.ramp_fraction=0.3",
        "model.adversarial: warmup_fraction (0.8) and ramp_fraction (0.3) must be >= 0 and add up to at most 1",
    ),
]


@pytest.mark.parametrize(("override", "message"), MODEL_RULES, ids=[o for o, _ in MODEL_RULES])
def test_a_bad_model_value_fails_naming_its_key_as_the_model_is_built(
    override, message, pages, tmp_path
):
    cfg = compose_train(
        ["+debug=tiny", f"data.train_dir={pages}", *override.split()], tmp_path / "run"
    )
    check_train_config(cfg)  # not train's to check: the model's constructor holds the rule
    with pytest.raises(ConfigError) as caught:
        train(TrainSettings.from_config(cfg))
    assert message in str(caught.value)
    assert not list((tmp_path / "run").rglob("*.ckpt"))


def test_missing_or_wrong_paths_fail_at_start_naming_their_key(pages, tmp_path, nothing_built):
    cases = [
        ([f"data.train_dir={tmp_path / 'nope'}"], "data.train_dir: folder not found"),
        (
            [f"data.train_dir={pages}", f"data.val_dir={tmp_path / 'nope'}"],
            "data.val_dir: folder not found",
        ),
        ([f"data.train_dir={pages / 'page_000.png'}"], "data.train_dir: not a folder"),
        ([f"data.data_dir={tmp_path / 'nope'}"], "data.data_dir: folder not found"),
        ([], "data.train_dir is not set"),
        (
            [f"data.train_dir={pages}", f"ckpt_path={tmp_path / 'last.ckpt'}"],
            "ckpt_path: checkpoint file not found",
        ),
    ]
    for overrides, message in cases:
        cfg = compose_train(["+debug=tiny", *overrides], tmp_path / "run")
        check_train_config(cfg)  # the values are fine...
        with pytest.raises(ConfigError, match=message):
            check_train_inputs(cfg)  # ...the paths are not
        with pytest.raises(ConfigError, match=message):
            TrainSettings.from_config(cfg)


def test_every_experiment_passes_the_value_checks(tmp_path):
    for experiment in sorted(p.stem for p in (config_dir() / "experiment").glob("*.yaml")):
        for debug in ([], ["+debug=tiny"]):
            check_train_config(compose_train([f"+experiment={experiment}", *debug], tmp_path))


def test_an_unknown_experiment_is_refused_by_hydra_naming_it_and_the_choices(tmp_path):
    with pytest.raises(MissingConfigException) as caught:
        compose_train(["+experiment=mnaga"], tmp_path)
    message = str(caught.value)
    assert "experiment/mnaga" in message and all(
        name in message for name in ("demo", "manga", "seed")
    )


def test_the_console_script_reports_a_bad_value_in_one_line(tmp_path, pages):
    result = run_cli(
        [
            "mangacolor-train",
            "+debug=tiny",
            f"data.train_dir={pages}",
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
    result = run_cli(
        [
            "mangacolor-train",
            "+debug=tiny",
            f"data.train_dir={pages}",
            "model.ema.decay=1.5",
            f"paths.output_dir={tmp_path / 'out'}",
        ],
        cwd=tmp_path,
        check=False,
    )
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert "mangacolor-train: error: model.ema.decay must be in (0, 1)" in result.stderr
    assert not (tmp_path / "out" / "runs").exists() or not list((tmp_path / "out").rglob("*.ckpt"))


def test_a_run_folder_holding_an_earlier_runs_checkpoints_is_refused_unless_resumed_from(
    pages, tmp_path, nothing_built
):
    checkpoints = tmp_path / "run" / "checkpoints"
    checkpoints.mkdir(parents=True)
    check_train_inputs(
        compose_train(["+debug=tiny", f"data.train_dir={pages}"], tmp_path / "run")
    )  # empty: fine
    (checkpoints / "last.ckpt").write_bytes(b"an earlier run's")
    (checkpoints / "generator.pt").write_bytes(b"an earlier run's")
    cfg = compose_train(["+debug=tiny", f"data.train_dir={pages}"], tmp_path / "run")
    with pytest.raises(
        ConfigError, match=r"already holds an earlier run's checkpoints \(generator.pt, last.ckpt\)"
    ):
        check_train_inputs(cfg)
    with pytest.raises(ConfigError, match=f"ckpt_path={checkpoints / 'last.ckpt'}"):
        TrainSettings.from_config(cfg)
    assert (checkpoints / "last.ckpt").read_bytes() == b"an earlier run's"
    # Continuing that run in its own folder is what the folder is for.
    check_train_inputs(
        compose_train(
            ["+debug=tiny", f"data.train_dir={pages}", f"ckpt_path={checkpoints / 'last.ckpt'}"],
            tmp_path / "run",
        )
    )


def save_checkpoint_at(path: Path, iteration: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"mangacolor": {"iteration": iteration}}, path)
    return path


def test_ckpt_path_last_or_a_run_folder_resolves_to_its_newest_checkpoint(
    pages, tmp_path, nothing_built
):
    run = tmp_path / "run"
    save_checkpoint_at(run / "checkpoints" / "iter_0000002.ckpt", 2)
    newest = save_checkpoint_at(run / "checkpoints" / "last.ckpt", 3)  # a stop after iteration 3
    tiny = ["+debug=tiny", f"data.train_dir={pages}"]
    assert check_train_inputs(compose_train([*tiny, "ckpt_path=last"], run)) == str(
        newest
    )  # in its own folder
    for folder in (run, run / "checkpoints"):  # from a new run folder
        assert check_train_inputs(
            compose_train([*tiny, f"ckpt_path={folder}"], tmp_path / "new")
        ) == str(newest)
    with pytest.raises(
        ConfigError, match=f"ckpt_path=last: no checkpoint in {tmp_path / 'empty' / 'checkpoints'}"
    ):
        check_train_inputs(compose_train([*tiny, "ckpt_path=last"], tmp_path / "empty"))
    with pytest.raises(ConfigError, match="ckpt_path: no checkpoint in the folder"):
        check_train_inputs(compose_train([*tiny, f"ckpt_path={pages}"], tmp_path / "new"))


SLURM_JOB = {"SLURM_JOB_ID": "4242", "SLURM_STEP_ID": "0", "SLURM_NTASKS": "8"}


def test_a_requeued_launch_continues_its_folder_and_nothing_else_takes_it_over(
    pages, tmp_path, nothing_built
):
    run = tmp_path / "run"
    record_launch(run / "checkpoints", SLURM_JOB)
    cfg = compose_train(["+debug=tiny", f"data.train_dir={pages}"], run)
    requeued = {**SLURM_JOB, "SLURM_RESTART_COUNT": "1"}
    assert (
        check_train_inputs(cfg, requeued) is None
    )  # requeued before its first checkpoint: starts afresh there
    newest = save_checkpoint_at(run / "checkpoints" / "last.ckpt", 5)
    assert check_train_inputs(cfg, requeued) == str(newest)
    for unrelated in (
        SLURM_JOB,
        {**requeued, "SLURM_JOB_ID": "777"},
        {},
    ):  # not a restart, another job, by hand
        with pytest.raises(ConfigError, match="already holds an earlier run's checkpoints"):
            check_train_inputs(cfg, unrelated)
    # Told which checkpoint to start from, a requeued job takes that one.
    other = save_checkpoint_at(tmp_path / "elsewhere" / "last.ckpt", 1)
    with pytest.raises(ConfigError, match="already holds"):
        check_train_inputs(
            compose_train(["+debug=tiny", f"data.train_dir={pages}", f"ckpt_path={other}"], run),
            requeued,
        )


def test_keep_last_and_graceful_stop_values_are_checked_as_their_callbacks_are_built(
    pages, tmp_path, nothing_built
):
    """The callbacks' own values are checked where they are built, before any page is read."""
    for override, message in [
        ("callbacks.checkpoint.keep_last=0", "keep_last must be >= 1"),
        (
            "callbacks.checkpoint.keep_every=false callbacks.checkpoint.keep_last=3",
            "keep_last needs keep_every=true",
        ),
        ("callbacks.graceful_stop.check_every=0", "check_every must be >= 1"),
        ("callbacks.graceful_stop.requeue_signal=SIGNOPE", "requeue_signal: not a signal name"),
    ]:
        cfg = compose_train(
            ["+debug=tiny", f"data.train_dir={pages}", *override.split()], tmp_path / "run"
        )
        with pytest.raises(ConfigError, match=message):
            train(TrainSettings.from_config(cfg))


def test_the_settings_carry_the_checked_sections_and_what_they_resolved(pages, tmp_path):
    run = tmp_path / "run"
    newest = save_checkpoint_at(run / "checkpoints" / "last.ckpt", 3)
    cfg = compose_train(
        [
            "+debug=tiny",
            f"data.train_dir={pages}",
            "ckpt_path=last",
            "trainer.accelerator=cpu",
            "precision=auto",
            "trainer.enable_progress_bar=false",
        ],
        run,
    )
    settings = TrainSettings.from_config(cfg)
    assert settings.ckpt_path == str(newest)  # ckpt_path=last, resolved to its file
    assert settings.precision == "32-true"  # auto, on the CPU
    assert settings.run_dir == run and settings.iterations == cfg.train.iterations
    assert settings.progress_bar is False
    assert settings.model._target_ == cfg.model._target_ and set(settings.callbacks) == set(
        cfg.callbacks
    )
    assert settings.callbacks.checkpoint.dirpath == str(
        run / "checkpoints"
    )  # interpolations still resolve
