"""Tiny generators (an ab one and a full-colour one), their generator.pt and their exports, made once
per session: an export traces and translates the network, which takes seconds even when tiny."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from mangacolor.inference.generator_file import export_generator
from mangacolor.models.components import UNetGenerator

TINY = dict(depth=4, width=8, max_width=16)
CHANNELS = {"ab": 2, "lab": 3}


@pytest.fixture(scope="session")
def generator_files(tmp_path_factory) -> dict[str, Path]:
    """predicts -> a generator.pt whose head is scaled up, so it predicts strong colour."""
    files = {}
    for predicts, channels in CHANNELS.items():
        torch.manual_seed(channels)
        generator = UNetGenerator(**TINY, out_channels=channels)
        with torch.no_grad():
            generator.head[0].weight.mul_(30.0)
            generator.head[0].bias.fill_(0.2)
        folder = tmp_path_factory.mktemp(f"generator_{predicts}")
        files[predicts] = export_generator(
            generator, TINY, folder / "generator.pt", training_size=64
        )
    return files


@pytest.fixture(scope="session")
def exports(generator_files):
    """(format, predicts) -> the ExportSummary of that export, made on first use."""
    from mangacolor.export.exporter import export
    from mangacolor.export.settings import ExportSettings

    made = {}

    def get(model_format: str, predicts: str):
        if (model_format, predicts) not in made:
            made[model_format, predicts] = export(
                ExportSettings(generator_files[predicts], model_format)
            )
        return made[model_format, predicts]

    return get
