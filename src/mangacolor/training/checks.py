"""Fail at start, naming the key, for values that would only break later.

`check_train_config` checks values (types, ranges, what the networks can take) and needs nothing
on disk, so any config composes and checks anywhere; `check_train_inputs` checks that the folders
and the checkpoint it names exist, and finds the checkpoint the run continues from.
`TrainSettings.from_config` runs both, before a page is read or a model built. The callbacks'
values are checked where they are built (`IterationCheckpoint`, `GracefulStop`), and a rule shared
with other commands where its section lives (`data.transforms.check_window`).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from mangacolor.data.print_settings import PrintSettings, style_probabilities
from mangacolor.data.transforms import check_window
from mangacolor.models.components.norms import NORMS
from mangacolor.models.losses import GAN_MODES
from mangacolor.runtime.config_errors import ConfigError, number_at, require
from mangacolor.runtime.resume import (
    checkpoint_files,
    continues_launch,
    newest_checkpoint,
)

log = logging.getLogger("mangacolor.train")

LAST = "last"  # ckpt_path=last: the newest checkpoint of this run's own folder


def check_train_config(cfg: DictConfig) -> None:
    """Every value of train's config that needs nothing on disk, each error naming its key."""
    _check_data(cfg)
    _check_training(cfg)


def _check_data(cfg: DictConfig) -> None:
    """The data section, and the crop size against what the networks can take."""
    size = number_at(cfg, "data.size")
    window = number_at(cfg, "data.window")
    depth = number_at(cfg, "model.generator.depth")
    require(size > 0, f"data.size must be positive, got {size}")
    require(depth >= 2, f"model.generator.depth must be at least 2, got {depth}")
    suggested = max((size & -size).bit_length() - 1, 2)  # the largest power of two dividing size
    require(
        size % 2**depth == 0,
        f"data.size ({size}) must be a multiple of 2**model.generator.depth ({2**depth}): "
        f"the U-Net halves it {depth} times; for size {size} try model.generator.depth={suggested}",
    )
    strided = len(OmegaConf.select(cfg, "model.discriminator.channels") or [])
    require(
        2**strided <= size,
        f"model.discriminator.channels: {strided} stride-2 layers need "
        f"data.size >= {2**strided}, got {size}",
    )
    check_window(size, window)
    for key in ("batch_size", "max_pixels", "colourful_draws"):
        value = number_at(cfg, f"data.{key}")
        require(value >= 1, f"data.{key} must be >= 1, got {value}")
    val_batch = number_at(cfg, "data.val_batch_size", optional=True)
    require(
        val_batch is None or val_batch >= 1,
        f"data.val_batch_size must be >= 1 (or null), got {val_batch}",
    )
    workers = number_at(cfg, "data.num_workers")
    require(workers >= 0, f"data.num_workers must be >= 0, got {workers}")
    fraction = number_at(cfg, "data.val_fraction", whole=False)
    require(0.0 <= fraction < 1.0, f"data.val_fraction must be in [0, 1), got {fraction}")
    style_probabilities(cfg.data.get("input_styles"))  # each raises ConfigError naming the key
    PrintSettings.from_config(cfg.data.get("printing"))


def _check_training(cfg: DictConfig) -> None:
    """The model's values, then the schedule's."""
    model = cfg.model
    for key in ("lr_g", "lr_d", "lambda_l1"):
        require(
            number_at(cfg, f"model.{key}", whole=False) > 0,
            f"model.{key} must be positive, got {model[key]}",
        )
    for key in ("beta1", "beta2"):
        require(
            0.0 <= number_at(cfg, f"model.{key}", whole=False) < 1.0,
            f"model.{key} must be in [0, 1), got {model[key]}",
        )
    require(
        model.gan_mode in GAN_MODES,
        f"model.gan_mode must be one of {', '.join(GAN_MODES)}, got {model.gan_mode!r}",
    )
    for net in ("generator", "discriminator"):
        norm = OmegaConf.select(cfg, f"model.{net}.norm", default="batch")
        require(norm in NORMS, f"model.{net}.norm must be one of {', '.join(NORMS)}, got {norm!r}")
    clip = number_at(cfg, "model.grad_clip", whole=False, optional=True)
    require(clip is None or clip > 0, f"model.grad_clip must be positive (or null), got {clip}")
    require(
        0.0 <= number_at(cfg, "model.decay_fraction", whole=False) <= 1.0,
        f"model.decay_fraction must be in [0, 1], got {model.decay_fraction}",
    )
    for key in ("log_every", "max_nonfinite"):
        value = number_at(cfg, f"model.{key}", optional=True)
        require(value is None or value >= 1, f"model.{key} must be >= 1, got {value}")

    require(
        number_at(cfg, "train.iterations") >= 1,
        f"train.iterations must be >= 1, got {cfg.train.iterations}",
    )
    require(
        number_at(cfg, "train.val_every") >= 1,
        f"train.val_every must be >= 1, got {cfg.train.val_every}",
    )


