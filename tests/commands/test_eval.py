"""mangacolor-eval end to end, on tiny folders with a tiny checkpoint made here.

Every number the command writes is checked against a recomputation in this file from the data,
colour and metric functions directly (crop: validation's window, padding, generator, gamut clipping;
page: mangacolor-colorize's PageColorizer and lightness-preserving RGB; the metrics).
"""

from __future__ import annotations

import csv
import math
import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from helpers.cli import SHARED, TINY, run_cli
from helpers.hostile_files import make_hostile_folder
from helpers.pages import make_pages
from hydra import compose, initialize_config_dir
from kornia.color import rgb_to_lab
from omegaconf import OmegaConf
from PIL import Image

import mangacolor
from mangacolor.color import (
    lightness_preserving_rgb,
    rgb_to_scaled_lab,
    scaled_lab_to_rgb,
)
from mangacolor.data.files import find_images, read_image
from mangacolor.data.transforms import PageCropper
from mangacolor.evaluation.evaluate import evaluate
from mangacolor.inference.generator_file import export_generator, load_generator
from mangacolor.inference.page_colorizer import PageColorizer
from mangacolor.metrics import ab_l1, colorfulness, delta_e_2000, mean_delta_e_2000, psnr, ssim
from mangacolor.models.components import UNetGenerator
from mangacolor.runtime.bundled import config_dir, register_resolvers
from mangacolor.runtime.config_errors import ConfigError

SIZE, WINDOW = 16, 32  # the tiny run's training crop, written into its .hydra/config.yaml
GENERATOR = {"depth": 3, "width": 4, "max_width": 8, "norm": "batch", "dropout": 0.0, "dropout_blocks": 0}
METRICS = ("ab_l1", "psnr", "ssim", "delta_e_2000", "delta_e_2000_neutral", "delta_e_2000_colour", "colourfulness")


@pytest.fixture
def tiny_run(tmp_path: Path) -> Path:
    """RUN/checkpoints/generator.pt of a random tiny U-Net, and RUN/.hydra/config.yaml as training writes it."""
    torch.manual_seed(0)
    generator = UNetGenerator(**GENERATOR)
    with torch.no_grad():  # bold random colours, not the near-grey output of a fresh N(0, 0.02) init
        for parameter in generator.parameters():
            parameter.normal_(0.0, 0.3)
    run = tmp_path / "run"
    (run / ".hydra").mkdir(parents=True)
    (run / ".hydra" / "config.yaml").write_text(f"data:\n  size: {SIZE}\n  window: {WINDOW}\n  seed: ${{seed}}\n")
    export_generator(generator, GENERATOR, run / "checkpoints" / "generator.pt", iteration=4)
    return run


@pytest.fixture
def held_out(tmp_path: Path) -> Path:
    """Five pages of two sizes (one in a subfolder, JPEG) and one unreadable file."""
    folder = tmp_path / "held out"
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


# ---- the recomputation ------------------------------------------------------------------
def recompute(generator: UNetGenerator, page: torch.Tensor, mode: str, mean_ab: torch.Tensor | None = None,
              short_side: int | None = None) -> dict:
    """One page's per_image.csv row, from the building blocks."""
    height, width = page.shape[1:]
    if mode == "crop":
        rgb = PageCropper(SIZE, WINDOW, hflip=False)(page[None], torch.tensor([[height, width]]), None, train=False)
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
        [fake] = PageColorizer(generator, short_side, precision="32-true").predict_pages_ab([lightness])
        shown_rgb = lightness_preserving_rgb
    predictions = {"model": fake, "grey": torch.zeros_like(ab)}
    if mean_ab is not None:
        predictions["mean_ab"] = mean_ab.float().view(1, 2, 1, 1).expand_as(ab)
    row = {"height": height, "width": width, "truth_colourfulness": colorfulness(rgb).item()}
    for name, prediction in predictions.items():
        # A full-colour generator's crop is shown with its own L; ab predictions on the page's.
        pred_lightness, pred_ab = (prediction[:, :1] if prediction.shape[1] == 3 else lightness), prediction[:, -2:]
        pred_rgb = shown_rgb(pred_lightness, pred_ab)
        row[f"{name}/ab_l1"] = ab_l1(pred_ab * 110, ab * 110).item()
        row[f"{name}/psnr"] = psnr(pred_rgb, rgb).item()
        row[f"{name}/ssim"] = ssim(pred_rgb, rgb).item()
        row[f"{name}/delta_e_2000"] = mean_delta_e_2000(rgb_to_lab(pred_rgb), rgb_to_lab(rgb)).item()
        differences = delta_e_2000(rgb_to_lab(pred_rgb), rgb_to_lab(rgb))[0]
        neutral = torch.hypot(*rgb_to_lab(rgb)[0, 1:]) < 5.0
        for part, where in (("neutral", neutral), ("colour", ~neutral)):
            row[f"{name}/delta_e_2000_{part}"] = differences[where].mean().item() if where.any() else float("nan")
        row[f"{name}/colourfulness"] = colorfulness(pred_rgb).item()
    return row


