"""A rule checked in a constructor reaches the command as the ConfigError it is, not Hydra's
wrapper."""

from __future__ import annotations

import pytest
from hydra.errors import InstantiationException
from omegaconf import OmegaConf

from mangacolor.runtime.config_errors import ConfigError
from mangacolor.runtime.instantiate import instantiate


class Strict:
    def __init__(self, decay: float):
        if not 0 < decay < 1:
            raise ConfigError(f"model.ema.decay must be in (0, 1), got {decay}")
        self.decay = decay


class Broken:
    def __init__(self):
        raise RuntimeError("a bug, not the user's mistake")


def test_a_constructors_config_error_is_raised_as_itself():
    target = f"{__name__}.Strict"
    assert instantiate(OmegaConf.create({"_target_": target, "decay": 0.5})).decay == 0.5
    assert (
        instantiate(OmegaConf.create({"_target_": target, "decay": 0.5}), decay=0.25).decay == 0.25
    )
    with pytest.raises(ConfigError, match=r"model.ema.decay must be in \(0, 1\), got 1.5"):
        instantiate(OmegaConf.create({"_target_": target, "decay": 1.5}))


def test_any_other_failure_keeps_hydras_wrapper():
    with pytest.raises(InstantiationException):
        instantiate(OmegaConf.create({"_target_": f"{__name__}.Broken"}))
