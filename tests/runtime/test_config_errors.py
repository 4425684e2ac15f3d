"""The shared config-value helpers: every settings module and constructor checks with these."""

from __future__ import annotations

import re

import pytest
from omegaconf import OmegaConf

from mangacolor.runtime.config_errors import (
    ConfigError,
    is_number,
    number,
    number_at,
    require_known,
)


def test_a_number_is_not_a_bool_and_a_whole_one_is_an_int():
    assert is_number(3) and is_number(0.5) and is_number(3, whole=True)
    assert not is_number(True) and not is_number("3") and not is_number(0.5, whole=True)


def test_number_names_the_key_and_lets_an_optional_one_be_missing():
    assert number(0.5, "model.ema.decay", whole=False) == 0.5
    assert number(None, "model.ema.decay", whole=False, optional=True) is None
    with pytest.raises(ConfigError, match="model.ema.decay must be a number, got 'high'"):
        number("high", "model.ema.decay", whole=False)
    with pytest.raises(ConfigError, match="data.size must be a whole number, got 1.5"):
        number_at(OmegaConf.create({"data": {"size": 1.5}}), "data.size")


def test_unknown_keys_are_named_with_the_known_ones():
    require_known({"decay": 0.9}, ("decay", "start_fraction"), "model.ema")
    with pytest.raises(
        ConfigError, match=r"model.ema: unknown key\(s\) warmup; known: decay, start_fraction"
    ):
        require_known({"decay": 0.9, "warmup": 3}, ("decay", "start_fraction"), "model.ema")


def test_whole_numbers_given_reads_what_a_command_line_gives_and_names_a_bad_key():
    from mangacolor.runtime.config_errors import whole_numbers_given

    given = {"tile": "512", "port": 8765, "threads": None, "other": "x"}
    assert whole_numbers_given(given, ("tile", "port", "threads")) == {"tile": 512, "port": 8765}
    for bad in (True, "abc", [1]):
        with pytest.raises(
            ConfigError, match=re.escape(f"tile must be a whole number, got {bad!r}")
        ):
            whole_numbers_given({"tile": bad}, ("tile",))
