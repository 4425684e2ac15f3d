"""The bundled Hydra configs composed as the console scripts compose them, for tests that build the
config without running the command."""

from __future__ import annotations

from pathlib import Path

from hydra import compose, initialize_config_dir
from omegaconf import DictConfig

from mangacolor.runtime.bundled import config_dir, register_resolvers


def compose_config(name: str, overrides: list[str]) -> DictConfig:
    """conf/`name`.yaml with `overrides`, its resolvers registered."""
    register_resolvers()
    with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
        return compose(name, overrides=overrides)


def compose_train(overrides: list[str], run_dir: Path) -> DictConfig:
    """mangacolor-train's config, writing into `run_dir`."""
    return compose_config("train", [f"paths.run_dir={run_dir}", *overrides])
