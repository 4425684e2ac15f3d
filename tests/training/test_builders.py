"""Building what the config names: a constructor's ConfigError reaches the user as it was."""

from __future__ import annotations

import pytest
from hydra.errors import InstantiationException
from omegaconf import OmegaConf

from mangacolor.callbacks import GracefulStop, IterationProgress
from mangacolor.runtime.config_errors import ConfigError
from mangacolor.training.builders import build, build_callbacks, find
from mangacolor.training.ending import after_disk_error


def test_a_constructors_config_error_is_not_wrapped_by_hydra():
    section = OmegaConf.create({"_target_": "mangacolor.callbacks.GracefulStop", "check_every": 0})
    with pytest.raises(ConfigError, match="callbacks.graceful_stop.check_every must be >= 1"):
        build(section)
    other = OmegaConf.create(
        {"_target_": "mangacolor.callbacks.IterationProgress", "mode": "sideways"}
    )
    with pytest.raises(InstantiationException):  # any other failure keeps Hydra's message and cause
        build(other)


def test_callbacks_are_built_in_order_and_without_a_progress_bar_there_is_no_progress_display():
    sections = OmegaConf.create(
        {
            "stop": {"_target_": "mangacolor.callbacks.GracefulStop"},
            "progress": {"_target_": "mangacolor.callbacks.IterationProgress"},
        }
    )
    callbacks = build_callbacks(sections)
    assert [type(c) for c in callbacks] == [GracefulStop, IterationProgress]
    assert find(callbacks, IterationProgress) is callbacks[1]
    assert [type(c) for c in build_callbacks(sections, progress_bar=False)] == [GracefulStop]
    assert build_callbacks(None) == []


def test_after_a_full_disk_the_advice_depends_on_what_was_saved(tmp_path):
    assert (
        after_disk_error(False, tmp_path)
        == "Free some space (or set paths.output_dir to another disk) and start again"
    )
    assert after_disk_error(True, tmp_path).startswith(
        "Free some space there and continue from the newest checkpoint with: mangacolor-train "
    )