def mean_ab_of_crops(folder: Path) -> torch.Tensor:
    cropper = PageCropper(SIZE, WINDOW, hflip=False)
    pages = [read_image(path) for path in find_images(folder)]
    crops = [cropper(page[None], torch.tensor([page.shape[1:]]), None, train=False) for page in pages]
    return torch.stack([rgb_to_scaled_lab(crop)[1].mean(dim=(0, 2, 3)) for crop in crops]).mean(0)


def read_outputs(out: Path) -> tuple[dict, list[dict]]:
    metrics = json.loads((out / "metrics.json").read_text())
    with open(out / "per_image.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    return metrics, rows


def check_against_recomputation(metrics: dict, rows: list[dict], folder: Path, ckpt: Path, mode: str,
                                predictors: tuple[str, ...], mean_ab: torch.Tensor | None = None,
                                short_side: int | None = None) -> None:
    generator, _ = load_generator(ckpt)
    expected = {}
    for path in find_images(folder):
        try:
            page = read_image(path)
        except Exception:  # noqa: BLE001 - the unreadable file is checked by the caller
            continue
        expected[path.relative_to(folder).as_posix()] = recompute(generator, page, mode, mean_ab, short_side)
    assert [row["path"] for row in rows] == sorted(expected)  # one row per readable page, in path order
    for row in rows:
        want = expected[row["path"]]
        for key, value in want.items():
            assert float(row[key]) == pytest.approx(value, rel=2e-5, abs=2e-5), (row["path"], key)
    for predictor in predictors:
        for metric in METRICS:
            scored = [want[f"{predictor}/{metric}"] for want in expected.values()]
            scored = [value for value in scored if not math.isnan(value)]  # pages without neutral (or colour) pixels
            mean = sum(scored) / len(scored)
            assert metrics["overall"][predictor][metric] == pytest.approx(mean, rel=1e-5, abs=1e-5), (predictor, metric)
    truth = sum(want["truth_colourfulness"] for want in expected.values()) / len(expected)
    assert metrics["overall"]["truth"]["colourfulness"] == pytest.approx(truth, rel=1e-5)
    ratio = metrics["overall"]["model"]["colourfulness"] / truth
    assert metrics["overall"]["model"]["colourfulness_ratio"] == pytest.approx(ratio, rel=1e-5)


def compose_eval(overrides: list[str], run_dir: Path):
    register_resolvers()
    with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
        return compose("eval", overrides=[f"paths.run_dir={run_dir}", *overrides])


@pytest.mark.parametrize("mode, chroma", [("auto", 1.0), ("lightness", 1.0), ("ink", 1.0), ("predicted", 1.0),
                                          ("ink", 0.5)])
def test_page_mode_scores_what_colorize_writes_in_every_compose_mode(tmp_path, held_out, mode, chroma):
    from mangacolor.colorize.job import colorize
    from mangacolor.colorize.settings import ColorizeSettings

    config = {**GENERATOR, "out_channels": 3}  # a full-colour generator, which every mode can use
    torch.manual_seed(3)
    generator = UNetGenerator(**config)
    with torch.no_grad():
        for parameter in generator.parameters():
            parameter.normal_(0.0, 0.3)
    ckpt = export_generator(generator, config, tmp_path / "generator.pt", training_size=SIZE)
    base = [f"ckpt_path={ckpt}", f"data.test_dir={held_out}", "eval.mode=page", f"eval.compose={mode}",
            f"eval.chroma={chroma}", "eval.grid_images=0", "data.num_workers=0", "eval.progress=false"]
    payload = evaluate(compose_eval(base, tmp_path / "eval"))
    assert payload["settings"]["compose"] == mode and payload["settings"]["chroma"] == chroma
    _, rows = read_outputs(tmp_path / "eval")
    coloured = tmp_path / "coloured"
    summary = colorize(ColorizeSettings(ckpt, held_out, coloured, format="png", device="cpu", precision="32-true",
                                        num_workers=0, progress=False, compose=mode, chroma=chroma,
                                        recolor_color_pages=True))
    assert summary.coloured == len(rows)
    for row in rows:
        truth = read_image(held_out / row["path"])[None].float() / 255
        written = read_image((coloured / row["path"]).with_suffix(".png"))[None].float() / 255
        assert float(row["model/psnr"]) == pytest.approx(psnr(written, truth).item(), abs=0.05), row["path"]
        assert float(row["model/delta_e_2000"]) == pytest.approx(
            mean_delta_e_2000(rgb_to_lab(written), rgb_to_lab(truth)).item(), abs=0.05), row["path"]


def test_page_mode_ink_with_an_ab_generator_is_a_clear_error(tmp_path, tiny_run, held_out):
    ckpt = tiny_run / "checkpoints" / "generator.pt"
    cfg = compose_eval([f"ckpt_path={ckpt}", f"data.test_dir={held_out}", "eval.mode=page", "eval.compose=ink"],
                       tmp_path / "eval")
    with pytest.raises(ValueError, match=f"compose=ink needs a full-colour generator.*{ckpt}"):
        evaluate(cfg)
    assert list((tmp_path / "eval").iterdir()) == []  # the folder is given back for a retry
    with pytest.raises(ConfigError, match="eval.compose"):
        evaluate(compose_eval([f"ckpt_path={ckpt}", f"data.test_dir={held_out}", "eval.mode=page",
                               "eval.compose=multiply"], tmp_path / "eval 2"))
    with pytest.raises(ConfigError, match="eval.chroma"):
        evaluate(compose_eval([f"ckpt_path={ckpt}", f"data.test_dir={held_out}", "eval.mode=page",
                               "eval.chroma=-1"], tmp_path / "eval 3"))


# ---- the console script -----------------------------------------------------------------
def test_console_script_scores_crops_against_grey_and_mean_ab(tmp_path, tiny_run, held_out):
    ckpt = tiny_run / "checkpoints" / "generator.pt"
    train = tmp_path / "train"
    make_pages(train, 4, (48, 40), seed=7)
    out = tmp_path / "eval out"
    args = ["mangacolor-eval", f"ckpt_path={ckpt}", f"data.test_dir={held_out}", f"data.train_dir={train}",
            "data.num_workers=0", "eval.progress=false", "eval.grid_images=2", f"hydra.run.dir={out}"]
    result = run_cli(args, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]

    # The printed table: every metric, model against grey and the mean-ab baseline.
    for text in ("model", "grey", "mean-ab", "model - grey", "ab-L1", "PSNR", "SSIM", "CIEDE2000", "colourfulness"):
        assert text in result.stdout
    assert "mangacolor-eval: 5 images (1 unreadable skipped" in result.stdout

    metrics, rows = read_outputs(out)
    assert metrics["images"] == 5 and metrics["skipped"] == 1
    [skipped] = metrics["skipped_files"]
    assert skipped["path"] == str(held_out / "broken.png") and skipped["reason"]
    assert metrics["checkpoint"] == str(ckpt.resolve()) and metrics["data_dir"] == str(held_out.resolve())
    assert metrics["mangacolor_version"] == mangacolor.__version__
    assert metrics["generator"] == {**GENERATOR, "out_channels": 2}  # an ab generator
    settings = metrics["settings"]
    assert (settings["mode"], settings["size"], settings["window"]) == ("crop", SIZE, WINDOW)  # from the run
    assert settings["device"] == "cpu" and settings["precision"] == "32-true"
    assert set(metrics["improvement_over_grey"]) == {*METRICS, "colourfulness_ratio"}
    assert len(metrics["best"]) == len(metrics["worst"]) == 2
    ranked = sorted(rows, key=lambda row: float(row["model/delta_e_2000"]))
    assert [b["path"] for b in metrics["best"]] == [row["path"] for row in ranked[:2]]
    assert [w["path"] for w in metrics["worst"]] == [row["path"] for row in ranked[::-1][:2]]
    for grid in ("best.png", "worst.png"):
        with Image.open(out / grid) as image:
            assert image.size == (2 * SIZE + 3 * 2, 3 * SIZE + 4 * 2)  # 2 columns, rows L / truth / prediction

    baseline = metrics["mean_ab_baseline"]
    assert baseline["pages"] == 4 and baseline["skipped"] == 0
    mean_ab = torch.tensor(baseline["ab_lab_units"], dtype=torch.float64) / 110
    assert torch.allclose(mean_ab, mean_ab_of_crops(train).double(), atol=1e-5)
    check_against_recomputation(metrics, rows, held_out, ckpt, "crop", ("model", "grey", "mean_ab"), mean_ab)



def test_a_folder_holding_an_evaluation_is_refused_before_any_work(tmp_path, tiny_run, held_out):
    out = tmp_path / "out"
    overrides = [f"ckpt_path={tiny_run / 'checkpoints' / 'generator.pt'}", f"data.test_dir={held_out}",
                 "data.num_workers=0", "eval.progress=false"]
    evaluate(compose_eval(overrides, out))
    before = {name: (out / name).read_bytes() for name in ("metrics.json", "per_image.csv", "best.png")}
    with pytest.raises(FileExistsError, match="already holds .mangacolor-eval, metrics.json"):
        evaluate(compose_eval(overrides, out))
    assert before == {name: (out / name).read_bytes() for name in before}


# ---- in process: page mode, Lightning checkpoints, hostile folders -----------------------
def test_page_mode_scores_whole_pages_as_colorize_colours_them_from_a_lightning_checkpoint(tmp_path, tiny_run, held_out):
    ckpt = lightning_style_checkpoint(tiny_run / "checkpoints" / "generator.pt", tiny_run / "checkpoints" / "last.ckpt")
    out = tmp_path / "out"
    cfg = compose_eval([f"ckpt_path={ckpt}", f"data.test_dir={held_out}", "eval.mode=page", "data.batch_size=3",
                        "data.num_workers=0", "eval.progress=false", "eval.tensorboard=true"], out)
    payload = evaluate(cfg)
    metrics, rows = read_outputs(out)
    assert payload["images"] == metrics["images"] == 5 and metrics["settings"]["mode"] == "page"
    # This checkpoint records no training size: colorize's fallback, the generator's multiple (2**3).
    assert metrics["settings"]["short_side"] == 8
    assert {(row["height"], row["width"]) for row in rows} == {("40", "44"), ("37", "50")}
    assert "mean_ab" not in metrics["overall"] and metrics["mean_ab_baseline"] is None
    check_against_recomputation(metrics, rows, held_out, ckpt, "page", ("model", "grey"), short_side=8)
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
    base = [f"ckpt_path={ckpt}", f"data.test_dir={held_out}", f"data.train_dir={train}", f"data.size={SIZE}",
            f"data.window={WINDOW}", "eval.mode=page", "data.num_workers=0", "eval.progress=false"]

    payload = evaluate(compose_eval(base, tmp_path / "default"))
    assert payload["settings"]["short_side"] == SIZE  # as colorize: the size it was trained at
    metrics, rows = read_outputs(tmp_path / "default")
    mean_ab = torch.tensor(metrics["mean_ab_baseline"]["ab_lab_units"], dtype=torch.float64) / 110
    check_against_recomputation(metrics, rows, held_out, ckpt, "page", ("model", "grey", "mean_ab"), mean_ab,
                                short_side=SIZE)

    # The pages mangacolor-colorize writes (PNG, so only uint8 rounding apart) score what eval reported.
    # (The held-out pages are in colour: colourise would copy them unless told to recolour them.)
    coloured = tmp_path / "coloured"
    colorize(ColorizeSettings.from_config(OmegaConf.create({
        "ckpt_path": str(ckpt), "input": str(held_out), "output": str(coloured), "format": "png",
        "device": "cpu", "trainer": {"precision": "32-true"}, "num_workers": 0, "progress": False,
        "recolor_color_pages": True})))
    for row in rows:
        truth = read_image(held_out / row["path"])[None].float() / 255
        written = read_image((coloured / row["path"]).with_suffix(".png"))[None].float() / 255
        assert float(row["model/psnr"]) == pytest.approx(psnr(written, truth).item(), abs=0.05), row["path"]

    payload = evaluate(compose_eval([*base, "eval.short_side=24"], tmp_path / "chosen"))
    assert payload["settings"]["short_side"] == 24
    metrics, rows = read_outputs(tmp_path / "chosen")
    check_against_recomputation(metrics, rows, held_out, ckpt, "page", ("model", "grey", "mean_ab"), mean_ab,
                                short_side=24)


def test_crop_mode_scores_a_full_colour_generator_s_colour_page_with_its_own_lightness(tmp_path, held_out):
    torch.manual_seed(3)
    generator = UNetGenerator(**GENERATOR, out_channels=3)
    with torch.no_grad():
        for parameter in generator.parameters():
            parameter.normal_(0.0, 0.3)
    ckpt = export_generator(generator, GENERATOR, tmp_path / "generator.pt", training_size=SIZE)
    out = tmp_path / "out"
    payload = evaluate(compose_eval([f"ckpt_path={ckpt}", f"data.test_dir={held_out}", f"data.size={SIZE}",
                                     f"data.window={WINDOW}", "data.num_workers=0", "eval.progress=false"], out))
    assert payload["generator"]["out_channels"] == 3
    metrics, rows = read_outputs(out)
    check_against_recomputation(metrics, rows, held_out, ckpt, "crop", ("model", "grey"))
    # The predicted L counts: shown on the page's own L instead, the same ab would score otherwise.
    loaded, _ = load_generator(ckpt)
    page = read_image(held_out / rows[0]["path"])
    rgb = PageCropper(SIZE, WINDOW, hflip=False)(page[None], torch.tensor([page.shape[1:]]), None, train=False)
    lightness, _ = rgb_to_scaled_lab(rgb)
    with torch.no_grad():
        fake = loaded(lightness)
    on_page_lightness = psnr(scaled_lab_to_rgb(lightness, fake[:, 1:]), rgb).item()
    assert float(rows[0]["model/psnr"]) != pytest.approx(on_page_lightness, abs=0.1)
    assert (tmp_path / "out" / "best.png").is_file()


def test_limit_and_bf16_precision(tmp_path, tiny_run, held_out):
    ckpt = tiny_run / "checkpoints" / "generator.pt"
    cfg = compose_eval([f"ckpt_path={ckpt}", f"data.test_dir={held_out}", "eval.limit=2", "precision=bf16-mixed",
                        "data.num_workers=0", "eval.progress=false"], tmp_path / "out")
    payload = evaluate(cfg)
    # The first two files by path: broken.png (skipped) and one page.
    assert payload["images"] == 1 and payload["skipped"] == 1
    assert payload["settings"]["precision"] == "bf16-mixed" and payload["settings"]["limit"] == 2


def test_progress_in_a_log_is_a_few_plain_lines(tmp_path, tiny_run, held_out, capsys):
    """stderr is not a terminal here: plain lines with the count and the running dE00, no redrawn bar."""
    cfg = compose_eval([f"ckpt_path={tiny_run / 'checkpoints' / 'generator.pt'}", f"data.test_dir={held_out}",
                        "data.batch_size=1", "data.num_workers=0"], tmp_path / "out")
    evaluate(cfg)
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("mangacolor-eval: ")]
    assert "\r" not in err
    # A line every twentieth of the images: here every one of the six (the first is the unreadable file).
    assert [line.split(",")[0] for line in lines] == [f"mangacolor-eval: {n}/6 ({100 * n / 6:.0f}%)" for n in range(1, 7)]
    assert "dE00" in lines[-1] and "skipped 1" in lines[-1]


