"""Validation's scoring of the generator: each batch coloured without hints (val/...) and, for a
hint model, with each page's fixed draw of hints (val/hints/...), summed per input style on the
device; at the epoch's end the sums reduced over ranks and turned into the logged scalars.

Pix2Pix's validation hooks call these; the per-image metrics and the means are models/validation.py.
"""

from __future__ import annotations

from typing import Any

import torch

from mangacolor.models.validation import VAL_SUMS, add_to_sums, image_metrics, validation_scalars
from mangacolor.styles import STYLES


def new_val_sums(device: torch.device, hints: bool) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Zeroed sums for an epoch: the unhinted ones, and the hinted ones for a hint model (else
    None)."""
    sums = torch.zeros(len(STYLES), len(VAL_SUMS), device=device, dtype=torch.float64)
    return sums, torch.zeros_like(sums) if hints else None


def score_val_batch(
    model: Any, batch: dict, sums: torch.Tensor, hinted_sums: torch.Tensor | None
) -> dict | None:
    """Colour a validation batch with the model's inference generator and add its per-image
    metrics to `sums` (no hints) and, when the batch has hints, to `hinted_sums`. Returns what the
    image grid shows."""
    lightness, ab = batch["L"], batch["ab"]
    if lightness is None:
        return None
    inputs, _ = model.inputs_and_target(batch)
    fake = model.inference_generator(model.generator_input(inputs)).float()
    per_image = image_metrics(inputs, lightness, ab, *model.color_page(fake, lightness))
    add_to_sums(sums, per_image, batch.get("style"))
    if hinted_sums is not None and batch.get("hint_mask") is not None:
        hinted_input = model.generator_input(inputs, batch["hint_color"], batch["hint_mask"])
        hinted = model.inference_generator(hinted_input).float()
        per_image = image_metrics(inputs, lightness, ab, *model.color_page(hinted, lightness))
        add_to_sums(hinted_sums, per_image, batch.get("style"))
    return {"input": inputs, "L": lightness, "ab": ab, "fake": fake}


def epoch_val_scalars(
    strategy: Any, sums: torch.Tensor, hinted_sums: torch.Tensor | None
) -> dict[str, float]:
    """The epoch's validation scalars, the sums summed over every rank first: val/... and, for a
    hint model, val/hints/.... Empty when no image was scored."""
    scalars = validation_scalars(strategy.reduce(sums, reduce_op="sum"))
    if not scalars:
        return scalars
    if hinted_sums is not None:
        hinted = strategy.reduce(hinted_sums, reduce_op="sum")
        scalars.update(
            {
                f"val/hints/{k.removeprefix('val/')}": v
                for k, v in validation_scalars(hinted).items()
            }
        )
    return scalars


def log_val_monitors(model: Any, scalars: dict[str, float]) -> None:
    """Log the epoch's scalars that checkpoint selection and the progress bar read through
    Lightning's `log` (no logger: dashboards get every scalar against the iteration)."""
    # Selectable as callbacks.checkpoint.monitor: best.ckpt chosen on the hinted colouring.
    if "val/hints/delta_e_2000" in scalars:
        model.log(
            "val/hints/delta_e_2000",
            scalars["val/hints/delta_e_2000"],
            logger=False,
            sync_dist=False,
        )
    # For checkpoint selection and the progress bar; dashboards get it against the iteration.
    model.log("val/ab_l1", scalars["val/ab_l1"], prog_bar=True, logger=False, sync_dist=False)
    # Selectable too (callbacks.checkpoint.monitor): for a full-colour model ab-L1 misses
    # errors in L.
    model.log("val/delta_e_2000", scalars["val/delta_e_2000"], logger=False, sync_dist=False)
