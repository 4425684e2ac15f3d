"""The evaluation loop: every page of a folder, scored for the model and each baseline.

Pages are decoded in DataLoader workers by the data code; unreadable ones are skipped, counted
and listed, never fatal. A progress bar shows pages done and the model's running dE00 (plain lines
when stderr is not a terminal: `mangacolor.runtime.progress`).

The model predicts as the mode's images are used: a crop goes straight through the generator, as
in training validation (a full-colour generator's crop is scored with its predicted L); a whole
page goes through mangacolor-colorize's `PageColorizer` (working resolution, tiles, the prediction
composed with the page at full resolution as `eval.compose` says), and the model is scored, and
drawn in the grids, on exactly the RGB mangacolor-colorize writes for it (before rounding to 8
bits); its ab_l1 is of the raw predicted ab, enlarged to the page.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from mangacolor.color import rgb_to_scaled_lab, scaled_lab_to_rgb
from mangacolor.data.files import find_images, printable
from mangacolor.data.pages import page_loader
from mangacolor.data.print_settings import PrintSettings
from mangacolor.data.print_styles import page_seed, print_page
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

READING_SHORT_SIDE = 256  # px: a page shrunk to about this is read as tone, not dots


@dataclass
class EvalResult:
    # One dict per scored image, in path order: path, height, width (of the page),
    # truth_colourfulness, and "<predictor>/<metric>" for each predictor (model, grey, mean_ab) and
    # metric.
    records: list[dict] = field(default_factory=list)
    unreadable: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)
    extremes: ExtremeImages | None = None
    seconds: float = 0.0


def list_test_pages(folder: Path, limit: int | None) -> tuple[list[Path], list[tuple[str, str]]]:
    """The first `limit` image files under `folder`, and the entries that cannot be pages at all
    (directories named x.jpg, pipes, links leaving the folder) with their reasons."""
    unlisted: dict[str, str] = {}
    paths = find_images(folder, unlisted=unlisted)[:limit]
    if not paths:
        raise FileNotFoundError(f"no image files found under {folder}")
    return paths, sorted(unlisted.items())


# scaled L (n, 1, h, w) -> (scaled ab (n, 2, h, w), or scaled (L, a, b) (n, 3, h, w) from a
# full-colour crop; the RGB written for a page (n, 3, h, w), or None where the mode's shown_rgb
# shows the prediction)
ModelPrediction = Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor | None]]


def model_prediction(generator: nn.Module, settings: EvalSettings) -> ModelPrediction:
    """How the generator predicts in settings.mode: crops as validation does, pages as colourising
    does."""
    if settings.mode == "crop":
        return lambda lightness: (predict(generator, lightness, settings.precision), None)
    colorizer = PageColorizer(
        generator,
        settings.short_side,
        batch_size=settings.batch_size,
        device=settings.device,
        precision=settings.precision,
        compose=settings.compose,
        descreen=settings.descreen,
        chroma=settings.chroma,
    )

    def predict_pages(lightness: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        pages = colorizer.color_lightness(list(lightness.split(1)))
        return torch.cat([page.ab for page in pages]), torch.cat([page.rgb for page in pages])

    return predict_pages


def printed_inputs(
    rgb: torch.Tensor, paths: list[str], style: str, printing: PrintSettings
) -> torch.Tensor:
    """The B&W pages a reader would hold for these true pages (scaled L), each drawn from its own
    path, so a page gets the same print in every evaluation (on the same kind of device)."""
    return torch.cat(
        [
            print_page(rgb[i : i + 1], style, page_seed(path), printing)
            for i, path in enumerate(paths)
        ]
    )


def reading_scale(images: torch.Tensor) -> torch.Tensor:
    """Images as a reader sees a page: area-averaged, shrunk at least 4 times, or to a shorter side
    of 256 where that shrinks more, so screentone dots blend into tone."""
    factor = max(4.0, min(images.shape[-2:]) / READING_SHORT_SIDE)
    size = [max(1, round(side / factor)) for side in images.shape[-2:]]
    return F.interpolate(images, size=size, mode="area")


def score_group(
    predict: ModelPrediction,
    rgb: torch.Tensor,
    baselines: dict[str, torch.Tensor],
    shown_rgb: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] = SHOWN_RGB["crop"],
    paths: list[str] | None = None,
    input_style: str = "plain",
    printing: PrintSettings | None = None,
    at_reading_scale: bool = False,
) -> tuple[dict[str, list[float]], Truth, torch.Tensor]:
    """A group of same-size RGB images -> (per-image columns, the truth, the model's prediction as
    the grids draw it).

    input_style other than plain: the model sees each page printed in that style, and the B&W page
    itself is scored as the baseline "bw" (its own L, no colour). at_reading_scale: every predictor
    is also scored on area-shrunk images, as "<predictor>@reading".
    """
    truth = Truth.from_rgb(rgb)
    printed = input_style != "plain"
    inputs = (
        printed_inputs(
            truth.rgb, paths or [""] * len(rgb), input_style, printing or PrintSettings()
        )
        if printed
        else truth.lightness
    )
    fake, fake_rgb = predict(inputs)
    predictions = {"model": fake, "grey": torch.zeros_like(truth.ab)}
    if printed:
        predictions["bw"] = torch.cat([inputs, torch.zeros_like(truth.ab)], dim=1)
    predictions.update({name: constant_ab(ab, truth.ab) for name, ab in baselines.items()})
    columns = {"truth_colourfulness": colorfulness(truth.rgb)}
    shown_of = {}
    for predictor, prediction in predictions.items():
        shown = (
            shown_rgb
            if predictor != "model" or fake_rgb is None
            else (lambda lightness, ab: fake_rgb)
        )
        for metric, values in score_prediction(truth, prediction, shown).items():
            columns[f"{predictor}/{metric}"] = values
        if at_reading_scale:
            lightness = prediction[:, :1] if prediction.shape[1] == 3 else truth.lightness
            shown_of[predictor] = shown(lightness, prediction[:, -2:])
    if at_reading_scale:
        small_truth = Truth.from_rgb(reading_scale(truth.rgb))
        columns["truth_colourfulness@reading"] = colorfulness(small_truth.rgb)
        for predictor, shown_page in shown_of.items():
            small = torch.cat(rgb_to_scaled_lab(reading_scale(shown_page).clamp(0.0, 1.0)), dim=1)
            for metric, values in score_prediction(small_truth, small, scaled_lab_to_rgb).items():
                columns[f"{predictor}@reading/{metric}"] = values
    # One transfer per group: the loop never waits on the device image by image.
    names = list(columns)
    stacked = torch.stack([columns[name].float() for name in names]).cpu().tolist()
    # The grids draw a page as it is written: its own (L, a, b), whatever the compose mode.
    drawn = fake if fake_rgb is None else torch.cat(rgb_to_scaled_lab(fake_rgb), dim=1)
    return dict(zip(names, stacked, strict=True)), truth, drawn


def score_batch(
    batch: dict,
    predict: ModelPrediction,
    settings: EvalSettings,
    cropper: PageCropper | None,
    baselines: dict[str, torch.Tensor],
    extremes: ExtremeImages,
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
        group_paths = [batch["paths"][i] for i in indices]
        columns, truth, fake = score_group(
            predict,
            rgb,
            baselines,
            SHOWN_RGB[settings.mode],
            paths=[Path(path).name for path in group_paths],
            input_style=settings.input_style,
            printing=PrintSettings.from_config(settings.printing, "data.printing"),
            at_reading_scale=settings.mode == "page",
        )
        for position, index in enumerate(indices):
            height, width = heights_widths[index]
            rows[index] = {
                "path": group_paths[position],
                "height": height,
                "width": width,
                **{name: values[position] for name, values in columns.items()},
            }
        extremes.add(
            columns[f"model/{settings.rank_by}"], group_paths, truth.lightness, truth.ab, fake
        )
    return rows


@torch.inference_mode()
def evaluate_pages(
    generator: nn.Module,
    paths: list[Path],
    settings: EvalSettings,
    baselines: dict[str, torch.Tensor] | None = None,
) -> EvalResult:
    """Score `paths` for the generator (on settings.device, eval mode), grey, and `baselines`
    (each a scaled (a, b) of shape (2,), on any device)."""
    device = torch.device(settings.device)
    baselines = {
        name: ab.to(device, torch.float32) for name, ab in (baselines or {}).items()
    }  # once, not per group
    predict = model_prediction(generator, settings)
    cropper = (
        PageCropper(settings.size, settings.window, hflip=False)
        if settings.mode == "crop"
        else None
    )
    rank_metric = next(metric for metric in METRICS if metric.name == settings.rank_by)
    result = EvalResult(
        extremes=ExtremeImages(
            settings.grid_images,
            rank_metric.higher_is_better,
            fit_side=settings.grid_side if settings.mode == "page" else None,
            shown_rgb=SHOWN_RGB[settings.mode],
        )
    )
    started = time.perf_counter()
    bar = Progress(
        len(paths), "mangacolor-eval", "img", mode="auto" if settings.progress else "off"
    )
    delta_e_sum = 0.0
    for batch in page_loader(paths, settings.batch_size, settings.num_workers, settings.max_pixels):
        for path, reason in batch["unreadable"]:
            log.warning("skipped unreadable image %s: %s", printable(path), reason)
        result.unreadable.extend(batch["unreadable"])
        if batch["paths"]:
            rows = score_batch(batch, predict, settings, cropper, baselines, result.extremes)
            result.records.extend(rows)
            delta_e_sum += sum(row["model/delta_e_2000"] for row in rows)
        running = (
            {"dE00": f"{delta_e_sum / len(result.records):.2f}", "skipped": len(result.unreadable)}
            if result.records
            else None
        )
        bar.update(len(batch["paths"]) + len(batch["unreadable"]), running)
    bar.close()
    result.seconds = time.perf_counter() - started
    return result