@pytest.mark.parametrize("mode", ["crop", "page"])
def test_hostile_folder_is_scored_with_every_bad_file_skipped_and_listed(tmp_path, tiny_run, mode):
    hostile = make_hostile_folder(tmp_path / "hostile")
    cfg = compose_eval([f"ckpt_path={tiny_run / 'checkpoints' / 'generator.pt'}", f"data.test_dir={hostile.folder}",
                        f"eval.mode={mode}", "data.num_workers=0", "eval.progress=false"], tmp_path / "out")
    payload = evaluate(cfg)
    _, rows = read_outputs(tmp_path / "out")
    scored = {row["path"] for row in rows}
    listed = {Path(entry["path"]).relative_to(hostile.folder).as_posix() for entry in payload["skipped_files"]}
    good = {name.encode("utf-8", "backslashreplace").decode() for name in hostile.good}
    assert scored == good
    assert listed == set(hostile.bad)
    assert payload["images"] == len(hostile.good) and payload["skipped"] == len(hostile.bad)


def test_missing_folder_or_checkpoint_fails_naming_the_key_before_the_folder_is_claimed(tmp_path, tiny_run):
    ckpt = tiny_run / "checkpoints" / "generator.pt"
    empty = tmp_path / "empty"
    empty.mkdir()
    cases = [([f"ckpt_path={ckpt}", f"data.test_dir={tmp_path / 'nope'}"], "data.test_dir: folder not found: .*nope"),
             ([f"ckpt_path={tmp_path / 'missing.ckpt'}", f"data.test_dir={empty}"], "ckpt_path: checkpoint file not found"),
             ([f"ckpt_path={ckpt}", f"data.test_dir={empty}", f"data.train_dir={tmp_path / 'gone'}"],
              "data.train_dir: folder not found")]
    for overrides, message in cases:
        with pytest.raises(ConfigError, match=message):
            evaluate(compose_eval([*overrides, "eval.progress=false"], tmp_path / "out"))
        assert not (tmp_path / "out").exists()


