"""Every config group option and experiment composes and instantiates."""

from pathlib import Path

import hydra
import pytest
import torch
from helpers.configs import compose_train
from omegaconf import OmegaConf

from mangacolor.runtime.bundled import config_dir
from mangacolor.runtime.config_errors import ConfigError
from mangacolor.runtime.instantiate import instantiate
from mangacolor.training.checks import check_train_config
from mangacolor.training.settings import training_device

EXPERIMENTS = sorted(p.stem for p in (config_dir() / "experiment").glob("*.yaml"))


def test_experiments_exist():
    assert {"demo", "seed", "manga"} <= set(EXPERIMENTS)


@pytest.mark.parametrize("group", ["trainer", "precision", "logger", "callbacks", "debug"])
def test_every_option_of_a_group_composes(group, tmp_path):
    for option in sorted(p.stem for p in (config_dir() / group).glob("*.yaml")):
        prefix = "+" if group == "debug" else ""
        cfg = compose_train([f"{prefix}{group}={option}", "data.train_dir=x"], tmp_path)
        OmegaConf.to_container(cfg, resolve=True)


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_every_experiment_composes_and_instantiates(experiment, tmp_path):
    cfg = compose_train([f"+experiment={experiment}", "data.train_dir=x"], tmp_path)
    OmegaConf.resolve(cfg)
    check_train_config(cfg)
    model = hydra.utils.instantiate(cfg.model)
    assert model.generator.multiple == cfg.data.size  # the U-Net reaches 1 x 1 at the crop size
    for logger in (cfg.logger or {}).values():
        hydra.utils.instantiate(logger)
    for callback in cfg.callbacks.values():
        hydra.utils.instantiate(callback)


def test_seed_experiment_is_the_seeds_recipe(tmp_path):
    cfg = compose_train(["+experiment=seed"], tmp_path)
    assert (cfg.data.size, cfg.data.window, cfg.data.batch_size) == (512, 1024, 1)
    assert cfg.model.generator.norm == "instance" and cfg.model.generator.dropout_blocks == 4
    assert (cfg.model.lr_d, cfg.model.lr_g, cfg.model.lambda_l1, cfg.model.d_loss_weight) == (
        2e-4,
        2e-5,
        100.0,
        0.5,
    )
    assert cfg.model.gan_mode == "vanilla" and cfg.train.iterations == 400_000
    assert cfg.model.predicts == "ab"  # L in, ab out
    assert str(cfg.trainer.precision) == "32-true"


def test_manga_experiment_is_the_gpu_recipe(tmp_path):
    cfg = compose_train(["+experiment=manga"], tmp_path)
    assert (
        cfg.trainer.precision == "bf16-mixed"
        and cfg.data.batch_size > 1
        and cfg.data.colourful_draws > 1
    )
    assert cfg.model.predicts == "lab"  # full colour, for B&W pages


def test_the_default_model_is_the_seeds_kind_and_demo_predicts_full_colour(tmp_path):
    assert compose_train([], tmp_path).model.predicts == "ab"
    assert compose_train(["+experiment=demo"], tmp_path).model.predicts == "lab"


@pytest.mark.parametrize(
    "experiment,ema_decay", [(None, None), ("seed", None), ("demo", 0.99), ("manga", 0.999)]
)
def test_the_training_tricks_are_the_studys_choice(experiment, ema_decay, tmp_path):
    """docs/quality.md: demo and manga average G's weights over the second half; the rest stays
    off. The demo trains with L1 alone (docs/hints.md: a hint model's colour is the user's to give),
    the others with the adversarial term throughout."""
    model = compose_train([f"+experiment={experiment}"] if experiment else [], tmp_path).model
    assert model.ema.decay == ema_decay and model.ema.start_fraction == (0.5 if ema_decay else 0.0)
    assert model.discriminator.spectral_norm is False
    warmup = 1.0 if experiment == "demo" else 0.0
    assert model.adversarial.warmup_fraction == warmup and model.adversarial.ramp_fraction == 0.0


