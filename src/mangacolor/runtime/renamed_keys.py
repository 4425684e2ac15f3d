"""Config keys that have a new name: given the old way, a command stops with one line naming it.

No silent alias: one concept has one key (issue 21), so an old key is refused, never read. It is
caught on the command line before Hydra composes (Hydra's own refusal, "Could not override", does
not say what the key is called now) and in the composed config, where an experiment file or a
`+key=` override could still carry it.
"""

from __future__ import annotations

from collections.abc import Iterable

from omegaconf import DictConfig, OmegaConf

from mangacolor.runtime.config_errors import ConfigError

# command -> {old key: new key}. bench composes train's config, so it refuses train's old keys too.
_TRAIN = {
    # Every training scalar is logged by the model every model.log_every iterations; Lightning's
    # step count, which log_every_n_steps counts in, takes two steps per iteration (D and G).
    "trainer.log_every_n_steps": "model.log_every",
}
RENAMED_KEYS: dict[str, dict[str, str]] = {
    "train": _TRAIN,
    "eval": {},
    "colorize": {"size": "short_side"},
    "bench": {**_TRAIN, "bench.colourise.overlap": "bench.colourise.tile_overlap"},
    "export": {},
    "studio": {"size": "short_side"},
}

_ABSENT = object()


def renamed_key_message(old: str, new: str) -> str:
    return f"{old} is now {new}: give {new}=... instead"


def refuse_renamed_overrides(command: str, overrides: Iterable[str]) -> None:
    """ConfigError naming the new key when a command-line override (`key=`, `+key=`, `++key=`,
    `~key`) names an old one."""
    renamed = RENAMED_KEYS[command]
    for override in overrides:
        key = override.partition("=")[0].lstrip("+~").strip()
        if key in renamed:
            raise ConfigError(renamed_key_message(key, renamed[key]))


def refuse_renamed_keys(command: str, cfg: DictConfig) -> None:
    """ConfigError naming the new key when the composed config still holds an old one."""
    for old, new in RENAMED_KEYS[command].items():
        if OmegaConf.select(cfg, old, default=_ABSENT, throw_on_missing=False) is not _ABSENT:
            raise ConfigError(renamed_key_message(old, new))
