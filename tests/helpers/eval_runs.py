"""mangacolor-eval's test inputs and checks: a tiny run and a held-out folder made here, the config
as the console script composes it, and every number it writes recomputed from the data, colour and
metric functions directly (crop: validation's window, padding, generator, gamut clipping; page:
mangacolor-colorize's PageColorizer and lightness-preserving RGB; the metrics)."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from kornia.color import rgb_to_lab
from omegaconf import DictConfig

from helpers.configs import compose_config
from helpers.pages import make_pages
from mangacolor.color import (
    lightness_preserving_rgb,
    rgb_to_scaled_lab,
    scaled_lab_to_rgb,
)
from mangacolor.data.files import find_images, read_image
from mangacolor.data.transforms import PageCropper
from mangacolor.evaluation.evaluate import evaluate
from mangacolor.evaluation.settings import EvalSettings
from mangacolor.inference.generator_file import export_generator, load_generator
from mangacolor.inference.page_colorizer import PageColorizer
from mangacolor.metrics import ab_l1, colorfulness, delta_e_2000, mean_delta_e_2000, psnr, ssim
from mangacolor.models.components import UNetGenerator

SIZE, WINDOW = 16, 32  # the tiny run's training crop, written into its .hydra/config.yaml
GENERATOR = {
    "depth": 3,
    "width": 4,
    "max_width": 8,
    "norm": "batch",
    "dropout": 0.0,
    "dropout_blocks": 0,
}
METRICS = (
    "ab_l1",
    "psnr",
    "ssim",
    "delta_e_2000",
    "delta_e_2000_neutral",
    "delta_e_2000_colour",
    "colourfulness",
)


def compose_eval(overrides: list[str], run_dir: Path) -> DictConfig:
    """mangacolor-eval's config, writing into `run_dir`."""
    return compose_config("eval", [f"paths.run_dir={run_dir}", *overrides])


def evaluate_config(cfg):
    """The library as mangacolor-eval calls it: the settings from the config, then the evaluation."""
    return evaluate(EvalSettings.from_config(cfg))


def make_tiny_run(folder: Path) -> Path:
    """RUN/checkpoints/generator.pt of a random tiny U-Net, and RUN/.hydra/config.yaml as training writes it."""
    torch.manual_seed(0)
    generator = UNetGenerator(**GENERATOR)
    with (
        torch.no_grad()
    ):  # bold random colours, not the near-grey output of a fresh N(0, 0.02) init
        for parameter in generator.parameters():
            parameter.normal_(0.0, 0.3)
    run = folder / "run"
    (run / ".hydra").mkdir(parents=True)
    (run / ".hydra" / "config.yaml").write_text(
        f"data:\n  size: {SIZE}\n  window: {WINDOW}\n  seed: ${{seed}}\n"
    )
    export_generator(generator, GENERATOR, run / "checkpoints" / "generator.pt", iteration=4)
    return run


def make_held_out(folder: Path) -> Path:
    """Five pages of two sizes (one in a subfolder, JPEG) and one unreadable file."""
    folder = folder / "held out"
    make_pages(folder, 3, (44, 40), seed=5)
    make_pages(folder / "sub", 2, (50, 37), seed=6, suffix=".jpg")
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    return folder


def lightning_style_checkpoint(generator_pt: Path, path: Path) -> Path:
    """The generator's weights laid out as Pix2Pix's Lightning checkpoint stores them."""
    generator, config = load_generator(generator_pt)
    state = {f"generator.{key}": value for key, value in generator.state_dict().items()}
    torch.save({"state_dict": state, "hyper_parameters": {"generator": config}, "epoch": 0}, path)
    return path