def test_the_console_script_takes_awkward_paths_and_fails_with_one_clear_line(tmp_path, tiny_run, held_out,
                                                                             monkeypatch, capsys):
    from mangacolor.commands import eval as entry_point

    ckpt = tiny_run / "checkpoints" / "[Grp] 漫画 (1), x.pt"
    (tiny_run / "checkpoints" / "generator.pt").rename(ckpt)
    pages = held_out.rename(tmp_path / "[Grp] held out, 1")
    out = tmp_path / "out"
    common = ["data.num_workers=0", "eval.progress=false", "eval.grid_images=1", f"hydra.run.dir={out}"]
    monkeypatch.setattr("sys.argv", ["mangacolor-eval", f"ckpt_path={ckpt}", f"data.test_dir={pages}", *common])
    entry_point.main()
    assert json.loads((out / "metrics.json").read_text())["images"] == 5

    missing = tmp_path / "no such [dir]"
    out = tmp_path / "out2"
    common[-1] = f"hydra.run.dir={out}"
    monkeypatch.setattr("sys.argv", ["mangacolor-eval", f"ckpt_path={ckpt}", f"data.test_dir={missing}", *common])
    with pytest.raises(SystemExit) as caught:
        entry_point.main()
    assert str(caught.value) == f"mangacolor-eval: error: data.test_dir: folder not found: {missing}"
    assert not (out / ".mangacolor-eval").exists()


