"""The seed's figure, from a fixed validation batch: the input page, real colour, generated colour.

Each validation writes `images/val_NNNNNNN.png` in the run folder and, with TensorBoard, an
image under `val/grid` against the iteration. A grid that cannot be written (disk full, read-only
folder) is skipped with a warning and training goes on: the next checkpoint write will stop
the run with the same reason if the disk stays full, and until then no work is lost.
"""

from __future__ import annotations

import logging
from pathlib import Path

from lightning.pytorch.callbacks import Callback
from lightning.pytorch.loggers import TensorBoardLogger
from torchvision.utils import save_image

from mangacolor.inference.grids import comparison_grid
from mangacolor.runtime.atomic import atomic_write
from mangacolor.runtime.disk_space import DiskWriteError

log = logging.getLogger(__name__)


class ValidationImageGrid(Callback):
    def __init__(self, dirpath: str, max_images: int = 8):
        self.dirpath = Path(dirpath)
        self.max_images = max_images

    def on_validation_batch_end(
        self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0
    ) -> None:
        if batch_idx != 0 or not outputs or trainer.sanity_checking or not trainer.is_global_zero:
            return
        grid = comparison_grid(
            outputs["L"],
            outputs["ab"],
            outputs["fake"],
            self.max_images,
            inputs=outputs.get("input"),
        )
        iteration = pl_module.iteration
        try:
            with atomic_write(
                self.dirpath / f"val_{iteration:07d}.png"
            ) as handle:  # never a half PNG
                save_image(grid, handle, format="png")
        except DiskWriteError as error:
            log.warning("validation image grid skipped: %s", error)
        for logger in trainer.loggers:
            if isinstance(logger, TensorBoardLogger):
                logger.experiment.add_image("val/grid", grid, global_step=iteration)
