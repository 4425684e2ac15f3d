"""mangacolor-eval's hint sweep (eval.hints): the hint files it writes are the ones colorize reads,
the counts' sets are nested, metrics.json has every count, method and metric, the picture is an
image, a model without hint inputs and crop mode are refused, and the default eval writes nothing
of it."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import pytest
import torch
from helpers.eval_runs import GENERATOR, METRICS, compose_eval, evaluate_config
from helpers.pages import make_pages
from kornia.color import rgb_to_lab
from PIL import Image

from mangacolor.color import rgb_to_scaled_lab
from mangacolor.data.files import read_image
from mangacolor.evaluation.hint_baselines import nearest_hint_ab, nearest_hint_ab_counts
from mangacolor.evaluation.hint_sampling import hint_sets
from mangacolor.hints.marks import Dot, PageHints
from mangacolor.hints.raster import hint_channels
from mangacolor.inference.generator_file import export_generator, load_generator
from mangacolor.inference.hint_files import read_hint_file
from mangacolor.inference.page_colorizer import PageColorizer
from mangacolor.metrics import mean_delta_e_2000
from mangacolor.models.components import UNetGenerator
from mangacolor.runtime.config_errors import ConfigError

COUNTS = (0, 1, 2, 5)
SWEEP_METRICS = (*METRICS, "colourfulness_ratio", "delta_e_2000_hinted", "delta_e_2000_ring")


def hint_generator(folder: Path) -> Path:
    """A tiny random ab U-Net whose input takes hints (L + hint colour + mask)."""
    torch.manual_seed(2)
    generator = UNetGenerator(**GENERATOR, in_channels=1 + hint_channels("ab"))
    with torch.no_grad():
        for parameter in generator.parameters():
            parameter.normal_(0.0, 0.3)
    return export_generator(generator, GENERATOR, folder / "generator.pt", training_size=16)


@pytest.fixture
def pages(tmp_path: Path) -> Path:
    folder = tmp_path / "held out"
    make_pages(folder, 2, (48, 40), seed=7)
    make_pages(folder / "sub", 1, (36, 44), seed=8, suffix=".jpg")
    return folder


def sweep_args(ckpt: Path, pages: Path, *extra: str) -> list[str]:
    return [
        f"ckpt_path={ckpt}",
        f"data.test_dir={pages}",
        "eval.mode=page",
        "eval.grid_images=0",
        "data.num_workers=0",
        "eval.progress=false",
        f"eval.hints=[{','.join(map(str, COUNTS))}]",
        *extra,
    ]


def test_the_sweep_writes_hint_files_colorize_reads_and_scores_every_count_and_method(
    tmp_path, pages
):
    ckpt = hint_generator(tmp_path)
    out = tmp_path / "eval"
    payload = evaluate_config(compose_eval(sweep_args(ckpt, pages, "eval.tensorboard=true"), out))
    section = payload["hints"]
    assert section["counts"] == list(COUNTS) and section["pages"] == 3
    assert json.loads((out / "metrics.json").read_text())["hints"]["counts"] == list(COUNTS)
    for count in COUNTS:
        assert set(section["per_count"][str(count)]) == {
            "truth",
            "model",
            "nearest_hint",
            "paint_bucket",
            "grey",
        }
        for method in ("model", "nearest_hint", "paint_bucket", "grey"):
            assert set(section["per_count"][str(count)][method]) >= set(SWEEP_METRICS), (
                count,
                method,
            )
    zero = section["per_count"]["0"]
    # k = 0 is the automatic colouring, and with no hint both baselines are the grey page
    assert zero["model"]["delta_e_2000"] == pytest.approx(
        payload["overall"]["model"]["delta_e_2000"], rel=1e-6
    )
    assert (
        zero["paint_bucket"]["delta_e_2000"]
        == zero["nearest_hint"]["delta_e_2000"]
        == zero["grey"]["delta_e_2000"]
    )
    assert math.isnan(zero["model"]["delta_e_2000_hinted"] or math.nan)
    five = section["per_count"]["5"]
    assert (
        five["paint_bucket"]["delta_e_2000"] < five["grey"]["delta_e_2000"]
    )  # the truth's colour helps

    with open(out / "per_image_hints.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 3 * len(COUNTS)
    for relative in ("page_000.png", "page_001.png", "sub/page_000.jpg"):
        page = read_image(pages / relative)
        size = tuple(page.shape[1:])
        true_lab = rgb_to_lab(page[None].float() / 255)
        expected = hint_sets(true_lab[0], relative, COUNTS)
        assert not (out / "hints" / "0").exists()  # no hints needs no file
        previous = ()
        for count in COUNTS[1:]:
            read = read_hint_file(
                out / "hints" / str(count) / Path(relative).with_suffix(".json"), size
            )
            assert read == expected[count] and len(read.marks) == count
            assert read.marks[: len(previous)] == previous  # nested: the 2 hints are among the 5
            previous = read.marks
    assert (out / "tensorboard").is_dir()


def test_the_model_s_score_is_reproduced_from_the_hint_file(tmp_path, pages):
    ckpt = hint_generator(tmp_path)
    out = tmp_path / "eval"
    evaluate_config(compose_eval(sweep_args(ckpt, pages), out))
    with open(out / "per_image_hints.csv", newline="", encoding="utf-8") as handle:
        row = next(
            r for r in csv.DictReader(handle) if r["path"] == "page_001.png" and r["hints"] == "5"
        )
    page = read_image(pages / "page_001.png")
    hints = read_hint_file(out / "hints" / "5" / "page_001.json", tuple(page.shape[1:]))
    generator, _ = load_generator(ckpt)
    lightness, _ = rgb_to_scaled_lab(page[None].float() / 255)
    [colored] = PageColorizer(generator, 16, precision="32-true").color_lightness(
        [lightness], [hints]
    )
    truth = page[None].float() / 255
    expected = mean_delta_e_2000(rgb_to_lab(colored.rgb), rgb_to_lab(truth)).item()
    assert float(row["model/delta_e_2000"]) == pytest.approx(expected, rel=1e-4)


def test_printed_pages_are_swept_against_the_b_and_w_page_and_the_curve_is_a_picture(
    tmp_path, pages
):
    ckpt = hint_generator(tmp_path)
    out = tmp_path / "eval"
    payload = evaluate_config(
        compose_eval(
            sweep_args(
                ckpt,
                pages,
                "eval.input_style=screentone",
                "eval.upsample=guided",
                "eval.bucket_tolerance=4",
            ),
            out,
        )
    )
    section = payload["hints"]
    assert section["curve_scale"] == "reading" and section["bucket_tolerance"] == 4
    assert payload["settings"]["upsample"] == "guided"
    for count in COUNTS:
        means = section["per_count"][str(count)]
        flat = section["per_count"]["0"]["bw@reading"]
        assert means["bw@reading"]["delta_e_2000"] == flat["delta_e_2000"]  # a flat line
    # no hint: the baselines are the B&W page itself
    zero = section["per_count"]["0"]
    assert zero["paint_bucket@reading"]["delta_e_2000"] == zero["bw@reading"]["delta_e_2000"]
    assert (
        set(zero) >= {"model@reading", "nearest_hint@reading", "grey@reading"}
        and "model" not in zero
    )
    with Image.open(out / "hints_curve.png") as image:
        assert image.format == "PNG" and image.mode == "RGB" and min(image.size) >= 400
        colors = {color for _, color in image.getcolors(maxcolors=1 << 16)}
    assert (214, 39, 40) in colors  # the model's line is drawn


def test_a_generator_without_hint_inputs_is_refused_a_sweep_but_not_zero_hints(tmp_path, pages):
    torch.manual_seed(0)
    plain = export_generator(
        UNetGenerator(**GENERATOR), GENERATOR, tmp_path / "plain.pt", training_size=16
    )
    with pytest.raises(ConfigError, match=r"^eval\.hints: .*takes no hints"):
        evaluate_config(compose_eval(sweep_args(plain, pages), tmp_path / "refused"))
    assert not (tmp_path / "refused" / "hints").exists()  # the failed run leaves its folder free
    args = [a for a in sweep_args(plain, pages) if not a.startswith("eval.hints")] + [
        "eval.hints=[0]"
    ]
    payload = evaluate_config(compose_eval(args, tmp_path / "zero"))
    assert list(payload["hints"]["per_count"]) == ["0"]


def test_crop_mode_refuses_a_sweep_with_one_line(tmp_path, pages):
    ckpt = hint_generator(tmp_path)
    args = [a for a in sweep_args(ckpt, pages) if a != "eval.mode=page"] + [
        "data.size=16",
        "data.window=32",
    ]
    with pytest.raises(ConfigError, match="eval.hints: .*eval.mode=page"):
        evaluate_config(compose_eval(args, tmp_path / "eval"))
    with pytest.raises(ConfigError, match="eval.hints must be"):
        evaluate_config(compose_eval(sweep_args(ckpt, pages, "eval.hints=[-1]"), tmp_path / "bad"))


def test_without_eval_hints_nothing_of_the_sweep_is_run_or_written_and_a_hint_model_colors_crops(
    tmp_path, pages
):
    ckpt = hint_generator(tmp_path)
    base = [a for a in sweep_args(ckpt, pages) if not a.startswith(("eval.hints", "eval.mode"))]
    out = tmp_path / "crop"
    payload = evaluate_config(compose_eval([*base, "data.size=16", "data.window=32"], out))
    assert "hints" not in payload and payload["settings"]["hints"] is None
    assert not any(
        (out / name).exists() for name in ("hints", "per_image_hints.csv", "hints_curve.png")
    )


def test_nearest_hint_for_every_count_at_once_is_each_prefix_s_nearest_hint():
    lightness = torch.zeros(1, 1, 12, 15)
    hints = PageHints((Dot(2, 3, "#ff0000", 3), Dot(10, 8, "#00ff00", 3), Dot(7, 1, "#0000ff", 3)))
    found = nearest_hint_ab_counts(lightness, hints, [0, 1, 2, 3, 5])
    for count in (0, 1, 2, 3, 5):
        assert torch.equal(found[count], nearest_hint_ab(lightness, PageHints(hints.marks[:count])))


def test_each_count_s_bucket_page_is_the_bucket_baseline_composed_for_that_count():
    from mangacolor.color import lightness_preserving_rgb
    from mangacolor.evaluation.hint_baselines import paint_bucket
    from mangacolor.evaluation.hint_sweep import HintSweep
    from mangacolor.evaluation.scoring import Truth

    rgb = torch.rand(1, 3, 30, 34)
    rgb[..., 5:25, 5:15] = torch.tensor([0.9, 0.2, 0.2])[:, None, None]
    rgb[..., 5:25, 18:30] = torch.tensor([0.2, 0.3, 0.9])[:, None, None]
    truth = Truth.from_rgb(rgb)
    sweep = HintSweep.__new__(HintSweep)
    sweep.counts, sweep.tolerance, sweep.flat = (0, 1, 3), 6.0, ("grey",)
    sweep.colorizer = type(
        "Stub",
        (),
        {
            "color_lightness": lambda self, pages, hints: [
                type(
                    "Page",
                    (),
                    {
                        "rgb": lightness_preserving_rgb(page, torch.zeros_like(truth.ab)),
                        "ab": torch.zeros_like(truth.ab),
                    },
                )()
                for page in pages
            ]
        },
    )()
    sets = hint_sets(truth.lab[0], "p.png", sweep.counts)
    shown = {
        (item.method, item.count): item for item in sweep._predictions(truth, truth.lightness, sets)
    }
    for count in (1, 3):
        expected = paint_bucket(truth.lightness, sets[count], 6.0)
        assert torch.allclose(shown[("paint_bucket", count)].rgb, expected, atol=1e-6)


def test_with_a_sweep_each_page_is_coloured_once_per_count_and_no_more(
    tmp_path, pages, monkeypatch
):
    """The summary's automatic colouring is the sweep's 0-hint one, not a second pass."""
    coloured = []
    original = PageColorizer.color_lightness

    def counting(self, lightness, hints=None):
        coloured.append(len(lightness))
        return original(self, lightness, hints)

    monkeypatch.setattr(PageColorizer, "color_lightness", counting)
    ckpt = hint_generator(tmp_path)
    payload = evaluate_config(compose_eval(sweep_args(ckpt, pages), tmp_path / "eval"))
    assert sum(coloured) == 3 * len(COUNTS)
    assert payload["hints"]["per_count"]["0"]["model"]["delta_e_2000"] == pytest.approx(
        payload["overall"]["model"]["delta_e_2000"], rel=1e-6
    )
    coloured.clear()  # without 0 among the counts, the summary colours each page itself
    args = [a for a in sweep_args(ckpt, pages) if not a.startswith("eval.hints")]
    evaluate_config(compose_eval([*args, "eval.hints=[2,5]"], tmp_path / "no zero"))
    assert sum(coloured) == 3 * 2 + 3