def test_a_failed_evaluation_leaves_its_folder_free_for_a_retry(tmp_path, tiny_run, held_out, monkeypatch):
    from mangacolor.evaluation import report

    out = tmp_path / "out"
    overrides = [f"ckpt_path={tiny_run / 'checkpoints' / 'generator.pt'}", f"data.test_dir={held_out}",
                 "data.num_workers=0", "eval.progress=false", "eval.tensorboard=true"]
    def full_disk(*args, **kwargs):  # the last write fails: per_image.csv, grids and tensorboard/ are there
        assert {"per_image.csv", "best.png", "worst.png", "tensorboard"} <= {path.name for path in out.iterdir()}
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(report, "write_metrics_json", full_disk)
    with pytest.raises(OSError, match="No space left"):
        evaluate(compose_eval(overrides, out))
    assert out.is_dir() and not any(out.iterdir())  # no claim and no partial outputs left behind

    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(FileNotFoundError, match="no image files"):  # a failure after claiming, too
        evaluate(compose_eval([overrides[0], f"data.test_dir={empty}"], out))
    assert not any(out.iterdir())

    monkeypatch.undo()
    assert evaluate(compose_eval(overrides, out))["images"] == 5  # the retry in the same folder runs
    assert (out / "metrics.json").is_file()


