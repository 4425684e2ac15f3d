"""`train(settings)`: build what the config names, fit, say how it ended, return the scalars."""

from __future__ import annotations

from typing import Any

import lightning as L
import torch

from mangacolor.training.builders import build, build_callbacks, build_loggers, build_trainer
from mangacolor.training.ending import explained_failures, run_results, say_how_it_ended
from mangacolor.training.settings import TrainSettings


def train(settings: TrainSettings) -> dict[str, Any]:
    """Train as configured; returns the final training and validation scalars.

    A run stopped by a signal (see `GracefulStop`) returns too, with `stopped_by` set to the
    signal's number, after saving and printing where it stopped and how to resume.
    """
    L.seed_everything(settings.seed, workers=True)
    torch.set_float32_matmul_precision("high")
    # The callbacks check their own values as they are built: before any page is read.
    callbacks = build_callbacks(settings.callbacks, settings.progress_bar)
    datamodule = build(settings.data)
    datamodule.setup("fit")  # an empty or unreadable folder fails here, before any model is built
    model = build(settings.model)
    trainer = build_trainer(settings, callbacks, build_loggers(settings.loggers))
    with explained_failures(trainer, callbacks, model, settings.run_dir):
        trainer.fit(model, datamodule=datamodule, ckpt_path=settings.ckpt_path)
    results = run_results(model, datamodule, callbacks, settings.run_dir)
    say_how_it_ended(trainer, callbacks, results, settings.iterations, settings.run_dir)
    return results