def check_train_inputs(cfg: DictConfig, environ: Mapping[str, str] = os.environ) -> str | None:
    """The page folders exist, and the checkpoint to resume from: returns its path (or None).

    `ckpt_path` is a checkpoint file, a run folder (or its checkpoints/ folder: its newest
    checkpoint), or `last` (the newest checkpoint of this run's own folder, named with
    hydra.run.dir=...). Without ckpt_path, a requeued SLURM job or a restarted torchrun launch
    continues the checkpoints of its own folder.
    """
    data = cfg.data
    require(
        data.train_dir is not None or data.data_dir is not None,
        "data.train_dir is not set: give a folder of colour pages (data.train_dir=..., and data.val_dir=...), "
        "or one folder to split (data.data_dir=...)",
    )
    for key in ("train_dir", "val_dir", "data_dir"):
        folder = data.get(key)
        if folder is None:
            continue
        path = Path(str(folder))
        require(path.exists(), f"data.{key}: folder not found: {path}")
        require(path.is_dir(), f"data.{key}: not a folder: {path}")
    ckpt_path = resolve_ckpt_path(cfg, environ)
    check_checkpoint_folder_is_free(cfg, ckpt_path)
    return ckpt_path


def _own_checkpoints(cfg: DictConfig) -> Path | None:
    folder = OmegaConf.select(cfg, "callbacks.checkpoint.dirpath", default=None)
    return Path(str(folder)) if folder is not None else None


def resolve_ckpt_path(cfg: DictConfig, environ: Mapping[str, str] = os.environ) -> str | None:
    """The checkpoint file this run starts from, as Lightning should get it (see check_train_inputs)."""
    value = cfg.get("ckpt_path")
    own = _own_checkpoints(cfg)
    if value is None:
        if own is not None and continues_launch(own, environ):
            found = newest_checkpoint(own)
            if found is not None:
                log.info("restarted launch: continuing %s from iteration %d", found[0], found[1])
                return str(found[0])
        return None
    if str(value) == LAST:
        require(
            own is not None,
            "ckpt_path=last needs callbacks.checkpoint.dirpath (the run folder's checkpoints)",
        )
        found = newest_checkpoint(own)
        require(
            found is not None,
            f"ckpt_path=last: no checkpoint in {own}; to continue an earlier run, name its "
            f"folder too: hydra.run.dir=outputs/runs/<run> ckpt_path=last",
        )
        return str(found[0])
    path = Path(str(value))
    if path.is_dir():
        folder = path / "checkpoints" if (path / "checkpoints").is_dir() else path
        found = newest_checkpoint(folder)
        require(found is not None, f"ckpt_path: no checkpoint in the folder {folder}")
        return str(found[0])
    require(path.is_file(), f"ckpt_path: checkpoint file not found: {value}")
    return str(value)


def check_checkpoint_folder_is_free(cfg: DictConfig, ckpt_path: str | None = None) -> None:
    """A run never writes its checkpoints over an earlier run's (a run folder given again with
    hydra.run.dir, or a launcher's job name used twice), unless it continues from one of them:
    `ckpt_path` (as resolved by `resolve_ckpt_path`) is in that folder."""
    folder = _own_checkpoints(cfg)
    earlier = [path.name for path in checkpoint_files(folder)] if folder is not None else []
    if not earlier:
        return
    if ckpt_path is not None and Path(str(ckpt_path)).resolve().parent == folder.resolve():
        return  # continuing that run in its own folder
    shown = ", ".join(earlier[:4]) + (", ..." if len(earlier) > 4 else "")
    raise ConfigError(
        f"the run folder's checkpoints folder {folder} already holds an earlier run's checkpoints ({shown}); "
        f"a new run would overwrite them. Continue that run with ckpt_path=last (its newest checkpoint; "
        f"or ckpt_path={folder / 'last.ckpt'}), or give this one another folder (hydra.run.dir=... or paths.output_dir=...)"
    )
