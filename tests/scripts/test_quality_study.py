"""scripts/quality_study.py, the recipe study of docs/quality.md: its split, its table, and a tiny study
run end to end (train, evaluate twice, one JSON line per run, resume by skipping, the table)."""

from __future__ import annotations

import importlib.util
import json

import pytest
import yaml
from helpers.cli import REPO
from helpers.pages import make_pages


def load_script():
    spec = importlib.util.spec_from_file_location(
        "quality_study", REPO / "scripts" / "quality_study.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


study_script = load_script()


def test_the_test_split_is_carved_by_name_and_copied_not_linked(tmp_path):
    source = tmp_path / "source"
    make_pages(source / "train", 40, seed=1)
    make_pages(source / "val", 3, seed=2)
    splits = study_script.prepare_pages(source, tmp_path / "pages", test_every=4)

    names = {split: sorted(p.name for p in folder.iterdir()) for split, folder in splits.items()}
    assert sorted(names["train"] + names["test"]) == sorted(
        p.name for p in (source / "train").iterdir()
    )
    assert not set(names["train"]) & set(names["test"])
    assert 2 <= len(names["test"]) <= 20 and len(names["val"]) == 3
    assert all(study_script.stable_bucket(name, 4) == 0 for name in names["test"])
    assert not any(p.is_symlink() for folder in splits.values() for p in folder.iterdir())
    # The same split again (a resumed study), whatever order the files come in.
    again = study_script.prepare_pages(source, tmp_path / "again", test_every=4)
    assert sorted(p.name for p in again["test"].iterdir()) == names["test"]


def fake_result(recipe: str, seed: int, de: float, split: str = "val", budget: int = 64) -> dict:
    overall = {
        "model": {"delta_e_2000": de, "ssim": 0.8, "colourfulness_ratio": 0.6},
        "model@reading": {"delta_e_2000": de - 1, "ssim": 0.7, "colourfulness_ratio": 0.5},
        "grey": {"delta_e_2000": 10.0},
        "bw": {"delta_e_2000": 20.0},
        "bw@reading": {"delta_e_2000": 18.0},
    }
    return {
        "recipe": recipe,
        "seed": seed,
        "split": split,
        "budget_images": budget,
        "train_seconds": 120.0,
        "train_cpu_seconds": 230.0,
        "scores": {"plain": {"overall": overall}, "screentone": {"overall": overall}},
    }


def test_the_table_gives_each_recipe_its_mean_and_spread_over_seeds_against_the_baselines():
    study = {
        "eval": {"styles": ["plain", "screentone"]},
        "recipes": [{"name": "demo"}, {"name": "ema"}],
    }
    results = [
        fake_result("ema", 0, 9.0),
        fake_result("demo", 0, 11.0),
        fake_result("demo", 1, 13.0),
        fake_result("demo", 0, 12.0, split="test"),
        fake_result("demo", 0, 8.0, budget=3000),
    ]
    rows = study_script.table(results, study).splitlines()
    assert rows[0].startswith("| recipe | split | images | seeds | train min (CPU min) |")
    assert (
        "plain ΔE00 (vs grey)" in rows[0]
        and "screentone ΔE00 at reading scale (vs B&W page)" in rows[0]
    )
    assert rows[2].startswith(
        "| demo | val | 64 | 2 | 2.00 ± 0.00 (3.83 ± 0.00) | 12.00 ± 1.41 (10.00) | 0.80 ± 0.00 | 0.60 ± 0.00 | - |"
    )
    assert "plain ΔE00 on neutral / coloured truth (grey)" in rows[0]
    # B&W pages: the model and the B&W page itself at reading scale
    assert rows[2].endswith("| 11.00 ± 1.41 (18.00) | 0.70 ± 0.00 | 0.50 ± 0.00 |")
    assert rows[3].startswith("| ema | val | 64 | 1 |") and "9.00 (10.00)" in rows[3]
    # another budget is a row of its own, never averaged with the study's
    assert rows[4].startswith("| demo | val | 3,000 | 1 |") and "8.00 (10.00)" in rows[4]
    # where the error lies, for results that score it
    split = fake_result("ema", 0, 9.0, budget=5)
    for predictor, (neutral, color) in (("model", (3.0, 15.0)), ("grey", (0.1, 20.0))):
        split["scores"]["plain"]["overall"][predictor].update(
            delta_e_2000_neutral=neutral, delta_e_2000_colour=color
        )
    assert "| 3.00 / 15.00 (0.10 / 20.00) |" in study_script.table([split], study)
    assert rows[5].startswith("| demo | test | 64 | 1 |")  # test rows after every val row


@pytest.mark.slow
def test_a_tiny_study_trains_scores_records_resumes_and_tabulates(tmp_path):
    source = tmp_path / "clipart"
    make_pages(source / "train", 12, (72, 64), seed=1)
    make_pages(source / "val", 3, (64, 72), seed=2)
    study = {
        "pages": {"source": str(source), "folder": str(tmp_path / "pages"), "test_every": 4},
        "runs": str(tmp_path / "runs"),
        "results": str(tmp_path / "results.jsonl"),
        "budget_images": 8,
        "base": [
            "+experiment=demo",
            "+debug=tiny",
            "logger=csv",
            "train.val_every=1000000",
            "callbacks.checkpoint.every_n_iterations=1000000",
            "data.num_workers=0",
        ],
        "eval": {"styles": ["plain", "screentone"]},
        "recipes": [
            {"name": "tiny", "overrides": []},
            {"name": "tiny_l1", "overrides": ["model.adversarial.warmup_fraction=1.0"]},
        ],
    }
    (tmp_path / "study.yaml").write_text(yaml.safe_dump(study))
    doc = tmp_path / "quality.md"
    doc.write_text(
        f"# Quality\n\n{study_script.TABLE_START}\nold\n{study_script.TABLE_END}\n\nNotes.\n"
    )
    common = [
        "--study",
        str(tmp_path / "study.yaml"),
        "--eval-extra",
        "eval.limit=2",
        "data.num_workers=0",
    ]

    study_script.main(["run", *common])
    lines = [json.loads(line) for line in (tmp_path / "results.jsonl").read_text().splitlines()]
    assert [(r["recipe"], r["seed"], r["split"]) for r in lines] == [
        ("tiny", 0, "val"),
        ("tiny_l1", 0, "val"),
    ]
    for line in lines:
        assert line["iterations"] == 4 and line["batch_size"] == 2  # 8 images of batch 2
        assert line["train_seconds"] > 0 and line["train_cpu_seconds"] > 0
        plain, bw = line["scores"]["plain"]["overall"], line["scores"]["screentone"]["overall"]
        assert line["scores"]["plain"]["images"] == 2
        assert {"model", "grey", "model@reading"} <= set(plain) and "bw" in bw and "bw" not in plain
    run = tmp_path / "runs" / "budget8" / "tiny" / "seed0"
    assert (run / "checkpoints" / "generator.pt").is_file() and (
        run / "val" / "eval_screentone" / "metrics.json"
    ).is_file()

    study_script.main(["run", *common, "--only", "tiny", "--split", "test"])  # trains nothing new
    assert len((tmp_path / "results.jsonl").read_text().splitlines()) == 3
    study_script.main(["run", *common])  # everything done: skipped
    assert len((tmp_path / "results.jsonl").read_text().splitlines()) == 3

    # A score added to the study later is added to the finished runs, without training them again.
    trained = (run / "checkpoints" / "generator.pt").stat().st_mtime_ns
    study["eval"]["also"] = {
        "plain_lightness": {"style": "plain", "overrides": ["eval.compose=lightness"]}
    }
    (tmp_path / "study.yaml").write_text(yaml.safe_dump(study))
    study_script.main(["run", *common])
    lines = [json.loads(line) for line in (tmp_path / "results.jsonl").read_text().splitlines()]
    assert [(r["recipe"], r["split"]) for r in lines] == [
        ("tiny", "val"),
        ("tiny_l1", "val"),
        ("tiny", "test"),
    ]
    assert (
        all("plain_lightness" in r["scores"] for r in lines[:2])
        and "plain_lightness" not in lines[2]["scores"]
    )
    assert (run / "checkpoints" / "generator.pt").stat().st_mtime_ns == trained

    study_script.main(["table", "--study", str(tmp_path / "study.yaml"), "--doc", str(doc)])
    text = doc.read_text()
    assert "old" not in text and text.endswith("\n\nNotes.\n")
    assert (
        "| tiny | val | 8 | 1 |" in text
        and "| tiny | test | 8 | 1 |" in text
        and "| tiny_l1 | val | 8 | 1 |" in text
    )
    assert "plain_lightness ΔE00 (vs grey)" in text

    with pytest.raises(SystemExit, match="unknown recipes"):
        study_script.main(["run", *common, "--only", "nope"])


def test_the_study_config_names_at_least_twelve_recipes_and_the_demo_first():
    study = study_script.load_study(REPO / "conf" / "study" / "quality.yaml")
    names = [recipe["name"] for recipe in study["recipes"]]
    assert len(names) >= 12 and names[0] == "demo" and study["recipes"][0]["overrides"] == []


def test_extra_scores_of_bw_pages_are_read_at_reading_scale_like_the_styles():
    study = {
        "eval": {
            "styles": ["plain"],
            "also": {"screentone_half": {"style": "screentone", "overrides": []}},
        },
        "recipes": [{"name": "ema"}],
    }
    result = fake_result("ema", 0, 9.0)
    result["scores"]["screentone_half"] = result["scores"].pop("screentone")
    rows = study_script.table([result], study).splitlines()
    assert "screentone_half ΔE00 at reading scale (vs B&W page)" in rows[0]
    assert rows[2].endswith(
        "| 8.00 (18.00) | 0.50 |"
    )  # the model and the B&W page at reading scale


def test_scores_beyond_the_styles_and_a_result_rewritten_in_place(tmp_path):
    study = {
        "eval": {
            "styles": ["plain", "screentone"],
            "also": {
                "plain_lightness": {"style": "plain", "overrides": ["eval.compose=lightness"]}
            },
        }
    }
    assert study_script.score_settings(study) == {
        "plain": ("plain", []),
        "screentone": ("screentone", []),
        "plain_lightness": ("plain", ["eval.compose=lightness"]),
    }
    results = tmp_path / "results.jsonl"
    lines = [
        fake_result("demo", 0, 11.0),
        fake_result("ema", 0, 9.0),
        fake_result("ema", 0, 8.0, budget=5),
    ]
    results.write_text("".join(json.dumps(line) + "\n" for line in lines))
    rescored = fake_result("ema", 0, 9.0)
    rescored["scores"]["plain_lightness"] = {"overall": {"model": {"delta_e_2000": 7.0}}}
    study_script.rewrite_result(results, rescored)
    kept = study_script.read_results(results)
    assert [r["recipe"] for r in kept] == ["demo", "ema", "ema"]  # same lines, same order
    assert (
        "plain_lightness" in kept[1]["scores"] and "plain_lightness" not in kept[2]["scores"]
    )  # only its budget
    assert kept[0] == lines[0] and not (tmp_path / "results.tmp").exists()
