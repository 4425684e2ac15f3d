"""mangacolor-train: compose the Hydra config, build data, model and trainer, fit, summarise."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import hydra
import lightning as L
import torch
from omegaconf import DictConfig, OmegaConf

from mangacolor.callbacks import TrainingMonitor
from mangacolor.checkpoint_io import AtomicCheckpointIO, UnsafeCheckpoint
from mangacolor.config_checks import ConfigError, check_train_config, check_train_inputs
from mangacolor.data.files import printable
from mangacolor.inference import resolve_precision
from mangacolor.models.nonfinite import NonFiniteLoss
from mangacolor.resources import config_dir, register_resolvers

log = logging.getLogger("mangacolor.train")

# Errors about the user's config, data or checkpoint, each with a message naming what is wrong.
USER_ERRORS = (ConfigError, FileNotFoundError, UnsafeCheckpoint, NonFiniteLoss)


def training_device(accelerator: str) -> torch.device:
    """The device Lightning will train on, as far as precision='auto' needs to know."""
    on_gpu = torch.cuda.is_available() and str(accelerator) in ("auto", "gpu", "cuda")
    return torch.device("cuda" if on_gpu else "cpu")


def build_trainer(cfg: DictConfig, callbacks: list, loggers: list) -> L.Trainer:
    return hydra.utils.instantiate(
        cfg.trainer,
        precision=resolve_precision(cfg.trainer.precision, training_device(cfg.trainer.accelerator)),
        callbacks=callbacks,
        logger=loggers or False,
        plugins=[AtomicCheckpointIO()],
    )


def train(cfg: DictConfig) -> dict[str, Any]:
    """Train as configured; returns the final training and validation scalars."""
    check_train_config(cfg)
    check_train_inputs(cfg)  # folders and ckpt_path exist: before any page is read or model built
    L.seed_everything(cfg.seed, workers=True)
    torch.set_float32_matmul_precision("high")
    datamodule = hydra.utils.instantiate(cfg.data)
    datamodule.setup("fit")  # an empty or unreadable folder fails here, before any model is built
    model = hydra.utils.instantiate(cfg.model)
    callbacks = [hydra.utils.instantiate(c) for c in (cfg.get("callbacks") or {}).values()]
    loggers = [hydra.utils.instantiate(c) for c in (cfg.get("logger") or {}).values()]
    trainer = build_trainer(cfg, callbacks, loggers)
    trainer.fit(model, datamodule=datamodule, ckpt_path=cfg.get("ckpt_path"))

    monitor = next((c for c in callbacks if isinstance(c, TrainingMonitor)), None)
    bad_files = monitor.bad_files if monitor else datamodule.bad_files  # the monitor's holds every rank's
    results = {"iteration": model.iteration, **model.last_train_scalars, **model.last_val_scalars,
               "bad_files": len(bad_files), "run_dir": str(cfg.paths.run_dir)}
    if trainer.is_global_zero:
        print(summary_line(results, monitor, Path(cfg.paths.run_dir)), flush=True)
    return results


def summary_line(results: dict[str, Any], monitor: TrainingMonitor | None, run_dir: Path) -> str:
    speed = f", {monitor.images_per_second:.1f} img/s" if monitor and monitor.images_per_second else ""
    quality = ""
    if "val/ab_l1" in results:
        verdict = "better" if results["val/ab_l1"] < results["val/grey_ab_l1"] else "NOT better"
        quality = (f"; val ab-L1 {results['val/ab_l1']:.2f} vs grey baseline "
                   f"{results['val/grey_ab_l1']:.2f} (Lab units, {verdict} than grey), "
                   f"PSNR {results['val/psnr']:.2f} vs {results['val/grey_psnr']:.2f} dB")
    bad = f"; {results['bad_files']} unreadable pages skipped" if results["bad_files"] else ""
    return (f"mangacolor-train: {results['iteration']} iterations{speed}{quality}{bad}. "
            f"Run folder {run_dir} (checkpoints/, images/); dashboards: tensorboard --logdir {run_dir}")


def main() -> None:
    register_resolvers()

    @hydra.main(config_path=str(config_dir()), config_name="train", version_base="1.3")
    def _main(cfg: DictConfig) -> float | None:
        try:
            results = train(cfg)
        except USER_ERRORS as error:  # a clear line, not a traceback: the message says what to change
            raise SystemExit(f"mangacolor-train: error: {printable(str(error))}") from None
        return results.get("val/ab_l1")  # for sweepers that optimise

    _main()


if __name__ == "__main__":
    main()
