"""mangacolor-train: compose the Hydra config, build data, model and trainer, fit, summarise."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

import hydra
import lightning as L
import torch
from omegaconf import DictConfig

from mangacolor.callbacks import TrainingMonitor
from mangacolor.commands.train_checks import check_train_config, check_train_inputs
from mangacolor.commands.user_errors import exit_on_user_error
from mangacolor.models.nonfinite import NonFiniteLoss
from mangacolor.runtime.bundled import config_dir, register_resolvers
from mangacolor.runtime.checkpoint_io import AtomicCheckpointIO
from mangacolor.runtime.config_errors import ConfigError
from mangacolor.runtime.devices import resolve_device, resolve_precision

log = logging.getLogger("mangacolor.train")

def training_device(cfg: DictConfig) -> torch.device:
    """The device Lightning will train on, as far as precision='auto' needs to know."""
    try:
        return resolve_device(cfg.trainer.accelerator)
    except ValueError as error:
        raise ConfigError(f"trainer.accelerator: {error}") from None


def build_trainer(cfg: DictConfig, callbacks: list, loggers: list) -> L.Trainer:
    return hydra.utils.instantiate(
        cfg.trainer,
        precision=resolve_precision(cfg.trainer.precision, training_device(cfg)),
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
    """One line: iterations, speed, then quality led by val dE00 against grey (lower is better),
    dE00 against the B&W page on B&W inputs, the colourfulness ratio, ab-L1 and PSNR."""
    speed = f", {monitor.images_per_second:.1f} img/s" if monitor and monitor.images_per_second else ""
    quality = ""
    if "val/delta_e_2000" in results:
        delta_e = delta_e_label()

        def versus(value: float, baseline: float, name: str) -> str:
            verdict = "better" if value < baseline else "NOT better"
            return f"{value:.2f} vs {name} {baseline:.2f} ({verdict} than {name})"

        parts = [f"val {delta_e} {versus(results['val/delta_e_2000'], results['val/grey_delta_e_2000'], 'grey')}"]
        if "val/bw_inputs/delta_e_2000" in results:  # the same images: those whose input is a B&W page
            bw = versus(results["val/bw_inputs/delta_e_2000"], results["val/bw_delta_e_2000"], "the B&W page")
            parts.append(f"on B&W inputs {delta_e} {bw}")
        parts.append(f"colourfulness {results['val/colourfulness_ratio']:.2f} of the truth's (grey 0)")
        parts.append(f"ab-L1 {results['val/ab_l1']:.2f} vs grey {results['val/grey_ab_l1']:.2f} (Lab units), "
                     f"PSNR {results['val/psnr']:.2f} vs {results['val/grey_psnr']:.2f} dB")
        quality = "; " + "; ".join(parts)
    bad = f"; {results['bad_files']} unreadable pages skipped" if results["bad_files"] else ""
    return (f"mangacolor-train: {results['iteration']} iterations{speed}{quality}{bad}. "
            f"Run folder {run_dir} (checkpoints/, images/); dashboards: tensorboard --logdir {run_dir}")


def delta_e_label() -> str:
    """The label "ΔE00", or "dE00" where standard output cannot encode the Greek letter (a Latin-1 terminal)."""
    try:
        "Δ".encode(getattr(sys.stdout, "encoding", None) or "ascii")
    except (UnicodeEncodeError, LookupError):
        return "dE00"
    return "ΔE00"


def main() -> None:
    register_resolvers()

    @hydra.main(config_path=str(config_dir()), config_name="train", version_base="1.3")
    def _main(cfg: DictConfig) -> float | None:
        with exit_on_user_error("mangacolor-train", NonFiniteLoss):
            results = train(cfg)
        return results.get("val/ab_l1")  # for sweepers that optimise

    _main()


if __name__ == "__main__":
    main()
