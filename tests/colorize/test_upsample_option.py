"""mangacolor-colorize upsample=: bilinear stays the default (the old path, pinned by the exact
colouring tests), guided reaches PageColorizer, a bad value names the key."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from helpers.colorize_pages import load, page, strong_color_generator
from hydra import compose, initialize_config_dir

from mangacolor.colorize.job import colorize
from mangacolor.colorize.settings import ColorizeSettings
from mangacolor.inference.generator_file import load_generator
from mangacolor.inference.page_colorizer import PageColorizer
from mangacolor.runtime.bundled import config_dir
from mangacolor.runtime.config_errors import ConfigError

BASE = ["ckpt_path=m.pt", "input=in", "output=out"]


@pytest.fixture(scope="module")
def generator_path(tmp_path_factory) -> Path:
    return strong_color_generator(tmp_path_factory.mktemp("model"))


def settings_from(*overrides: str) -> ColorizeSettings:
    with initialize_config_dir(str(config_dir()), version_base="1.3"):
        return ColorizeSettings.from_config(compose("colorize", overrides=[*BASE, *overrides]))


def test_bilinear_is_the_default_and_guided_is_read_from_the_config():
    assert settings_from().upsample == "bilinear"
    assert settings_from("upsample=guided").upsample == "guided"
    with pytest.raises(ConfigError, match="upsample must be one of bilinear, guided, got 'near"):
        settings_from("upsample=nearest")


@pytest.mark.parametrize("upsample", ["bilinear", "guided"])
def test_the_job_colours_as_page_colorizer_does_with_that_upsampling(
    generator_path, tmp_path, upsample
):
    source = page(tmp_path / "p.png", 96, 80, seed=3)
    summary = colorize(
        ColorizeSettings(
            generator_path,
            source,
            tmp_path / upsample,
            short_side=32,
            upsample=upsample,
            progress=False,
            precision="32-true",
            device="cpu",
        ),
        say=lambda message: None,
    )
    assert (f"upsample {upsample}" in summary.line()) == (upsample == "guided")
    generator, _ = load_generator(generator_path)
    colorizer = PageColorizer(generator, 32, precision="32-true", upsample=upsample)
    rgb = torch.from_numpy(np.asarray(load(source).convert("RGB")).copy()).permute(2, 0, 1)
    expected = colorizer.color([rgb])[0].permute(1, 2, 0).numpy().astype(int)
    got = np.asarray(load(tmp_path / upsample / "p.png").convert("RGB")).astype(int)
    assert np.abs(got - expected).max() <= 1
    if upsample == "guided":
        bilinear = PageColorizer(generator, 32, precision="32-true").color([rgb])[0]
        assert np.abs(got - bilinear.permute(1, 2, 0).numpy().astype(int)).max() > 0
