"""The evaluation loop: every page of a folder, scored for the model and each baseline.

Pages are decoded in DataLoader workers by the data code; unreadable ones are skipped, counted
and listed, never fatal. A progress bar shows pages done and the model's running dE00 (plain lines
when stderr is not a terminal: `mangacolor.runtime.progress`).

The model predicts as the mode's images are used: a crop goes straight through the generator, as
in training validation (a full-colour generator's crop is scored with its predicted L); a whole
page goes through mangacolor-colorize's `PageColorizer` (working resolution, tiles, ab brought
back to the page's full-resolution L).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from mangacolor.data.files import find_images, printable
from mangacolor.data.pages import page_loader
from mangacolor.data.transforms import PageCropper
from mangacolor.evaluation.extremes import ExtremeImages
from mangacolor.evaluation.scoring import (
    METRICS,
    SHOWN_RGB,
    Truth,
    constant_ab,
    score_prediction,
)
from mangacolor.evaluation.settings import EvalSettings
from mangacolor.evaluation.views import scored_views
from mangacolor.inference.page_colorizer import PageColorizer
from mangacolor.inference.prediction import predict
from mangacolor.metrics import colorfulness
from mangacolor.runtime.progress import Progress

log = logging.getLogger(__name__)


@dataclass
class EvalResult:
    # One dict per scored image, in path order: path, height, width (of the page), truth_colourfulness,
    # and "<predictor>/<metric>" for each predictor (model, grey, mean_ab) and metric.
    records: list[dict] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)
    extremes: ExtremeImages | None = None
    seconds: float = 0.0


def list_test_pages(folder: Path, limit: int | None) -> tuple[list[Path], list[tuple[str, str]]]:
    """The first `limit` image files under `folder`, and the entries that cannot be pages at all
    (directories named x.jpg, pipes, links leaving the folder) with their reasons."""
    unusable: dict[str, str] = {}
    paths = find_images(folder, skipped=unusable)[:limit]
    if not paths:
        raise FileNotFoundError(f"no image files found under {folder}")
    return paths, sorted(unusable.items())


# scaled L (n, 1, h, w) -> scaled ab (n, 2, h, w), or scaled (L, a, b) (n, 3, h, w) from a full-colour crop
ModelPrediction = Callable[[torch.Tensor], torch.Tensor]


def model_prediction(generator: nn.Module, settings: EvalSettings) -> ModelPrediction:
    """How the generator predicts in settings.mode: crops as validation does, pages as colourising does."""
    if settings.mode == "crop":
        return lambda lightness: predict(generator, lightness, settings.precision)
    colorizer = PageColorizer(generator, settings.short_side, batch_size=settings.batch_size,
                                device=settings.device, precision=settings.precision)
    return lambda lightness: torch.cat(colorizer.predict_pages_ab(list(lightness.split(1))))


def score_group(
    predict: ModelPrediction, rgb: torch.Tensor, baselines: dict[str, torch.Tensor],
    shown_rgb: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] = SHOWN_RGB["crop"],
) -> tuple[dict[str, list[float]], Truth, torch.Tensor]:
    """A group of same-size RGB images -> (per-image columns, the truth, the model's prediction)."""
    truth = Truth.from_rgb(rgb)
    fake = predict(truth.lightness)
    predictions = {"model": fake, "grey": torch.zeros_like(truth.ab)}
    predictions.update({name: constant_ab(ab, truth.ab) for name, ab in baselines.items()})
    columns = {"truth_colourfulness": colorfulness(truth.rgb)}
    for predictor, prediction in predictions.items():
        for metric, values in score_prediction(truth, prediction, shown_rgb).items():
            columns[f"{predictor}/{metric}"] = values
    # One transfer per group: the loop never waits on the device image by image.
    names = list(columns)
    stacked = torch.stack([columns[name].float() for name in names]).cpu().tolist()
    return dict(zip(names, stacked)), truth, fake


def score_batch(
    batch: dict, predict: ModelPrediction, settings: EvalSettings, cropper: PageCropper | None,
    baselines: dict[str, torch.Tensor], extremes: ExtremeImages,
) -> list[dict]:
    """The readable pages of one collated batch -> their rows, in the batch's order.

    `baselines` must already be on settings.device.
    """
    device = torch.device(settings.device)
    pages = batch["pages"].to(device, non_blocking=True)
    sizes = batch["sizes"]  # stays on the CPU: it is read as numbers
    heights_widths = sizes.tolist()
    rows: list[dict] = [{} for _ in batch["paths"]]
    for rgb, indices in scored_views(pages, sizes, settings.mode, cropper):
        columns, truth, fake = score_group(predict, rgb, baselines, SHOWN_RGB[settings.mode])
        group_paths = [batch["paths"][i] for i in indices]
        for position, index in enumerate(indices):
            height, width = heights_widths[index]
            rows[index] = {"path": group_paths[position], "height": height, "width": width,
                           **{name: values[position] for name, values in columns.items()}}
        extremes.add(columns[f"model/{settings.rank_by}"], group_paths, truth.lightness, truth.ab, fake)
    return rows


@torch.inference_mode()
def evaluate_pages(
    generator: nn.Module, paths: list[Path], settings: EvalSettings,
    baselines: dict[str, torch.Tensor] | None = None,
) -> EvalResult:
    """Score `paths` for the generator (on settings.device, eval mode), grey, and `baselines`
    (each a scaled (a, b) of shape (2,), on any device)."""
    device = torch.device(settings.device)
    baselines = {name: ab.to(device, torch.float32) for name, ab in (baselines or {}).items()}  # once, not per group
    predict = model_prediction(generator, settings)
    cropper = PageCropper(settings.size, settings.window, hflip=False) if settings.mode == "crop" else None
    rank_metric = next(metric for metric in METRICS if metric.name == settings.rank_by)
    result = EvalResult(extremes=ExtremeImages(
        settings.grid_images, rank_metric.higher_is_better,
        fit_side=settings.grid_side if settings.mode == "page" else None, shown_rgb=SHOWN_RGB[settings.mode],
    ))
    started = time.perf_counter()
    bar = Progress(len(paths), "mangacolor-eval", "img", mode="auto" if settings.progress else "off")
    delta_e_sum = 0.0
    for batch in page_loader(paths, settings.batch_size, settings.num_workers, settings.max_pixels):
        for path, reason in batch["bad"]:
            log.warning("skipped unreadable image %s: %s", printable(path), reason)
        result.skipped.extend(batch["bad"])
        if batch["paths"]:
            rows = score_batch(batch, predict, settings, cropper, baselines, result.extremes)
            result.records.extend(rows)
            delta_e_sum += sum(row["model/delta_e_2000"] for row in rows)
        running = ({"dE00": f"{delta_e_sum / len(result.records):.2f}", "skipped": len(result.skipped)}
                   if result.records else None)
        bar.update(len(batch["paths"]) + len(batch["bad"]), running)
    bar.close()
    result.seconds = time.perf_counter() - started
    return result
