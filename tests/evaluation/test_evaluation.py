"""mangacolor.evaluation's parts: views, scoring, baselines, extremes, settings and the report."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from kornia.color import rgb_to_lab
from omegaconf import OmegaConf

from mangacolor.color import (
    lightness_preserving_rgb,
    rgb_to_scaled_lab,
    scaled_lab_to_rgb,
)
from mangacolor.data.transforms import PageCropper
from mangacolor.evaluation.baselines import evenly_spaced, mean_ab_of_pages
from mangacolor.evaluation.extremes import ExtremeImages, fit_in_square
from mangacolor.evaluation.report import (
    claim_output_folder,
    format_metrics_table,
    improvement_over_grey,
    release_output_folder,
    summarise,
    write_metrics_json,
    write_per_image_csv,
)
from mangacolor.evaluation.scoring import (
    METRIC_NAMES,
    SHOWN_RGB,
    Truth,
    constant_ab,
    score_prediction,
)
from mangacolor.evaluation.settings import EvalSettings, check_inputs, training_crop
from mangacolor.evaluation.views import scored_views, whole_pages
from mangacolor.metrics import PSNR_CAP_DB
from mangacolor.models.components import UNetGenerator
from mangacolor.runtime.config_errors import ConfigError


# ---- views ------------------------------------------------------------------------------
def test_whole_pages_cut_each_page_free_of_the_batch_padding_and_group_equal_sizes():
    pages = torch.randint(0, 256, (3, 3, 10, 12), dtype=torch.uint8)
    sizes = torch.tensor([[10, 12], [7, 5], [10, 12]])
    groups = list(whole_pages(pages, sizes))
    assert [indices for _, indices in groups] == [[0, 2], [1]]
    first, second = groups[0][0], groups[1][0]
    assert first.shape == (2, 3, 10, 12) and second.shape == (1, 3, 7, 5)
    assert torch.equal(second[0], pages[1, :, :7, :5].float() / 255)


def test_crop_view_is_the_validation_centre_window():
    pages = torch.randint(0, 256, (2, 3, 40, 30), dtype=torch.uint8)
    sizes = torch.tensor([[40, 30], [40, 30]])
    cropper = PageCropper(16, 32, hflip=False)
    [(crops, indices)] = list(scored_views(pages, sizes, "crop", cropper))
    assert indices == [0, 1] and crops.shape == (2, 3, 16, 16)
    assert torch.equal(crops, cropper(pages, sizes, None, train=False))


# ---- scoring ----------------------------------------------------------------------------
def test_truth_lab_is_kornias_lab_of_the_page():
    rgb = torch.rand(2, 3, 8, 8)
    truth = Truth.from_rgb(rgb)
    assert torch.allclose(truth.lab, rgb_to_lab(rgb), atol=1e-4)
    lightness, ab = rgb_to_scaled_lab(rgb)
    assert torch.equal(truth.lightness, lightness) and torch.equal(truth.ab, ab)


def test_delta_e_is_split_between_the_truths_neutral_and_coloured_pixels():
    # Left half white paper, right half red; the prediction tints the paper and gets the red right.
    rgb = torch.ones(2, 3, 8, 8)
    rgb[:, :, :, 4:] = torch.tensor([0.8, 0.15, 0.1]).view(3, 1, 1)
    rgb[1] = torch.tensor([0.8, 0.15, 0.1]).view(3, 1, 1)  # the second page has no neutral pixel
    truth = Truth.from_rgb(rgb)
    tinted = truth.ab.clone()
    tinted[0, :, :, :4] += 0.05
    scores = score_prediction(truth, tinted)
    assert scores["delta_e_2000_colour"][0] < 0.05 < 2.0 < scores["delta_e_2000_neutral"][0]
    torch.testing.assert_close(
        scores["delta_e_2000"][0], scores["delta_e_2000_neutral"][0] / 2, rtol=0.02, atol=0.02
    )
    assert (
        torch.isnan(scores["delta_e_2000_neutral"][1]) and scores["delta_e_2000_colour"][1] < 0.05
    )


def test_a_perfect_prediction_scores_perfectly():
    rgb = torch.rand(2, 3, 16, 16) * 0.8 + 0.1  # inside the gamut, so nothing is clipped
    truth = Truth.from_rgb(rgb)
    scores = score_prediction(truth, truth.ab)
    assert set(scores) == set(METRIC_NAMES)
    assert torch.equal(scores["ab_l1"], torch.zeros(2))
    assert (scores["delta_e_2000"] < 0.01).all()  # only the float32 Lab round trip is left
    assert (scores["psnr"] > 60).all() and (scores["psnr"] <= PSNR_CAP_DB).all()
    assert torch.allclose(scores["ssim"], torch.ones(2), atol=1e-4)


def test_grey_prediction_scores_the_ab_magnitude_and_no_colour():
    rgb = torch.zeros(1, 3, 8, 8)
    rgb[:, 0] = 0.8  # a flat red page
    truth = Truth.from_rgb(rgb)
    grey = score_prediction(truth, torch.zeros_like(truth.ab))
    expected_l1 = (truth.ab * 110).abs().mean()
    assert grey["ab_l1"].item() == pytest.approx(expected_l1.item(), rel=1e-5)
    assert grey["colourfulness"].item() < 0.1


def test_page_mode_shows_predictions_as_colorize_writes_them_and_crop_mode_as_validation():
    assert SHOWN_RGB == {"crop": scaled_lab_to_rgb, "page": lightness_preserving_rgb}
    truth = Truth.from_rgb(torch.rand(1, 3, 8, 8) * 0.2 + 0.8)  # pale paper
    vivid = torch.full_like(truth.ab, 0.9)  # far outside sRGB on pale paper: clipping changes L
    page, crop = score_prediction(truth, vivid, SHOWN_RGB["page"]), score_prediction(truth, vivid)
    expected = lightness_preserving_rgb(truth.lightness, vivid)
    assert page["colourfulness"].item() == pytest.approx(
        score_prediction(truth, vivid, lambda lightness, ab: expected)["colourfulness"].item()
    )
    assert page["delta_e_2000"].item() != pytest.approx(crop["delta_e_2000"].item(), abs=0.5)
    assert page["ab_l1"].item() == pytest.approx(
        crop["ab_l1"].item()
    )  # on the raw prediction either way


def test_a_full_colour_prediction_is_scored_with_its_own_lightness():
    truth = Truth.from_rgb(torch.rand(2, 3, 16, 16) * 0.8 + 0.1)
    perfect = score_prediction(truth, torch.cat([truth.lightness, truth.ab], dim=1))
    assert torch.equal(perfect["ab_l1"], torch.zeros(2)) and (perfect["delta_e_2000"] < 0.01).all()
    white = torch.cat(
        [torch.ones_like(truth.lightness), truth.ab], dim=1
    )  # right colour, paper-white L
    scores = score_prediction(truth, white)
    assert torch.equal(scores["ab_l1"], torch.zeros(2))  # ab-L1 looks at a and b only
    assert (scores["delta_e_2000"] > 10).all() and (scores["psnr"] < perfect["psnr"] - 10).all()
    shown = scaled_lab_to_rgb(torch.ones_like(truth.lightness), truth.ab)
    assert torch.allclose(
        scores["colourfulness"],
        score_prediction(truth, white, lambda lightness, ab: shown)["colourfulness"],
    )


def test_constant_ab_fills_every_pixel():
    like = torch.zeros(2, 2, 3, 4)
    filled = constant_ab(torch.tensor([0.1, -0.2], dtype=torch.float64), like)
    assert filled.shape == like.shape and filled.dtype == torch.float32
    assert torch.equal(filled[:, 0], torch.full((2, 3, 4), 0.1)) and torch.equal(
        filled[:, 1], torch.full((2, 3, 4), -0.2)
    )


# ---- baselines --------------------------------------------------------------------------
def test_evenly_spaced_spreads_over_the_whole_list():
    paths = [Path(f"{i:02d}.png") for i in range(10)]
    assert evenly_spaced(paths, None) == paths
    assert evenly_spaced(paths, 20) == paths
    assert evenly_spaced(paths, 3) == [Path("00.png"), Path("03.png"), Path("06.png")]


def test_mean_ab_of_pages_is_the_mean_over_centre_crops(tmp_path):
    from PIL import Image

    Image.new("RGB", (20, 20), (200, 40, 40)).save(tmp_path / "red.png")
    Image.new("RGB", (30, 20), (40, 60, 200)).save(tmp_path / "blue.png")
    (tmp_path / "broken.png").write_bytes(b"not a png")
    cropper = PageCropper(8, 16, hflip=False)
    mean, used, bad = mean_ab_of_pages(
        sorted(tmp_path.iterdir()), cropper, torch.device("cpu"), progress=False
    )
    red = rgb_to_scaled_lab(torch.tensor([200, 40, 40.0]).view(1, 3, 1, 1) / 255)[1].flatten()
    blue = rgb_to_scaled_lab(torch.tensor([40, 60, 200.0]).view(1, 3, 1, 1) / 255)[1].flatten()
    assert used == 2 and [Path(p).name for p, _ in bad] == ["broken.png"]
    assert torch.allclose(mean.float(), (red + blue) / 2, atol=1e-4)


# ---- runner ------------------------------------------------------------------------------
def tiny_generator(seed: int = 0):
    from mangacolor.models.components import UNetGenerator

    torch.manual_seed(seed)
    generator = UNetGenerator(
        depth=3, width=4, max_width=8, norm="batch", dropout=0.0, dropout_blocks=0
    ).eval()
    with torch.no_grad():
        for parameter in generator.parameters():
            parameter.normal_(0.0, 0.3)
    return generator


def test_the_model_predicts_crops_as_validation_and_pages_as_colorize(tmp_path):
    from mangacolor.evaluation.page_loop import model_prediction
    from mangacolor.inference.page_colorizer import PageColorizer
    from mangacolor.inference.prediction import predict_ab

    generator = tiny_generator()
    lightness = rgb_to_scaled_lab(torch.rand(2, 3, 20, 27))[0]
    crop = settings_for(eval_cfg(size=16, window=32))
    crop_ab, crop_rgb = model_prediction(generator, crop)(lightness)
    assert (
        torch.equal(crop_ab, predict_ab(generator, lightness)) and crop_rgb is None
    )  # shown as validation shows it
    cfg = eval_cfg()
    cfg.eval.mode = "page"
    page = settings_for(cfg, training_size=16)
    colorizer = PageColorizer(generator, 16, precision="32-true")
    expected = torch.cat([colorizer.predict_pages_ab([lightness[i : i + 1]])[0] for i in range(2)])
    predicted, shown = model_prediction(generator, page)(lightness)
    assert predicted.shape == (2, 2, 20, 27) and torch.allclose(predicted, expected, atol=1e-6)
    assert not torch.allclose(
        predicted, predict_ab(generator, lightness), atol=1e-3
    )  # not at the page's own size
    # An ab generator's page is its L with the predicted ab, as colourise writes it.
    assert torch.allclose(shown, lightness_preserving_rgb(lightness, predicted), atol=1e-6)


def test_a_full_colour_generator_predicts_crops_in_full_colour():
    from mangacolor.evaluation.page_loop import model_prediction
    from mangacolor.inference.prediction import predict

    torch.manual_seed(0)
    generator = UNetGenerator(depth=3, width=4, max_width=8, out_channels=3).eval()
    lightness = rgb_to_scaled_lab(torch.rand(2, 3, 16, 16))[0]
    crop = settings_for(eval_cfg(size=16, window=32))
    predicted, shown = model_prediction(generator, crop)(lightness)
    assert predicted.shape == (2, 3, 16, 16) and torch.equal(
        predicted, predict(generator, lightness)
    )
    assert shown is None  # shown as validation shows it: its own L with its a and b


def test_baselines_are_moved_to_the_device_once_not_per_group(tmp_path, monkeypatch):
    from PIL import Image

    from mangacolor.evaluation import page_loop as runner

    for i, size in enumerate([(20, 16), (24, 16), (20, 16)]):
        Image.new("RGB", size, (200, 40 * i, 40)).save(tmp_path / f"p{i}.png")
    seen = []
    real_constant_ab = runner.constant_ab
    monkeypatch.setattr(
        runner, "constant_ab", lambda ab, like: seen.append(ab) or real_constant_ab(ab, like)
    )
    cfg = eval_cfg()
    cfg.eval.mode = "page"
    settings = settings_for(cfg, training_size=16)
    baseline = torch.tensor([0.1, -0.1], dtype=torch.float64)
    result = runner.evaluate_pages(
        tiny_generator(), sorted(tmp_path.iterdir()), settings, {"mean_ab": baseline}
    )
    assert (
        len(result.records) == 3 and len(seen) == 3
    )  # three groups: two batches, one with two sizes
    assert all(
        ab.dtype == torch.float32 and ab.data_ptr() == seen[0].data_ptr() for ab in seen
    )  # one copy


# ---- extremes ---------------------------------------------------------------------------
def _add(extremes: ExtremeImages, values: list[float]) -> None:
    n = len(values)
    extremes.add(
        values,
        [f"p{v:g}" for v in values],
        torch.zeros(n, 1, 4, 4),
        torch.zeros(n, 2, 4, 4),
        torch.zeros(n, 2, 4, 4),
    )


def test_extremes_keep_the_k_lowest_and_highest_of_a_lower_is_better_metric():
    extremes = ExtremeImages(2, higher_is_better=False)
    _add(extremes, [5.0, 1.0, 9.0])
    _add(extremes, [3.0, 7.0, 0.5])
    assert extremes.ranked("best") == [("p0.5", 0.5), ("p1", 1.0)]
    assert extremes.ranked("worst") == [("p9", 9.0), ("p7", 7.0)]
    grid = extremes.grid("best")
    assert grid.shape[0] == 3 and grid.shape[2] == 2 * 4 + 3 * 2  # two columns of 4 px, padding 2


def test_extremes_of_a_higher_is_better_metric_and_of_k_zero():
    extremes = ExtremeImages(1, higher_is_better=True)
    _add(extremes, [20.0, 35.0, 10.0])
    assert extremes.ranked("best") == [("p35", 35.0)] and extremes.ranked("worst") == [
        ("p10", 10.0)
    ]
    nothing = ExtremeImages(0, higher_is_better=True)
    _add(nothing, [1.0])
    assert nothing.grid("best") is None


def test_fit_in_square_keeps_the_aspect_with_white_margins():
    lightness, ab = torch.zeros(1, 10, 20), torch.full((2, 10, 20), 0.5)
    fitted = fit_in_square(lightness, ab, ab, 8)
    assert fitted.shape == (5, 8, 8)
    assert torch.equal(
        fitted[:, 0], torch.tensor([1.0, 0, 0, 0, 0]).view(5, 1).expand(5, 8)
    )  # white row
    assert torch.allclose(
        fitted[:, 4], torch.tensor([0.0, 0.5, 0.5, 0.5, 0.5]).view(5, 1).expand(5, 8)
    )


def test_full_colour_previews_fit_with_white_paper_in_both_lightness_channels_and_make_a_grid():
    lightness, ab = torch.zeros(1, 10, 20), torch.full((2, 10, 20), 0.5)
    fake = torch.cat([torch.full((1, 10, 20), -0.5), ab])
    fitted = fit_in_square(lightness, ab, fake, 8)
    assert fitted.shape == (6, 8, 8)
    assert torch.equal(
        fitted[:, 0], torch.tensor([1.0, 0, 0, 1.0, 0, 0]).view(6, 1).expand(6, 8)
    )  # margin
    assert torch.allclose(
        fitted[:, 4], torch.tensor([0.0, 0.5, 0.5, -0.5, 0.5, 0.5]).view(6, 1).expand(6, 8)
    )
    extremes = ExtremeImages(2, higher_is_better=False, fit_side=8)
    extremes.add(
        [1.0, 2.0],
        ["a", "b"],
        lightness.expand(2, 1, 10, 20),
        ab.expand(2, 2, 10, 20),
        fake.expand(2, 3, 10, 20),
    )
    grid = extremes.grid("best")
    prediction_row = grid[:, 2 + 2 * 10 : 2 + 2 * 10 + 8, 2:10]
    expected = scaled_lab_to_rgb(fitted[None, 3:4], fitted[None, 4:6])[0]
    assert torch.allclose(prediction_row, expected)  # drawn with the prediction's own L


# ---- settings ---------------------------------------------------------------------------
def eval_cfg(**data) -> OmegaConf:
    return OmegaConf.create(
        {
            "ckpt_path": "g.pt",
            "paths": {"run_dir": "eval"},
            "trainer": {"precision": "32-true"},
            "data": {
                "size": None,
                "window": None,
                "batch_size": 2,
                "num_workers": 0,
                "max_pixels": 10**8,
                "test_dir": "pages",
                "train_dir": None,
                **data,
            },
            "eval": {
                "mode": "crop",
                "limit": None,
                "rank_by": "delta_e_2000",
                "grid_images": 4,
                "grid_side": 64,
                "mean_ab_limit": None,
                "progress": False,
                "tensorboard": False,
                "device": "cpu",
            },
        }
    )


def settings_for(
    cfg, ckpt_path: Path = Path("g.pt"), training_size: int | None = None
) -> EvalSettings:
    """As mangacolor-eval builds them: from the config, then for a generator of multiple 8."""
    cfg = OmegaConf.merge(cfg, {"ckpt_path": str(ckpt_path)})
    return EvalSettings.from_config(cfg).for_generator(8, training_size)


def write_run_config(run: Path, size: int, window: int) -> Path:
    (run / ".hydra").mkdir(parents=True)
    (run / "checkpoints").mkdir()
    (run / ".hydra" / "config.yaml").write_text(
        f"data:\n  size: {size}\n  window: {window}\n  seed: ${{seed}}\n"
    )
    return run / "checkpoints" / "last.ckpt"


def test_crop_defaults_to_the_training_runs_size_and_window(tmp_path):
    ckpt = write_run_config(tmp_path / "run", 32, 64)
    assert training_crop(ckpt)[:2] == (32, 64)
    settings = settings_for(eval_cfg(), ckpt)
    assert (settings.size, settings.window) == (32, 64)
    settings = settings_for(eval_cfg(size=16, window=16), ckpt)
    assert (settings.size, settings.window) == (16, 16)


def test_crop_mode_without_a_known_size_names_the_keys(tmp_path):
    with pytest.raises(ConfigError, match="data.size and data.window"):
        settings_for(eval_cfg(), tmp_path / "generator.pt")
    cfg = eval_cfg()
    cfg.eval.mode = "page"
    assert settings_for(cfg, tmp_path / "generator.pt").size is None


def test_page_mode_works_at_colorizes_resolution_unless_told():
    cfg = eval_cfg()
    cfg.eval.mode = "page"
    build = lambda cfg, training_size: settings_for(cfg, training_size=training_size)  # noqa: E731
    assert build(cfg, 32).short_side == 32  # the size it was trained at
    assert build(cfg, None).short_side == 8  # unknown: the generator's multiple, as colorize
    cfg.eval.short_side = 100
    assert build(cfg, 32).short_side == 100
    assert (
        build(eval_cfg(size=16, window=32), 32).short_side is None
    )  # crop mode has no working size
    for bad in (0, -3, "big", 1.5):
        cfg.eval.short_side = bad
        with pytest.raises(ConfigError, match="eval.short_side"):
            build(cfg, 32)


def test_inputs_are_checked_naming_the_key(tmp_path):
    ckpt = tmp_path / "g.pt"
    ckpt.write_bytes(b"")
    settings = replace(settings_for(eval_cfg(size=16, window=32), ckpt), test_dir=tmp_path)
    check_inputs(settings)
    for key, value, message in [
        ("test_dir", tmp_path / "nope", "data.test_dir: folder not found"),
        ("test_dir", ckpt, "data.test_dir: folder not found"),
        ("train_dir", tmp_path / "gone", "data.train_dir: folder not found"),
        ("ckpt_path", tmp_path / "x.ckpt", "ckpt_path: checkpoint file not found"),
    ]:
        with pytest.raises(ConfigError, match=message):
            check_inputs(replace(settings, **{key: value}))


@pytest.mark.parametrize(
    "change, message",
    [
        ({"data": {"size": 20, "window": 40}}, "multiple of the generator"),
        ({"data": {"size": 32, "window": 16}}, "at least data.size"),
        ({"eval": {"mode": "tiles"}}, "eval.mode"),
        ({"eval": {"rank_by": "vibes"}}, "eval.rank_by"),
        ({"eval": {"limit": 0}}, "eval.limit"),
        ({"data": {"batch_size": 0}}, "data.batch_size"),
    ],
)
def test_bad_settings_fail_naming_the_key(tmp_path, change, message):
    cfg = OmegaConf.merge(eval_cfg(size=16, window=32), change)
    with pytest.raises(ConfigError, match=message):
        settings_for(cfg, tmp_path / "generator.pt")


# ---- report -----------------------------------------------------------------------------
def records() -> list[dict]:
    rows = []
    for i, (model_de, grey_de) in enumerate([(2.0, 5.0), (4.0, 3.0)]):
        row = {
            "path": f"/data/p{i}.png",
            "height": 10,
            "width": 12,
            "truth_colourfulness": 40.0 + 20 * i,
        }
        for predictor, de in (("model", model_de), ("grey", grey_de)):
            row.update(
                {
                    f"{predictor}/ab_l1": de * 2,
                    f"{predictor}/psnr": 30.0 - de,
                    f"{predictor}/ssim": 0.9,
                    f"{predictor}/delta_e_2000": de,
                    f"{predictor}/colourfulness": 25.0 if predictor == "model" else 0.0,
                    # the first page has no neutral pixel, so no neutral score
                    f"{predictor}/delta_e_2000_neutral": float("nan") if i == 0 else de / 2,
                    f"{predictor}/delta_e_2000_colour": de + 1,
                }
            )
        rows.append(row)
    return rows


def test_summarise_means_and_colourfulness_ratio_of_means():
    overall = summarise(records(), ["model", "grey"])
    assert overall["truth"]["colourfulness"] == 50.0
    assert overall["model"]["delta_e_2000"] == 3.0 and overall["grey"]["delta_e_2000"] == 4.0
    # a partial metric: the mean of the pages that have a score
    assert (
        overall["model"]["delta_e_2000_neutral"] == 2.0
        and overall["model"]["delta_e_2000_colour"] == 4.0
    )
    assert (
        overall["model"]["colourfulness_ratio"] == 0.5
        and overall["grey"]["colourfulness_ratio"] == 0.0
    )
    change = improvement_over_grey(overall)
    assert change["delta_e_2000"] == {"model": 3.0, "grey": 4.0, "difference": -1.0, "better": True}
    assert change["psnr"]["better"] and not change["ssim"]["better"]  # equal SSIM is not better
    assert change["colourfulness_ratio"]["better"]


def test_table_has_a_row_per_metric_and_says_better_or_worse():
    table = format_metrics_table(summarise(records(), ["model", "grey"]), ["model", "grey"])
    for label in ("ab-L1", "PSNR", "SSIM", "CIEDE2000", "colourfulness", "truth colourfulness"):
        assert label in table
    assert "better" in table and "WORSE" in table


def test_an_output_folder_is_claimed_once_and_never_reused(tmp_path):
    claim_output_folder(tmp_path / "a")  # new, or holding only Hydra's .hydra/ and log: fine
    with pytest.raises(FileExistsError, match="nothing is overwritten"):
        claim_output_folder(tmp_path / "a")  # a second evaluation started in the same second
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "metrics.json").write_text("{}")
    with pytest.raises(FileExistsError, match="already holds metrics.json"):
        claim_output_folder(tmp_path / "b")


def test_a_released_folder_loses_the_claim_and_partial_outputs_and_can_be_claimed_again(tmp_path):
    folder = tmp_path / "a"
    claim_output_folder(folder)
    (folder / ".hydra").mkdir()
    (folder / "per_image.csv").write_text("path\n")
    (folder / "tensorboard").mkdir()
    (folder / "tensorboard" / "events").write_text("")
    release_output_folder(folder)
    assert sorted(path.name for path in folder.iterdir()) == [".hydra"]  # Hydra's own files stay
    claim_output_folder(folder)


def test_json_has_no_nan_and_csv_has_a_row_per_image(tmp_path):
    write_metrics_json(tmp_path / "metrics.json", {"ratio": math.nan, "nested": [math.inf, 1.5]})
    assert json.loads((tmp_path / "metrics.json").read_text()) == {
        "ratio": None,
        "nested": [None, 1.5],
    }
    rows = records()
    rows[1]["path"] = "/elsewhere/odd \udcff name.png"  # not UTF-8, and outside the data folder
    write_per_image_csv(tmp_path / "per_image.csv", rows, Path("/data"))
    lines = (tmp_path / "per_image.csv").read_text(encoding="utf-8").splitlines()
    assert lines[0].startswith("path,height,width,truth_colourfulness,model/ab_l1")
    assert lines[1].startswith("p0.png,10,12,40,") and lines[2].startswith(
        "/elsewhere/odd \\udcff name.png,"
    )


def test_page_mode_grids_draw_the_prediction_as_colourise_writes_it():
    import torch

    from mangacolor.color import lightness_preserving_rgb, scaled_lab_to_rgb
    from mangacolor.inference.grids import comparison_grid

    lightness = torch.ones(1, 1, 8, 8)  # white paper
    fake = torch.full((1, 2, 8, 8), 0.8)  # a strong tint no white pixel can show
    clipped = comparison_grid(lightness, torch.zeros_like(fake), fake)
    kept = comparison_grid(
        lightness, torch.zeros_like(fake), fake, shown_rgb=lightness_preserving_rgb
    )
    bottom = slice(2 + 2 * 10, 2 + 2 * 10 + 8)  # third row: padding 2, rows of 8 + 2
    assert torch.allclose(
        kept[:, bottom, 2:10], lightness_preserving_rgb(lightness, fake)[0], atol=1e-6
    )
    assert torch.allclose(
        clipped[:, bottom, 2:10], scaled_lab_to_rgb(lightness, fake)[0], atol=1e-6
    )


def test_page_mode_scores_and_draws_the_written_page_whatever_the_compose_mode():
    from mangacolor.evaluation.page_loop import score_group
    from mangacolor.evaluation.scoring import SHOWN_RGB
    from mangacolor.metrics import ab_l1, mean_delta_e_2000

    torch.manual_seed(0)
    truth_rgb = torch.rand(2, 3, 12, 10)
    written = torch.rand(2, 3, 12, 10)  # what colourise wrote: not the true L with the predicted ab
    raw_ab = torch.rand(2, 2, 12, 10) * 0.4 - 0.2
    columns, truth, drawn = score_group(
        lambda lightness: (raw_ab, written), truth_rgb, {}, SHOWN_RGB["page"]
    )
    assert torch.allclose(
        torch.cat(rgb_to_scaled_lab(written), dim=1), drawn
    )  # the grids draw the written page
    assert columns["model/delta_e_2000"] == pytest.approx(
        mean_delta_e_2000(rgb_to_lab(written), rgb_to_lab(truth_rgb)).tolist(), rel=1e-5
    )
    assert columns["model/ab_l1"] == pytest.approx(
        ab_l1(raw_ab * 110, truth.ab * 110).tolist(), rel=1e-5
    )  # the raw ab