def test_crop_mode_gives_training_validations_numbers(tmp_path, held_out):
    """Eval and validation share the crop and the metric functions: same checkpoint, same numbers."""
    from mangacolor.data.datamodule import PagesDataModule
    from mangacolor.models.pix2pix import Pix2Pix
    from mangacolor.models.validation import validation_scalars

    torch.manual_seed(1)
    model = Pix2Pix(generator=GENERATOR, discriminator={"channels": [8, 16], "stride1_channels": 16}).eval()
    ckpt = tmp_path / "last.ckpt"
    torch.save({"state_dict": model.state_dict(), "hyper_parameters": dict(model.hparams)}, ckpt)

    datamodule = PagesDataModule(train_dir=str(held_out), val_dir=str(held_out), size=SIZE, window=WINDOW,
                                 batch_size=4, num_workers=0)
    datamodule.setup("validate")
    model.on_validation_epoch_start()
    with torch.no_grad():
        for index, batch in enumerate(datamodule.val_dataloader()):
            model.validation_step(datamodule.to_lab_batch(batch, train=False), index)
    validation = {name.removeprefix("val/"): value for name, value in validation_scalars(model._val_sums).items()}

    cfg = compose_eval([f"ckpt_path={ckpt}", f"data.test_dir={held_out}", f"data.size={SIZE}", f"data.window={WINDOW}",
                        "data.num_workers=0", "eval.progress=false"], tmp_path / "out")
    overall = evaluate(cfg)["overall"]
    assert overall["model"]["ab_l1"] == pytest.approx(validation["ab_l1"], abs=1e-4)
    assert overall["grey"]["ab_l1"] == pytest.approx(validation["grey_ab_l1"], abs=1e-4)
    # Validation's truth is RGB rebuilt from (L, ab); eval's is the page itself: a float32 round trip apart.
    assert overall["model"]["psnr"] == pytest.approx(validation["psnr"], abs=1e-3)
    assert overall["grey"]["psnr"] == pytest.approx(validation["grey_psnr"], abs=1e-3)


