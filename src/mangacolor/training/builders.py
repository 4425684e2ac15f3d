"""What the config names by `_target_`, built: each section with `hydra.utils.instantiate`.

Hydra wraps whatever a constructor raises in an `InstantiationException`; a `ConfigError` (a
constructor checking its own values, naming the key) is unwrapped here, so it reaches the user as
one line like every other config mistake.
"""

from __future__ import annotations

from typing import Any, TypeVar

import hydra
import lightning as L
from hydra.errors import InstantiationException
from lightning.pytorch.callbacks.progress import ProgressBar
from omegaconf import DictConfig

from mangacolor.callbacks import GracefulStop
from mangacolor.runtime.checkpoint_io import AtomicCheckpointIO
from mangacolor.runtime.config_errors import ConfigError
from mangacolor.runtime.slurm import slurm_environment
from mangacolor.training.settings import TrainSettings

T = TypeVar("T")


def build(section: DictConfig, **kwargs: Any) -> Any:
    """`hydra.utils.instantiate(section, **kwargs)`, with a constructor's ConfigError as it was."""
    try:
        return hydra.utils.instantiate(section, **kwargs)
    except InstantiationException as error:
        cause = error.__cause__
        if isinstance(cause, ConfigError):
            raise cause from None
        raise


def build_callbacks(sections: DictConfig | None, progress_bar: bool = True) -> list:
    """Every configured callback, in the config's order; without a progress bar
    (trainer.enable_progress_bar=false) no progress display at all."""
    callbacks = [build(section) for section in (sections or {}).values()]
    if not progress_bar:
        callbacks = [c for c in callbacks if not isinstance(c, ProgressBar)]
    return callbacks


def build_loggers(sections: DictConfig | None) -> list:
    return [build(section) for section in (sections or {}).values()]


def build_trainer(settings: TrainSettings, callbacks: list, loggers: list) -> L.Trainer:
    plugins: list = [AtomicCheckpointIO()]
    stop = find(callbacks, GracefulStop)
    slurm = slurm_environment(stop.requeue_signal) if stop else None
    if slurm is not None:  # Lightning's SLURM support, told which signal warns of the time limit
        plugins.append(slurm)
    return build(
        settings.trainer,
        precision=settings.precision,
        callbacks=callbacks,
        logger=loggers or False,
        plugins=plugins,
    )


def find(objects: list, kind: type[T]) -> T | None:
    """The first of `objects` that is a `kind`, or None."""
    return next((o for o in objects if isinstance(o, kind)), None)
