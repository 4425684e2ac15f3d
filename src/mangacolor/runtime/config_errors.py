"""The one way a command says a config value is wrong: a `ConfigError` whose message names the key.

Every command turns it into one line, `mangacolor-<command>: error: <message>`, not a traceback.
"""

from __future__ import annotations

from omegaconf import DictConfig, OmegaConf


class ConfigError(ValueError):
    pass


def require(condition: bool, message: str) -> None:
    """Raise ConfigError(message) unless `condition`."""
    if not condition:
        raise ConfigError(message)


def number_at(cfg: DictConfig, key: str, whole: bool = True, optional: bool = False):
    """The value at `key`, which must be a number (a whole one if `whole`), or None if `optional`."""
    value = OmegaConf.select(cfg, key)
    if value is None and optional:
        return None
    kinds = (int,) if whole else (int, float)
    require(isinstance(value, kinds) and not isinstance(value, bool),
            f"{key} must be a {'whole number' if whole else 'number'}, got {value!r}")
    return value
