"""The seed's figure, from a fixed validation batch: input L, real colour, generated colour.

Each validation writes `images/val_NNNNNNN.png` in the run folder and, with TensorBoard, an
image under `val/grid` against the iteration.
"""

from __future__ import annotations

from pathlib import Path

import torch
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.loggers import TensorBoardLogger
from torchvision.utils import make_grid, save_image

from mangacolor.color import lightness_as_rgb, scaled_lab_to_rgb


def comparison_grid(lightness: torch.Tensor, ab: torch.Tensor, fake_ab: torch.Tensor, max_images: int = 8,
                    shown_rgb=scaled_lab_to_rgb) -> torch.Tensor:
    """Three rows (input L, real, generated) of up to max_images columns, RGB in [0, 1].

    `shown_rgb` turns the generated (L, ab) into the RGB a reader sees (colourise's lightness-
    preserving gamut mapping for whole pages; plain clipping, as in validation, by default).
    """
    n = min(max_images, lightness.shape[0])
    lightness, ab, fake_ab = lightness[:n].float(), ab[:n].float(), fake_ab[:n].float()
    rows = [lightness_as_rgb(lightness), scaled_lab_to_rgb(lightness, ab), shown_rgb(lightness, fake_ab)]
    return make_grid(torch.cat(rows).cpu(), nrow=n, padding=2, pad_value=1.0)


class ValidationImageGrid(Callback):
    def __init__(self, dirpath: str, max_images: int = 8):
        self.dirpath = Path(dirpath)
        self.max_images = max_images

    def on_validation_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0) -> None:
        if batch_idx != 0 or not outputs or trainer.sanity_checking or not trainer.is_global_zero:
            return
        grid = comparison_grid(outputs["L"], outputs["ab"], outputs["fake"], self.max_images)
        iteration = pl_module.iteration
        self.dirpath.mkdir(parents=True, exist_ok=True)
        save_image(grid, self.dirpath / f"val_{iteration:07d}.png")
        for logger in trainer.loggers:
            if isinstance(logger, TensorBoardLogger):
                logger.experiment.add_image("val/grid", grid, global_step=iteration)
