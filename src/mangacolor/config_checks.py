"""Fail at start, naming the key, for values that would only break later."""

from __future__ import annotations

from omegaconf import DictConfig


class ConfigError(ValueError):
    pass


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise ConfigError(message)


def check_train_config(cfg: DictConfig) -> None:
    data, model = cfg.data, cfg.model
    depth = model.generator.depth
    _require(data.size > 0, f"data.size must be positive, got {data.size}")
    _require(
        data.size % 2**depth == 0,
        f"data.size ({data.size}) must be a multiple of 2**model.generator.depth ({2**depth}); "
        f"for size {data.size} try model.generator.depth={max(data.size.bit_length() - 1, 2)}",
    )
    _require(data.window >= data.size, f"data.window ({data.window}) must be at least data.size ({data.size})")
    _require(data.batch_size >= 1, f"data.batch_size must be >= 1, got {data.batch_size}")
    for key in ("lr_g", "lr_d", "lambda_l1"):
        _require(model[key] > 0, f"model.{key} must be positive, got {model[key]}")
    _require(cfg.train.iterations >= 1, f"train.iterations must be >= 1, got {cfg.train.iterations}")
    _require(cfg.train.val_every >= 1, f"train.val_every must be >= 1, got {cfg.train.val_every}")
    _require(0.0 <= model.decay_fraction <= 1.0, f"model.decay_fraction must be in [0, 1], got {model.decay_fraction}")
