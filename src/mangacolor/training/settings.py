"""mangacolor-train's settings: the composed config checked once, its sections carried to `train()`.

What the config names by `_target_` (the datamodule, the model, the trainer, the callbacks, the
loggers) stays a config section here and is instantiated from it by `train()`, so every option
Hydra composes reaches its class unchanged. What is checked or resolved here is only what a run
needs settled before it starts: the values (`check_train_config`), the folders and the checkpoint
to continue from (`check_train_inputs`), and the precision the trainer runs at.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import torch
from omegaconf import DictConfig

from mangacolor.runtime.config_errors import ConfigError
from mangacolor.runtime.devices import resolve_device, resolve_precision
from mangacolor.runtime.renamed_keys import refuse_renamed_keys
from mangacolor.training.checks import check_train_config, check_train_inputs


@dataclass(frozen=True)
class TrainSettings:
    data: DictConfig  # the datamodule's section (`_target_`: PagesDataModule)
    model: DictConfig  # the LightningModule's section (`_target_`: Pix2Pix)
    trainer: DictConfig  # Lightning's Trainer, less what `train()` gives it itself
    callbacks: DictConfig | None  # one `_target_` section per callback, by name
    loggers: DictConfig | None  # one `_target_` section per logger, by name (config: `logger`)
    seed: int
    iterations: int  # train.iterations: generator updates in the whole run
    run_dir: Path  # this run's folder (paths.run_dir)
    ckpt_path: str | None  # the checkpoint file the run continues from, resolved
    precision: str  # trainer.precision with `auto` resolved for the training device
    progress_bar: bool  # trainer.enable_progress_bar; false: no progress display at all

    @classmethod
    def from_config(cls, cfg: DictConfig, environ: Mapping[str, str] = os.environ) -> TrainSettings:
        """Check `cfg` (each error a `ConfigError` naming its key) and keep what `train()` needs.

        `environ` tells a restarted launch (a requeued SLURM job, a torchrun restart) that it
        continues its own folder's checkpoints; see `check_train_inputs`.
        """
        refuse_renamed_keys("train", cfg)
        check_train_config(cfg)
        # Folders and ckpt_path exist, before any page is read or model built; ckpt_path=last, a run
        # folder, or a restarted launch's own folder becomes the checkpoint file to continue from.
        ckpt_path = check_train_inputs(cfg, environ)
        return cls(
            data=cfg.data,
            model=cfg.model,
            trainer=cfg.trainer,
            callbacks=cfg.get("callbacks"),
            loggers=cfg.get("logger"),
            seed=cfg.seed,
            iterations=cfg.train.iterations,
            run_dir=Path(cfg.paths.run_dir),
            ckpt_path=ckpt_path,
            precision=resolve_precision(cfg.trainer.precision, training_device(cfg)),
            progress_bar=bool(cfg.trainer.get("enable_progress_bar", True)),
        )


def training_device(cfg: DictConfig) -> torch.device:
    """The device Lightning will train on, as far as precision='auto' needs to know."""
    try:
        return resolve_device(cfg.trainer.accelerator)
    except ValueError as error:
        raise ConfigError(f"trainer.accelerator: {error}") from None
