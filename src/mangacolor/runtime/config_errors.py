"""The one way a command says a config value is wrong: a `ConfigError` whose message names the key.

Every command turns it into one line, `mangacolor-<command>: error: <message>`, not a traceback.
The helpers here are the only copies: settings and constructors check their values with them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from omegaconf import DictConfig, OmegaConf


class ConfigError(ValueError):
    pass


def require(condition: bool, message: str) -> None:
    """Raise ConfigError(message) unless `condition`."""
    if not condition:
        raise ConfigError(message)


def is_number(value, whole: bool = False) -> bool:
    """Whether `value` is a number (a whole one if `whole`); a bool (YAML's true) is not, although
    Python counts True as the int 1."""
    kinds = (int,) if whole else (int, float)
    return isinstance(value, kinds) and not isinstance(value, bool)


def number(value, key: str, whole: bool = True, optional: bool = False):
    """`value`, the value at `key`, which must be a number (a whole one if `whole`), or None if
    `optional`."""
    if value is None and optional:
        return None
    kind = "whole number" if whole else "number"
    require(is_number(value, whole), f"{key} must be a {kind}, got {value!r}")
    return value


def number_at(cfg: DictConfig, key: str, whole: bool = True, optional: bool = False):
    """The value at `key` in `cfg`, which must be a number (a whole one if `whole`), or None if
    `optional`."""
    return number(OmegaConf.select(cfg, key), key, whole, optional)


def whole_numbers_given(cfg: Mapping, keys: Iterable[str]) -> dict[str, int]:
    """The keys of `keys` that `cfg` gives (not None), each as an int, as a command's settings read
    them from its command line: a number or a numeric string counts, a bool (YAML's true) does not;
    ConfigError naming the key otherwise."""
    values = {}
    for key in keys:
        value = cfg.get(key)
        if value is None:
            continue
        require(not isinstance(value, bool), f"{key} must be a whole number, got {value!r}")
        try:
            values[key] = int(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{key} must be a whole number, got {value!r}") from None
    return values


def require_known(given: Mapping, known: Iterable[str], name: str) -> None:
    """Every key of the mapping at `name` is one of `known`; else ConfigError naming the others."""
    known = list(known)
    unknown = sorted(str(key) for key in given if key not in known)
    require(not unknown, f"{name}: unknown key(s) {', '.join(unknown)}; known: {', '.join(known)}")