def recompute(
    generator: UNetGenerator,
    page: torch.Tensor,
    mode: str,
    mean_ab: torch.Tensor | None = None,
    short_side: int | None = None,
) -> dict:
    """One page's per_image.csv row, from the building blocks."""
    height, width = page.shape[1:]
    if mode == "crop":
        rgb = PageCropper(SIZE, WINDOW, hflip=False)(
            page[None], torch.tensor([[height, width]]), None, train=False
        )
    else:
        rgb = page[None].float() / 255
    lightness, ab = rgb_to_scaled_lab(rgb)
    if mode == "crop":  # validation: the crop straight through the generator, clipped to sRGB
        h, w = rgb.shape[-2:]
        multiple = generator.multiple
        padded = F.pad(lightness, (0, -w % multiple, 0, -h % multiple), mode="reflect")
        with torch.no_grad():
            fake = generator(padded)[..., :h, :w]
        shown_rgb = scaled_lab_to_rgb
    else:  # what mangacolor-colorize writes for the page
        [fake] = PageColorizer(generator, short_side, precision="32-true").predict_pages_ab(
            [lightness]
        )
        shown_rgb = lightness_preserving_rgb
    predictions = {"model": fake, "grey": torch.zeros_like(ab)}
    if mean_ab is not None:
        predictions["mean_ab"] = mean_ab.float().view(1, 2, 1, 1).expand_as(ab)
    row = {"height": height, "width": width, "truth_colourfulness": colorfulness(rgb).item()}
    for name, prediction in predictions.items():
        # A full-colour generator's crop is shown with its own L; ab predictions on the page's.
        pred_lightness, pred_ab = (
            (prediction[:, :1] if prediction.shape[1] == 3 else lightness),
            prediction[:, -2:],
        )
        pred_rgb = shown_rgb(pred_lightness, pred_ab)
        row[f"{name}/ab_l1"] = ab_l1(pred_ab * 110, ab * 110).item()
        row[f"{name}/psnr"] = psnr(pred_rgb, rgb).item()
        row[f"{name}/ssim"] = ssim(pred_rgb, rgb).item()
        row[f"{name}/delta_e_2000"] = mean_delta_e_2000(
            rgb_to_lab(pred_rgb), rgb_to_lab(rgb)
        ).item()
        differences = delta_e_2000(rgb_to_lab(pred_rgb), rgb_to_lab(rgb))[0]
        neutral = torch.hypot(*rgb_to_lab(rgb)[0, 1:]) < 5.0
        for part, where in (("neutral", neutral), ("colour", ~neutral)):
            row[f"{name}/delta_e_2000_{part}"] = (
                differences[where].mean().item() if where.any() else float("nan")
            )
        row[f"{name}/colourfulness"] = colorfulness(pred_rgb).item()
    return row


def mean_ab_of_crops(folder: Path) -> torch.Tensor:
    cropper = PageCropper(SIZE, WINDOW, hflip=False)
    pages = [read_image(path) for path in find_images(folder)]
    crops = [
        cropper(page[None], torch.tensor([page.shape[1:]]), None, train=False) for page in pages
    ]
    return torch.stack([rgb_to_scaled_lab(crop)[1].mean(dim=(0, 2, 3)) for crop in crops]).mean(0)


def read_outputs(out: Path) -> tuple[dict, list[dict]]:
    metrics = json.loads((out / "metrics.json").read_text())
    with open(out / "per_image.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    return metrics, rows


def check_against_recomputation(
    metrics: dict,
    rows: list[dict],
    folder: Path,
    ckpt: Path,
    mode: str,
    predictors: tuple[str, ...],
    mean_ab: torch.Tensor | None = None,
    short_side: int | None = None,
) -> None:
    generator, _ = load_generator(ckpt)
    expected = {}
    for path in find_images(folder):
        try:
            page = read_image(path)
        except Exception:  # noqa: BLE001 - the unreadable file is checked by the caller
            continue
        expected[path.relative_to(folder).as_posix()] = recompute(
            generator, page, mode, mean_ab, short_side
        )
    assert [row["path"] for row in rows] == sorted(
        expected
    )  # one row per readable page, in path order
    for row in rows:
        want = expected[row["path"]]
        for key, value in want.items():
            assert float(row[key]) == pytest.approx(value, rel=2e-5, abs=2e-5), (row["path"], key)
    for predictor in predictors:
        for metric in METRICS:
            scored = [want[f"{predictor}/{metric}"] for want in expected.values()]
            scored = [
                value for value in scored if not math.isnan(value)
            ]  # pages without neutral (or colour) pixels
            mean = sum(scored) / len(scored)
            assert metrics["overall"][predictor][metric] == pytest.approx(
                mean, rel=1e-5, abs=1e-5
            ), (predictor, metric)
    truth = sum(want["truth_colourfulness"] for want in expected.values()) / len(expected)
    assert metrics["overall"]["truth"]["colourfulness"] == pytest.approx(truth, rel=1e-5)
    ratio = metrics["overall"]["model"]["colourfulness"] / truth
    assert metrics["overall"]["model"]["colourfulness_ratio"] == pytest.approx(ratio, rel=1e-5)
