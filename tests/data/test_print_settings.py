"""The print settings: the config's `data.printing` and `data.input_styles`, checked, each error
naming its key; the code's defaults are the config's."""

from __future__ import annotations

import pytest

from mangacolor.data.print_settings import PrintSettings, style_probabilities
from mangacolor.runtime.config_errors import ConfigError
from mangacolor.styles import STYLES


def test_bad_style_settings_are_named():
    with pytest.raises(ConfigError, match=r"data.input_styles: unknown key\(s\) sepia"):
        style_probabilities({"plain": 1.0, "sepia": 1.0})
    with pytest.raises(ConfigError, match="data.input_styles.lines must be a number >= 0"):
        style_probabilities({"lines": -1})
    with pytest.raises(ConfigError, match=r"data.printing.screentone.period must lie in"):
        PrintSettings.from_config({"screentone": {"period": [0, 2]}})
    with pytest.raises(ConfigError, match="data.printing.scan.jpeg must be a number in"):
        PrintSettings.from_config({"scan": {"jpeg": 2}})
    with pytest.raises(ConfigError, match="data.printing.tone: black"):
        PrintSettings.from_config({"tone": {"black": [0.1, 0.9]}})
    with pytest.raises(ConfigError, match=r"data.printing: unknown key\(s\) colour"):
        PrintSettings.from_config({"colour": {}})
    assert PrintSettings.from_config({"screentone": {"period": [3, 3]}}).screentone.period == (
        3.0,
        3.0,
    )


# ---- configs -------------------------------------------------------------------------------------
def compose(overrides: list[str]):
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    from mangacolor.runtime.bundled import config_dir, register_resolvers

    register_resolvers()
    with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
        return hydra_compose("train", overrides=["paths.run_dir=/tmp/unused", *overrides])


def test_defaults_and_the_seed_experiment_are_plain_only():
    from omegaconf import OmegaConf

    for overrides in ([], ["+experiment=seed"]):
        assert style_probabilities(
            OmegaConf.to_container(compose(overrides).data.input_styles)
        ) == {"plain": 1.0}
    for experiment in ("demo", "manga"):
        styles = style_probabilities(
            OmegaConf.to_container(compose([f"+experiment={experiment}"]).data.input_styles)
        )
        assert set(styles) == set(STYLES) and styles["plain"] > 0


def test_the_configs_ranges_are_the_codes_defaults():
    """print_page without a config (eval, scripts) prints as training does."""
    from omegaconf import OmegaConf

    printing = OmegaConf.to_container(compose([]).data.printing)
    assert PrintSettings.from_config(printing) == PrintSettings()