def test_the_studys_demo_row_stays_the_recipe_it_measured(tmp_path):
    """The study trains its recipes over +experiment=demo; its base turns the demo's EMA and resize
    upsampling off again, so the `demo` row is the recipe it started from and the `ema_resize` row
    the one demo took."""
    study = OmegaConf.load(config_dir() / "study" / "quality.yaml")
    recipes = {recipe.name: list(recipe.overrides) for recipe in study.recipes}
    base = compose_train(list(study.base), tmp_path).model
    assert base.ema.decay is None and base.generator.upsample == "transposed"
    chosen = compose_train([*study.base, *recipes["ema_resize"]], tmp_path).model
    demo = compose_train(["+experiment=demo"], tmp_path).model
    assert OmegaConf.to_container(chosen) == OmegaConf.to_container(demo)


def test_the_cpu_experiment_is_the_studys_l1_resize_at_its_budget(tmp_path):
    """+experiment=cpu trains what the study's `l1_resize` row at 28,800 images measured: the same
    model and data settings, that many images, on the user's pages instead of the bundled ones."""
    study = OmegaConf.load(config_dir() / "study" / "quality.yaml")
    recipes = {recipe.name: list(recipe.overrides) for recipe in study.recipes}
    measured = compose_train([*study.base, *recipes["l1_resize"]], tmp_path)
    cpu = compose_train(["+experiment=cpu", "data.train_dir=x"], tmp_path)
    assert OmegaConf.to_container(measured.model) == OmegaConf.to_container(cpu.model)
    assert cpu.model.adversarial.warmup_fraction == 1.0  # L1 alone, throughout
    for key in (
        "size",
        "window",
        "batch_size",
        "input_styles",
        "printing",
        "hflip",
        "colourful_draws",
    ):
        assert (
            OmegaConf.to_container(measured.data)[key] == OmegaConf.to_container(cpu.data)[key]
        ), key
    assert cpu.train.iterations * cpu.data.batch_size == 28800
    assert cpu.callbacks.checkpoint.monitor == "val/delta_e_2000"


def test_the_seed_experiment_pins_every_trick_off_itself():
    """So that turning a trick on by default later cannot change the seed's recipe."""
    seed = OmegaConf.load(config_dir() / "experiment" / "seed.yaml").model
    assert seed.ema.decay is None and seed.discriminator.spectral_norm is False
    assert seed.generator.upsample == "transposed" and seed.reconstruction == "l1"
    assert seed.adversarial == {"warmup_fraction": 0.0, "ramp_fraction": 0.0}


@pytest.mark.parametrize("experiment", ["demo", "manga"])
def test_best_checkpoints_are_chosen_by_delta_e(experiment, tmp_path):
    assert (
        compose_train([f"+experiment={experiment}"], tmp_path).callbacks.checkpoint.monitor
        == "val/delta_e_2000"
    )


@pytest.mark.parametrize(
    "overrides,key",
    [
        (["model.ema.decay=1.5"], "model.ema.decay"),
        (["model.ema.start_fraction=1.0"], "model.ema.start_fraction"),
        (
            ["model.adversarial.warmup_fraction=0.9", "model.adversarial.ramp_fraction=0.2"],
            "model.adversarial",
        ),
        (["model.adversarial.ramp_fraction=-0.1"], "model.adversarial"),
    ],
)
def test_bad_trick_settings_are_named_by_the_model(overrides, key, tmp_path):
    """The model's rules live in its constructor (so the bench gets them too), raised as themselves
    through Hydra's instantiation."""
    with pytest.raises(ConfigError, match=key):
        instantiate(compose_train([*overrides, "data.train_dir=x"], tmp_path).model)


def test_demo_points_at_the_bundled_pages(tmp_path):
    cfg = compose_train(["+experiment=demo"], tmp_path)
    assert Path(cfg.data.train_dir).is_dir() and Path(cfg.data.val_dir).is_dir()


def test_training_device_follows_the_accelerator(tmp_path):
    assert training_device(compose_train(["trainer.accelerator=cpu"], tmp_path)).type == "cpu"
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert training_device(compose_train(["trainer.accelerator=auto"], tmp_path)).type == expected
    with pytest.raises(ConfigError, match="trainer.accelerator"):
        training_device(compose_train(["trainer.accelerator=mps"], tmp_path))


@pytest.mark.parametrize("precision", ["auto", "32-true", "bf16-mixed", "16-mixed"])
def test_precision_options_set_the_trainer(precision, tmp_path):
    cfg = compose_train([f"precision={precision}"], tmp_path)
    assert cfg.trainer.precision == precision and "precision" not in cfg
