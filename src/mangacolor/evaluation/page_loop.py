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
from torch import nn

from mangacolor.color import rgb_to_scaled_lab, scaled_lab_to_rgb
from mangacolor.data.files import find_images, printable
from mangacolor.data.pages import page_loader
from mangacolor.data.print_settings import PrintSettings
from mangacolor.data.print_styles import page_seed, print_page
from mangacolor.data.transforms import PageCropper
from mangacolor.evaluation.extremes import ExtremeImages
from mangacolor.evaluation.hint_sweep import HintSweep
from mangacolor.evaluation.scoring import (
    METRICS,
    SHOWN_RGB,
    Truth,
    constant_ab,
    score_prediction,
)
from mangacolor.evaluation.settings import EvalSettings
from mangacolor.evaluation.views import READING_SHORT_SIDE, reading_scale, scored_views  # noqa: F401 (re-exported)
from mangacolor.hints.raster import hint_input, no_hints
from mangacolor.inference.generator_file import takes_hints
from mangacolor.inference.page_colorizer import PageColorizer, generator_predicts
from mangacolor.inference.prediction import predict
from mangacolor.metrics import colorfulness
from mangacolor.runtime.progress import Progress

log = logging.getLogger(__name__)


@dataclass
class EvalResult:
    # One dict per scored image, in path order: path, height, width (of the page),
    # truth_colourfulness, and "<predictor>/<metric>" for each predictor (model, grey, mean_ab) and
    # metric.
    records: list[dict] = field(default_factory=list)
    unreadable: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)
    extremes: ExtremeImages | None = None
    seconds: float = 0.0
    sweep: HintSweep | None = (
        None  # with eval.hints: every page at every hint count (hint_sweep.py)
    )


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


def page_colorizer(generator: nn.Module, settings: EvalSettings) -> PageColorizer:
    """Page mode's colorizer: the generator colouring whole pages as mangacolor-colorize does."""
    return PageColorizer(
        generator,
        settings.short_side,
        batch_size=settings.batch_size,
        device=settings.device,
        precision=settings.precision,
        compose=settings.compose,
        descreen=settings.descreen,
        chroma=settings.chroma,
        upsample=settings.upsample,
    )


def model_prediction(generator: nn.Module, settings: EvalSettings) -> ModelPrediction:
    """How the generator predicts in settings.mode: crops as validation does, pages as colourising
    does."""
    if settings.mode == "crop":
        if takes_hints(
            generator
        ):  # a hint generator without hints colours automatically: empty maps
            predicts = generator_predicts(generator)

            def predict_crops(lightness: torch.Tensor) -> tuple[torch.Tensor, None]:
                color, mask = no_hints(
                    lightness.shape[0], *lightness.shape[-2:], predicts, lightness.device
                )
                return predict(
                    generator, hint_input(lightness, color, mask), settings.precision
                ), None

            return predict_crops
        return lambda lightness: (predict(generator, lightness, settings.precision), None)
    colorizer = page_colorizer(generator, settings)

    def predict_pages(lightness: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        pages = colorizer.color_lightness(list(lightness.split(1)))
        return torch.cat([page.ab for page in pages]), torch.cat([page.rgb for page in pages])

    return predict_pages


def colored_already(colored: tuple[torch.Tensor, torch.Tensor]) -> ModelPrediction:
    """A prediction that gives back pages coloured elsewhere (raw ab, RGB): the hint sweep's
    0-hint colouring, which is the automatic one."""
    return lambda _inputs: colored


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


def score_group(
    predict: ModelPrediction,
    rgb: torch.Tensor,
    baselines: dict[str, torch.Tensor],
    shown_rgb: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] = SHOWN_RGB["crop"],
    paths: list[str] | None = None,
    input_style: str = "plain",
    printing: PrintSettings | None = None,
    at_reading_scale: bool = False,
    inputs: torch.Tensor | None = None,
    truth: Truth | None = None,
) -> tuple[dict[str, list[float]], Truth, torch.Tensor]:
    """A group of same-size RGB images -> (per-image columns, the truth, the model's prediction as
    the grids draw it).

    input_style other than plain: the model sees each page printed in that style, and the B&W page
    itself is scored as the baseline "bw" (its own L, no colour). at_reading_scale: every predictor
    is also scored on area-shrunk images, as "<predictor>@reading". inputs, truth: the model's
    input pages and the truth of `rgb` when already made (`model_inputs`, `Truth.from_rgb`), else
    made here.
    """
    truth = Truth.from_rgb(rgb) if truth is None else truth
    printed = input_style != "plain"
    if inputs is None:
        inputs = model_inputs(truth, paths, input_style, printing)
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


def model_inputs(
    truth: Truth, paths: list[str] | None, input_style: str, printing: PrintSettings | None
) -> torch.Tensor:
    """The scaled L the model sees for these true pages: their own, or printed in `input_style`."""
    if input_style == "plain":
        return truth.lightness
    return printed_inputs(
        truth.rgb, paths or [""] * len(truth.rgb), input_style, printing or PrintSettings()
    )


def score_batch(
    batch: dict,
    predict: ModelPrediction,
    settings: EvalSettings,
    cropper: PageCropper | None,
    baselines: dict[str, torch.Tensor],
    extremes: ExtremeImages,
    sweep: HintSweep | None = None,
) -> list[dict]:
    """The readable pages of one collated batch -> their rows, in the batch's order; with a
    `sweep`, each page is also scored at every hint count there.

    `baselines` must already be on settings.device.
    """
    device = torch.device(settings.device)
    pages = batch["pages"].to(device, non_blocking=True)
    sizes = batch["sizes"]  # stays on the CPU: it is read as numbers
    heights_widths = sizes.tolist()
    rows: list[dict] = [{} for _ in batch["paths"]]
    for rgb, indices in scored_views(pages, sizes, settings.mode, cropper):
        group_paths = [batch["paths"][i] for i in indices]
        names = [Path(path).name for path in group_paths]
        printing = PrintSettings.from_config(settings.printing, "data.printing")
        truth, inputs, group_predict = None, None, predict
        if sweep is not None:
            # The truth and the printed pages made once, and the sweep's 0-hint colouring scored
            # as the automatic one: the summary does not colour each page a second time.
            truth = Truth.from_rgb(rgb)
            inputs = model_inputs(truth, names, settings.input_style, printing)
            automatic = sweep.score_pages(truth, inputs, group_paths)
            if automatic is not None:
                group_predict = colored_already(automatic)
        columns, truth, fake = score_group(
            group_predict,
            rgb,
            baselines,
            SHOWN_RGB[settings.mode],
            paths=names,
            input_style=settings.input_style,
            printing=printing,
            at_reading_scale=settings.mode == "page",
            inputs=inputs,
            truth=truth,
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
    sweep = None
    if settings.hints is not None:
        sweep = HintSweep(
            page_colorizer(generator, settings),
            settings.hints,
            settings.bucket_tolerance,
            settings.run_dir,
            settings.test_dir,
            printed=settings.input_style != "plain",
        )
    cropper = (
        PageCropper(settings.size, settings.window, hflip=False)
        if settings.mode == "crop"
        else None
    )
    rank_metric = next(metric for metric in METRICS if metric.name == settings.rank_by)
    result = EvalResult(
        sweep=sweep,
        extremes=ExtremeImages(
            settings.grid_images,
            rank_metric.higher_is_better,
            fit_side=settings.grid_side if settings.mode == "page" else None,
            shown_rgb=SHOWN_RGB[settings.mode],
        ),
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
            rows = score_batch(batch, predict, settings, cropper, baselines, result.extremes, sweep)
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
