"""The model's rules: the values of the config's `model` section that only the model knows, checked
once, here, with a `ConfigError` naming the key.

`Pix2Pix.__init__` calls these, so whoever builds the model -- mangacolor-train, the bench, a test
-- gets the same rules; train's start-up checks (`check_train_config`) keep only what crosses
sections. Defaults of the training tricks are each off (docs/training.md, "Training tricks").
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mangacolor.hints.raster import hint_channels
from mangacolor.models.components import OUTPUT_CHANNELS
from mangacolor.models.losses import RECONSTRUCTIONS
from mangacolor.runtime.config_errors import ConfigError, number, require, require_known

EMA_DEFAULTS = {"decay": None, "start_fraction": 0.0}
ADVERSARIAL_DEFAULTS = {"warmup_fraction": 0.0, "ramp_fraction": 0.0}


def output_channels(predicts: str, generator: Mapping[str, Any]) -> int:
    """The generator's output channels for `model.predicts`, which `model.generator` may not
    contradict."""
    require(
        predicts in OUTPUT_CHANNELS,
        f"model.predicts must be one of {', '.join(OUTPUT_CHANNELS)}, got {predicts!r}",
    )
    channels = OUTPUT_CHANNELS[predicts]
    require(
        generator.get("out_channels", channels) == channels,
        f"model.generator.out_channels={generator.get('out_channels')} contradicts "
        f"model.predicts={predicts} ({channels} channels); set model.predicts alone",
    )
    return channels


def require_positive(**values: float) -> None:
    """Each of model.<name> is a positive number (iterations and log_every whole ones)."""
    for name, value in values.items():
        whole = name in ("iterations", "log_every")
        require(
            number(value, f"model.{name}", whole=whole) > 0,
            f"model.{name} must be positive, got {value}",
        )


def require_reconstruction(reconstruction: str) -> None:
    require(
        reconstruction in RECONSTRUCTIONS,
        f"model.reconstruction must be one of {', '.join(RECONSTRUCTIONS)}, got {reconstruction!r}",
    )


def trick_options(
    name: str, given: Mapping[str, Any] | None, defaults: dict[str, Any]
) -> dict[str, Any]:
    """`given` (the config's model.<name>) over `defaults`; a key that is not one of them is
    named."""
    given = dict(given or {})
    require_known(given, defaults, f"model.{name}")
    return {**defaults, **given}


def ema_options(given: Mapping[str, Any] | None) -> dict[str, Any]:
    """model.ema with its defaults: decay in (0, 1), or None for no average; start_fraction in [0,
    1)."""
    ema = trick_options("ema", given, EMA_DEFAULTS)
    decay = number(ema["decay"], "model.ema.decay", whole=False, optional=True)
    require(
        decay is None or 0.0 < decay < 1.0,
        f"model.ema.decay must be in (0, 1) (or null: no average), got {decay}",
    )
    start = number(ema["start_fraction"], "model.ema.start_fraction", whole=False)
    require(0.0 <= start < 1.0, f"model.ema.start_fraction must be in [0, 1), got {start}")
    return ema


def adversarial_options(given: Mapping[str, Any] | None) -> dict[str, Any]:
    """model.adversarial with its defaults: warmup_fraction and ramp_fraction >= 0, together <=
    1."""
    adversarial = trick_options("adversarial", given, ADVERSARIAL_DEFAULTS)
    warmup, ramp = (
        number(adversarial[key], f"model.adversarial.{key}", whole=False)
        for key in ADVERSARIAL_DEFAULTS
    )
    require(
        warmup >= 0 and ramp >= 0 and warmup + ramp <= 1,
        f"model.adversarial: warmup_fraction ({warmup}) and ramp_fraction ({ramp}) must be >= 0 "
        f"and add up to at most 1",
    )
    return adversarial


def check_resumable(
    saved: Mapping[str, Any], predicts: str, discriminator: Mapping[str, Any], hints: bool = False
) -> None:
    """A checkpoint's hyper-parameters (`saved`) fit this run's model: the same model.predicts,
    model.hints and discriminator.spectral_norm. A checkpoint without `predicts` (written before the
    option) is ab; one without `hints` or `discriminator.spectral_norm` had none."""
    had_hints = bool(saved.get("hints", False))
    require(
        had_hints == bool(hints),
        f"ckpt_path: that run's generator was trained with model.hints={str(had_hints).lower()}; "
        f"resume it with model.hints={str(had_hints).lower()}",
    )
    was = saved.get("predicts", "ab")
    require(
        was == predicts,
        f"ckpt_path: that run's generator predicts {was}, but model.predicts={predicts}; "
        f"resume it with model.predicts={was}",
    )
    norm = bool((saved.get("discriminator") or {}).get("spectral_norm", False))
    shown = str(norm).lower()
    require(
        norm == bool(discriminator.get("spectral_norm", False)),
        f"ckpt_path: that run's discriminator has spectral_norm={shown}; "
        f"resume it with model.discriminator.spectral_norm={shown}",
    )


def generator_config(
    generator: dict[str, Any], out_channels: int, predicts: str, hints: bool
) -> dict[str, Any]:
    """The U-Net's constructor arguments: the configured ones with the output channels `predicts`
    gives and, for a hint model, the page's channels plus the hint channels as its input."""
    config = {**generator, "out_channels": out_channels}
    if generator.get("hint_spread") and not hints:
        raise ConfigError(
            "model.generator.hint_spread carries hint colours: it needs model.hints=true"
        )
    if hints:
        config["in_channels"] = generator.get("in_channels", 1) + hint_channels(predicts)
    return config