# ---- with a real training run and the shared data ----------------------------------------
@pytest.mark.slow
def test_eval_of_a_tiny_training_run(tmp_path):
    """Train +debug=tiny, then evaluate its last.ckpt with the settings found in the run folder."""
    make_pages(tmp_path / "pages" / "train", 6, (48, 40), seed=1)
    make_pages(tmp_path / "pages" / "val", 3, (44, 44), seed=2)
    trained = run_cli(["mangacolor-train", *TINY, f"data.train_dir={tmp_path / 'pages' / 'train'}",
                       f"data.val_dir={tmp_path / 'pages' / 'val'}", f"hydra.run.dir={tmp_path / 'run'}"], cwd=tmp_path)
    assert trained.returncode == 0, trained.stderr[-3000:]
    result = run_cli(["mangacolor-eval", f"ckpt_path={tmp_path / 'run' / 'checkpoints' / 'last.ckpt'}",
                      f"data.test_dir={tmp_path / 'pages' / 'val'}", "data.num_workers=0", "eval.progress=false",
                      f"hydra.run.dir={tmp_path / 'eval'}"], cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert metrics["images"] == 3 and (metrics["settings"]["size"], metrics["settings"]["window"]) == (32, 64)


CLIPART_VAL = SHARED / "data" / "clipart" / "val"


@pytest.mark.skipif(not CLIPART_VAL.is_dir(), reason="the shared clipart pages are not on this machine")
def test_shared_clipart_pages_are_scored(tmp_path, tiny_run):
    cfg = compose_eval([f"ckpt_path={tiny_run / 'checkpoints' / 'generator.pt'}", f"data.test_dir={CLIPART_VAL}",
                        "eval.limit=6", "data.num_workers=0", "eval.progress=false"], tmp_path / "out")
    payload = evaluate(cfg)
    metrics, rows = read_outputs(tmp_path / "out")
    assert payload["images"] + payload["skipped"] == 6 and len(rows) == payload["images"]
    for predictor in ("model", "grey"):
        assert all(metrics["overall"][predictor][metric] is not None for metric in METRICS)
