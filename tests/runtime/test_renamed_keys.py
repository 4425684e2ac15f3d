"""Renamed config keys: each old key, on the command line or in the composed config, fails with one
line naming its new key; each new key is a key of its command's config and the old one is not."""

from __future__ import annotations

import pytest
from helpers.configs import compose_config
from omegaconf import OmegaConf

from mangacolor.runtime.config_errors import ConfigError
from mangacolor.runtime.renamed_keys import (
    RENAMED_KEYS,
    refuse_renamed_keys,
    refuse_renamed_overrides,
)

RENAMED = [
    (command, old, new) for command, keys in RENAMED_KEYS.items() for old, new in keys.items()
]
# Keys a test composes with (`???` values, and train's folders) beside the one it checks.
REQUIRED = {
    "train": ["data.train_dir=x"],
    "bench": [],
    "colorize": ["ckpt_path=m.pt", "input=in", "output=out"],
    "studio": ["ckpt_path=m.pt"],
}


def test_every_renamed_key_is_tested():
    assert {(command, old) for command, old, _ in RENAMED} == {
        ("train", "trainer.log_every_n_steps"),
        ("bench", "trainer.log_every_n_steps"),
        ("bench", "bench.colourise.overlap"),
        ("colorize", "size"),
        ("studio", "size"),
    }


@pytest.mark.parametrize(("command", "old", "new"), RENAMED)
@pytest.mark.parametrize("prefix", ["", "+", "++"])
def test_an_old_key_on_the_command_line_fails_naming_its_new_name(command, old, new, prefix):
    with pytest.raises(ConfigError) as error:
        refuse_renamed_overrides(command, ["a=1", f"{prefix}{old}=1"])
    message = str(error.value)
    assert message == f"{old} is now {new}: give {new}=... instead" and "\n" not in message


@pytest.mark.parametrize(("command", "old", "new"), RENAMED)
def test_the_new_key_is_in_the_config_and_the_old_key_in_a_composed_config_fails(command, old, new):
    cfg = compose_config(command, REQUIRED[command])
    assert OmegaConf.select(cfg, new, default="absent") != "absent", (
        f"{new} is not a key of {command}"
    )
    assert OmegaConf.select(cfg, old, default="absent") == "absent"
    refuse_renamed_keys(command, cfg)  # the config as shipped holds no old key
    with pytest.raises(ConfigError, match=f"^{old} is now {new}"):
        refuse_renamed_keys(command, compose_config(command, [*REQUIRED[command], f"+{old}=1"]))


def test_other_keys_and_commands_without_renames_pass():
    refuse_renamed_overrides("colorize", ["short_side=512", "tile_overlap=64", "input=size=1.png"])
    refuse_renamed_overrides("eval", ["data.size=64", "eval.short_side=512"])
    refuse_renamed_overrides("train", ["model.log_every=10", "trainer.max_steps=5"])
