"""The quiet CPU Lightning trainer the model tests fit with: no logger, checkpoints, progress bar,
model summary or validation, until stopped by the model's own iteration count (max_epochs=-1).

A helper module, not a test file: tests import it (`from helpers.trainers import cpu_trainer`).
"""

from __future__ import annotations

import lightning as L

QUIET = dict(
    accelerator="cpu",
    max_epochs=-1,
    logger=False,
    enable_checkpointing=False,
    enable_progress_bar=False,
    enable_model_summary=False,
    limit_val_batches=0,
)


def cpu_trainer(**options) -> L.Trainer:
    """A quiet CPU trainer; `options` add to or replace the settings above."""
    return L.Trainer(**{**QUIET, **options})
