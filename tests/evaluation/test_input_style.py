"""mangacolor-eval's input styles: held-out colour pages printed as B&W pages by training's
synthesis, scored against the truth with the B&W page as a baseline, at page size and reading scale."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from helpers.eval_runs import compose_eval, evaluate_config
from helpers.pages import make_pages

from mangacolor.data.print_settings import PrintSettings
from mangacolor.evaluation.page_loop import printed_inputs, reading_scale
from mangacolor.inference.generator_file import export_generator
from mangacolor.models.components import UNetGenerator
from mangacolor.runtime.config_errors import ConfigError

GENERATOR = {
    "depth": 3,
    "width": 4,
    "max_width": 8,
    "norm": "batch",
    "dropout": 0.0,
    "dropout_blocks": 0,
    "out_channels": 3,
}


@pytest.fixture
def full_color_generator(tmp_path: Path) -> Path:
    torch.manual_seed(1)
    generator = UNetGenerator(**GENERATOR)
    with torch.no_grad():
        for parameter in generator.parameters():
            parameter.normal_(0.0, 0.3)
    return export_generator(generator, GENERATOR, tmp_path / "generator.pt", training_size=16)


def test_reading_scale_shrinks_at_least_four_times_or_to_a_short_side_of_256():
    assert reading_scale(torch.rand(1, 3, 400, 300)).shape[-2:] == (100, 75)  # 4x
    assert reading_scale(torch.rand(1, 3, 2048, 1536)).shape[-2:] == (
        341,
        256,
    )  # to 256, which is more
    flat = torch.full((1, 3, 64, 64), 0.5)
    assert torch.allclose(reading_scale(flat), flat[..., :16, :16])  # area averaging keeps a tone


def test_a_page_is_printed_the_same_way_each_time_and_differently_from_another():
    rgb = torch.rand(1, 3, 96, 80)
    first = printed_inputs(rgb, ["a.png"], "screentone", PrintSettings())
    assert torch.equal(first, printed_inputs(rgb, ["a.png"], "screentone", PrintSettings()))
    assert not torch.equal(first, printed_inputs(rgb, ["b.png"], "screentone", PrintSettings()))


def test_page_mode_scores_b_and_w_pages_against_the_b_and_w_page_at_both_scales(
    tmp_path, full_color_generator
):
    pages = tmp_path / "held out"
    make_pages(pages, 3, (80, 64), seed=4)
    base = [
        f"ckpt_path={full_color_generator}",
        f"data.test_dir={pages}",
        "eval.mode=page",
        "eval.input_style=screentone",
        "eval.grid_images=0",
        "data.num_workers=0",
        "eval.progress=false",
    ]
    payload = evaluate_config(compose_eval(base, tmp_path / "eval"))
    overall = payload["overall"]
    for predictor in ("model", "grey", "bw", "model@reading", "grey@reading", "bw@reading"):
        assert set(overall[predictor]) >= {"delta_e_2000", "ssim", "colourfulness_ratio"}, predictor
    assert overall["bw"]["colourfulness"] < 1.0  # the B&W page holds no colour
    # grey keeps the true L: closer to the truth than the printed page, whose tones became ink and paper
    assert overall["grey"]["delta_e_2000"] < overall["bw"]["delta_e_2000"]
    again = evaluate_config(compose_eval(base, tmp_path / "again"))["overall"]
    assert (
        again["bw"] == overall["bw"] and again["model"] == overall["model"]
    )  # a fixed print per page
    plain = evaluate_config(
        compose_eval(
            [*base[:3], "eval.grid_images=0", "data.num_workers=0", "eval.progress=false"],
            tmp_path / "plain",
        )
    )["overall"]
    assert "bw" not in plain and plain["grey"] == overall["grey"]


def test_an_unknown_input_style_names_the_key(tmp_path, full_color_generator):
    pages = tmp_path / "pages"
    make_pages(pages, 1, (40, 40))
    with pytest.raises(ConfigError, match="eval.input_style"):
        evaluate_config(
            compose_eval(
                [
                    f"ckpt_path={full_color_generator}",
                    f"data.test_dir={pages}",
                    "eval.input_style=sepia",
                ],
                tmp_path / "eval",
            )
        )
