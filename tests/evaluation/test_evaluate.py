"""mangacolor.evaluation.evaluate end to end, on tiny folders with a tiny checkpoint made here: page
and crop modes, compose modes, Lightning checkpoints, hostile folders, limits, progress and failures,
every number checked against a recomputation (tests/helpers/eval_runs.py). The console script's own
tests are in tests/commands/test_eval.py."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from helpers.cli import SHARED
from helpers.eval_runs import (
    GENERATOR,
    METRICS,
    SIZE,
    WINDOW,
    check_against_recomputation,
    compose_eval,
    evaluate_config,
    lightning_style_checkpoint,
    make_held_out,
    make_tiny_run,
    read_outputs,
)
from helpers.hostile_files import make_hostile_folder
from helpers.pages import make_pages
from kornia.color import rgb_to_lab
from omegaconf import OmegaConf
from PIL import Image

from mangacolor.color import rgb_to_scaled_lab, scaled_lab_to_rgb
from mangacolor.data.files import read_image
from mangacolor.data.transforms import PageCropper
from mangacolor.inference.generator_file import export_generator, load_generator
from mangacolor.metrics import mean_delta_e_2000, psnr
from mangacolor.models.components import UNetGenerator
from mangacolor.runtime.config_errors import ConfigError


@pytest.fixture
def tiny_run(tmp_path: Path) -> Path:
    return make_tiny_run(tmp_path)


@pytest.fixture
def held_out(tmp_path: Path) -> Path:
    return make_held_out(tmp_path)


@pytest.mark.parametrize(
    "mode, chroma",
    [("auto", 1.0), ("lightness", 1.0), ("ink", 1.0), ("predicted", 1.0), ("ink", 0.5)],
)
def test_page_mode_scores_what_colorize_writes_in_every_compose_mode(
    tmp_path, held_out, mode, chroma
):
    from mangacolor.colorize.job import colorize
    from mangacolor.colorize.settings import ColorizeSettings

    config = {**GENERATOR, "out_channels": 3}  # a full-colour generator, which every mode can use
    torch.manual_seed(3)
    generator = UNetGenerator(**config)
    with torch.no_grad():
        for parameter in generator.parameters():
            parameter.normal_(0.0, 0.3)
    ckpt = export_generator(generator, config, tmp_path / "generator.pt", training_size=SIZE)
    base = [
        f"ckpt_path={ckpt}",
        f"data.test_dir={held_out}",
        "eval.mode=page",
        f"eval.compose={mode}",
        f"eval.chroma={chroma}",
        "eval.grid_images=0",
        "data.num_workers=0",
        "eval.progress=false",
    ]
    payload = evaluate_config(compose_eval(base, tmp_path / "eval"))
    assert payload["settings"]["compose"] == mode and payload["settings"]["chroma"] == chroma
    _, rows = read_outputs(tmp_path / "eval")
    colored = tmp_path / "coloured"
    summary = colorize(
        ColorizeSettings(
            ckpt,
            held_out,
            colored,
            format="png",
            device="cpu",
            precision="32-true",
            num_workers=0,
            progress=False,
            compose=mode,
            chroma=chroma,
            recolor_color_pages=True,
        )
    )
    assert summary.colored == len(rows)
    for row in rows:
        truth = read_image(held_out / row["path"])[None].float() / 255
        written = read_image((colored / row["path"]).with_suffix(".png"))[None].float() / 255
        assert float(row["model/psnr"]) == pytest.approx(psnr(written, truth).item(), abs=0.05), (
            row["path"]
        )
        assert float(row["model/delta_e_2000"]) == pytest.approx(
            mean_delta_e_2000(rgb_to_lab(written), rgb_to_lab(truth)).item(), abs=0.05
        ), row["path"]


def test_page_mode_ink_with_an_ab_generator_is_a_clear_error(tmp_path, tiny_run, held_out):
    ckpt = tiny_run / "checkpoints" / "generator.pt"
    cfg = compose_eval(
        [f"ckpt_path={ckpt}", f"data.test_dir={held_out}", "eval.mode=page", "eval.compose=ink"],
        tmp_path / "eval",
    )
    with pytest.raises(ValueError, match=f"compose=ink needs a full-colour generator.*{ckpt}"):
        evaluate_config(cfg)
    assert list((tmp_path / "eval").iterdir()) == []  # the folder is given back for a retry
    with pytest.raises(ConfigError, match="eval.compose"):
        evaluate_config(
            compose_eval(
                [
                    f"ckpt_path={ckpt}",
                    f"data.test_dir={held_out}",
                    "eval.mode=page",
                    "eval.compose=multiply",
                ],
                tmp_path / "eval 2",
            )
        )
    with pytest.raises(ConfigError, match="eval.chroma"):
        evaluate_config(
            compose_eval(
                [
                    f"ckpt_path={ckpt}",
                    f"data.test_dir={held_out}",
                    "eval.mode=page",
                    "eval.chroma=-1",
                ],
                tmp_path / "eval 3",
            )
        )


# ---- the console script -----------------------------------------------------------------


def test_a_folder_holding_an_evaluation_is_refused_before_any_work(tmp_path, tiny_run, held_out):
    out = tmp_path / "out"
    overrides = [
        f"ckpt_path={tiny_run / 'checkpoints' / 'generator.pt'}",
        f"data.test_dir={held_out}",
        "data.num_workers=0",
        "eval.progress=false",
    ]
    evaluate_config(compose_eval(overrides, out))
    before = {
        name: (out / name).read_bytes() for name in ("metrics.json", "per_image.csv", "best.png")
    }
    with pytest.raises(FileExistsError, match="already holds .mangacolor-eval, metrics.json"):
        evaluate_config(compose_eval(overrides, out))
    assert before == {name: (out / name).read_bytes() for name in before}


# ---- in process: page mode, Lightning checkpoints, hostile folders -----------------------
def test_page_mode_scores_whole_pages_as_colorize_colours_them_from_a_lightning_checkpoint(
    tmp_path, tiny_run, held_out
):
    ckpt = lightning_style_checkpoint(
        tiny_run / "checkpoints" / "generator.pt", tiny_run / "checkpoints" / "last.ckpt"
    )
    out = tmp_path / "out"
    cfg = compose_eval(
        [
            f"ckpt_path={ckpt}",
            f"data.test_dir={held_out}",
            "eval.mode=page",
            "data.batch_size=3",
            "data.num_workers=0",
            "eval.progress=false",
            "eval.tensorboard=true",
        ],
        out,
    )
    payload = evaluate_config(cfg)
    metrics, rows = read_outputs(out)
    assert payload["images"] == metrics["images"] == 5 and metrics["settings"]["mode"] == "page"
    # This checkpoint records no training size: colorize's fallback, the generator's multiple (2**3).
    assert metrics["settings"]["short_side"] == 8
    assert {(row["height"], row["width"]) for row in rows} == {("40", "44"), ("37", "50")}
    assert "mean_ab" not in metrics["overall"] and metrics["mean_ab_baseline"] is None
    check_against_recomputation(
        metrics, rows, held_out, ckpt, "page", ("model", "grey"), short_side=8
    )
    assert any((out / "tensorboard").iterdir())
    with Image.open(out / "best.png") as image:  # pages fitted into grid_side squares
        side = cfg.eval.grid_side
        assert image.size == (5 * side + 6 * 2, 3 * side + 4 * 2)


def test_page_mode_scores_the_pages_mangacolor_colorize_writes(tmp_path, held_out):
    """Working size from the checkpoint's training size (or eval.short_side), the mean-ab baseline shown
    lightness-preserving too, and the model's numbers those of colorize's own output pages."""
    from mangacolor.colorize.job import colorize
    from mangacolor.colorize.settings import ColorizeSettings

    torch.manual_seed(2)
    generator = UNetGenerator(**GENERATOR)
    with torch.no_grad():
        for parameter in generator.parameters():
            parameter.normal_(0.0, 0.3)
    ckpt = export_generator(generator, GENERATOR, tmp_path / "generator.pt", training_size=SIZE)
    train = tmp_path / "train"
    make_pages(train, 3, (48, 40), seed=8)
    base = [
        f"ckpt_path={ckpt}",
        f"data.test_dir={held_out}",
        f"data.train_dir={train}",
        f"data.size={SIZE}",
        f"data.window={WINDOW}",
        "eval.mode=page",
        "data.num_workers=0",
        "eval.progress=false",
    ]

    payload = evaluate_config(compose_eval(base, tmp_path / "default"))
    assert payload["settings"]["short_side"] == SIZE  # as colorize: the size it was trained at
    metrics, rows = read_outputs(tmp_path / "default")
    mean_ab = torch.tensor(metrics["mean_ab_baseline"]["ab_lab_units"], dtype=torch.float64) / 110
    check_against_recomputation(
        metrics,
        rows,
        held_out,
        ckpt,
        "page",
        ("model", "grey", "mean_ab"),
        mean_ab,
        short_side=SIZE,
    )

    # The pages mangacolor-colorize writes (PNG, so only uint8 rounding apart) score what eval reported.
    # (The held-out pages are in colour: colourise would copy them unless told to recolour them.)
    colored = tmp_path / "coloured"
    colorize(
        ColorizeSettings.from_config(
            OmegaConf.create(
                {
                    "ckpt_path": str(ckpt),
                    "input": str(held_out),
                    "output": str(colored),
                    "format": "png",
                    "device": "cpu",
                    "trainer": {"precision": "32-true"},
                    "num_workers": 0,
                    "progress": False,
                    "recolor_color_pages": True,
                }
            )
        )
    )
    for row in rows:
        truth = read_image(held_out / row["path"])[None].float() / 255
        written = read_image((colored / row["path"]).with_suffix(".png"))[None].float() / 255
        assert float(row["model/psnr"]) == pytest.approx(psnr(written, truth).item(), abs=0.05), (
            row["path"]
        )

    payload = evaluate_config(compose_eval([*base, "eval.short_side=24"], tmp_path / "chosen"))
    assert payload["settings"]["short_side"] == 24
    metrics, rows = read_outputs(tmp_path / "chosen")
    check_against_recomputation(
        metrics, rows, held_out, ckpt, "page", ("model", "grey", "mean_ab"), mean_ab, short_side=24
    )


def test_crop_mode_scores_a_full_colour_generator_s_colour_page_with_its_own_lightness(
    tmp_path, held_out
):
    torch.manual_seed(3)
    generator = UNetGenerator(**GENERATOR, out_channels=3)
    with torch.no_grad():
        for parameter in generator.parameters():
            parameter.normal_(0.0, 0.3)
    ckpt = export_generator(generator, GENERATOR, tmp_path / "generator.pt", training_size=SIZE)
    out = tmp_path / "out"
    payload = evaluate_config(
        compose_eval(
            [
                f"ckpt_path={ckpt}",
                f"data.test_dir={held_out}",
                f"data.size={SIZE}",
                f"data.window={WINDOW}",
                "data.num_workers=0",
                "eval.progress=false",
            ],
            out,
        )
    )
    assert payload["generator"]["out_channels"] == 3
    metrics, rows = read_outputs(out)
    check_against_recomputation(metrics, rows, held_out, ckpt, "crop", ("model", "grey"))
    # The predicted L counts: shown on the page's own L instead, the same ab would score otherwise.
    loaded, _ = load_generator(ckpt)
    page = read_image(held_out / rows[0]["path"])
    rgb = PageCropper(SIZE, WINDOW, hflip=False)(
        page[None], torch.tensor([page.shape[1:]]), None, train=False
    )
    lightness, _ = rgb_to_scaled_lab(rgb)
    with torch.no_grad():
        fake = loaded(lightness)
    on_page_lightness = psnr(scaled_lab_to_rgb(lightness, fake[:, 1:]), rgb).item()
    assert float(rows[0]["model/psnr"]) != pytest.approx(on_page_lightness, abs=0.1)
    assert (tmp_path / "out" / "best.png").is_file()


def test_limit_and_bf16_precision(tmp_path, tiny_run, held_out):
    ckpt = tiny_run / "checkpoints" / "generator.pt"
    cfg = compose_eval(
        [
            f"ckpt_path={ckpt}",
            f"data.test_dir={held_out}",
            "eval.limit=2",
            "precision=bf16-mixed",
            "data.num_workers=0",
            "eval.progress=false",
        ],
        tmp_path / "out",
    )
    payload = evaluate_config(cfg)
    # The first two files by path: broken.png (skipped) and one page.
    assert payload["images"] == 1 and payload["skipped"] == 1
    assert payload["settings"]["precision"] == "bf16-mixed" and payload["settings"]["limit"] == 2


def test_progress_in_a_log_is_a_few_plain_lines(tmp_path, tiny_run, held_out, capsys):
    """stderr is not a terminal here: plain lines with the count and the running dE00, no redrawn bar."""
    cfg = compose_eval(
        [
            f"ckpt_path={tiny_run / 'checkpoints' / 'generator.pt'}",
            f"data.test_dir={held_out}",
            "data.batch_size=1",
            "data.num_workers=0",
        ],
        tmp_path / "out",
    )
    evaluate_config(cfg)
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("mangacolor-eval: ")]
    assert "\r" not in err
    # A line every twentieth of the images: here every one of the six (the first is the unreadable file).
    assert [line.split(",")[0] for line in lines] == [
        f"mangacolor-eval: {n}/6 ({100 * n / 6:.0f}%)" for n in range(1, 7)
    ]
    assert "dE00" in lines[-1] and "skipped 1" in lines[-1]


@pytest.mark.parametrize("mode", ["crop", "page"])
def test_hostile_folder_is_scored_with_every_bad_file_skipped_and_listed(tmp_path, tiny_run, mode):
    hostile = make_hostile_folder(tmp_path / "hostile")
    cfg = compose_eval(
        [
            f"ckpt_path={tiny_run / 'checkpoints' / 'generator.pt'}",
            f"data.test_dir={hostile.folder}",
            f"eval.mode={mode}",
            "data.num_workers=0",
            "eval.progress=false",
        ],
        tmp_path / "out",
    )
    payload = evaluate_config(cfg)
    _, rows = read_outputs(tmp_path / "out")
    scored = {row["path"] for row in rows}
    listed = {
        Path(entry["path"]).relative_to(hostile.folder).as_posix()
        for entry in payload["skipped_files"]
    }
    good = {name.encode("utf-8", "backslashreplace").decode() for name in hostile.good}
    assert scored == good
    assert listed == set(hostile.unreadable)
    assert payload["images"] == len(hostile.good) and payload["skipped"] == len(hostile.unreadable)


def test_missing_folder_or_checkpoint_fails_naming_the_key_before_the_folder_is_claimed(
    tmp_path, tiny_run
):
    ckpt = tiny_run / "checkpoints" / "generator.pt"
    empty = tmp_path / "empty"
    empty.mkdir()
    cases = [
        (
            [f"ckpt_path={ckpt}", f"data.test_dir={tmp_path / 'nope'}"],
            "data.test_dir: folder not found: .*nope",
        ),
        (
            [f"ckpt_path={tmp_path / 'missing.ckpt'}", f"data.test_dir={empty}"],
            "ckpt_path: checkpoint file not found",
        ),
        (
            [f"ckpt_path={ckpt}", f"data.test_dir={empty}", f"data.train_dir={tmp_path / 'gone'}"],
            "data.train_dir: folder not found",
        ),
    ]
    for overrides, message in cases:
        with pytest.raises(ConfigError, match=message):
            evaluate_config(compose_eval([*overrides, "eval.progress=false"], tmp_path / "out"))
        assert not (tmp_path / "out").exists()


def test_a_failed_evaluation_leaves_its_folder_free_for_a_retry(
    tmp_path, tiny_run, held_out, monkeypatch
):
    from mangacolor.evaluation import report

    out = tmp_path / "out"
    overrides = [
        f"ckpt_path={tiny_run / 'checkpoints' / 'generator.pt'}",
        f"data.test_dir={held_out}",
        "data.num_workers=0",
        "eval.progress=false",
        "eval.tensorboard=true",
    ]

    def full_disk(
        *args, **kwargs
    ):  # the last write fails: per_image.csv, grids and tensorboard/ are there
        assert {"per_image.csv", "best.png", "worst.png", "tensorboard"} <= {
            path.name for path in out.iterdir()
        }
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(report, "write_metrics_json", full_disk)
    with pytest.raises(OSError, match="No space left"):
        evaluate_config(compose_eval(overrides, out))
    assert out.is_dir() and not any(out.iterdir())  # no claim and no partial outputs left behind

    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(FileNotFoundError, match="no image files"):  # a failure after claiming, too
        evaluate_config(compose_eval([overrides[0], f"data.test_dir={empty}"], out))
    assert not any(out.iterdir())

    monkeypatch.undo()
    assert (
        evaluate_config(compose_eval(overrides, out))["images"] == 5
    )  # the retry in the same folder runs
    assert (out / "metrics.json").is_file()


def test_crop_mode_gives_training_validations_numbers(tmp_path, held_out):
    """Eval and validation share the crop and the metric functions: same checkpoint, same numbers."""
    from mangacolor.data.datamodule import PagesDataModule
    from mangacolor.models.pix2pix import Pix2Pix
    from mangacolor.models.validation import validation_scalars

    torch.manual_seed(1)
    model = Pix2Pix(
        generator=GENERATOR, discriminator={"channels": [8, 16], "stride1_channels": 16}
    ).eval()
    ckpt = tmp_path / "last.ckpt"
    torch.save({"state_dict": model.state_dict(), "hyper_parameters": dict(model.hparams)}, ckpt)

    datamodule = PagesDataModule(
        train_dir=str(held_out),
        val_dir=str(held_out),
        size=SIZE,
        window=WINDOW,
        batch_size=4,
        num_workers=0,
    )
    datamodule.setup("validate")
    model.on_validation_epoch_start()
    with torch.no_grad():
        for index, batch in enumerate(datamodule.val_dataloader()):
            model.validation_step(datamodule.to_lab_batch(batch, train=False), index)
    validation = {
        name.removeprefix("val/"): value
        for name, value in validation_scalars(model._val_sums).items()
    }

    cfg = compose_eval(
        [
            f"ckpt_path={ckpt}",
            f"data.test_dir={held_out}",
            f"data.size={SIZE}",
            f"data.window={WINDOW}",
            "data.num_workers=0",
            "eval.progress=false",
        ],
        tmp_path / "out",
    )
    overall = evaluate_config(cfg)["overall"]
    assert overall["model"]["ab_l1"] == pytest.approx(validation["ab_l1"], abs=1e-4)
    assert overall["grey"]["ab_l1"] == pytest.approx(validation["grey_ab_l1"], abs=1e-4)
    # Validation's truth is RGB rebuilt from (L, ab); eval's is the page itself: a float32 round trip apart.
    assert overall["model"]["psnr"] == pytest.approx(validation["psnr"], abs=1e-3)
    assert overall["grey"]["psnr"] == pytest.approx(validation["grey_psnr"], abs=1e-3)


# ---- with a real training run and the shared data ----------------------------------------


CLIPART_VAL = SHARED / "data" / "clipart" / "val"


@pytest.mark.skipif(
    not CLIPART_VAL.is_dir(), reason="the shared clipart pages are not on this machine"
)
def test_shared_clipart_pages_are_scored(tmp_path, tiny_run):
    cfg = compose_eval(
        [
            f"ckpt_path={tiny_run / 'checkpoints' / 'generator.pt'}",
            f"data.test_dir={CLIPART_VAL}",
            "eval.limit=6",
            "data.num_workers=0",
            "eval.progress=false",
        ],
        tmp_path / "out",
    )
    payload = evaluate_config(cfg)
    metrics, rows = read_outputs(tmp_path / "out")
    assert payload["images"] + payload["skipped"] == 6 and len(rows) == payload["images"]
    for predictor in ("model", "grey"):
        assert all(metrics["overall"][predictor][metric] is not None for metric in METRICS)
