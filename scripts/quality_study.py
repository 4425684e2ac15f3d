#!/usr/bin/env python3
"""The recipe study of docs/quality.md: train each candidate recipe on one budget, score it, tabulate.

    python scripts/quality_study.py run                 # every recipe of conf/study/quality.yaml, seed 0
    python scripts/quality_study.py run --seeds 0,1,2 --only demo,ema   # more seeds for the leaders
    python scripts/quality_study.py run --split test --only demo,ema    # the chosen ones on the test split
    python scripts/quality_study.py table               # rewrite the table in docs/quality.md

Each recipe is `mangacolor-train` with the study's base overrides plus its own, for the same number
of training images (iterations x batch), then `mangacolor-eval` in page mode on the held-out split,
once per input kind the study lists: grey pages (scored against grey, the `plain` input) and B&W
manga pages made by the same synthesis as training's (scored against the B&W page itself). Every
finished (recipe, seed, split) appends one JSON line to the results file at once, so a study cut
short keeps what it measured, and a rerun skips what is already there: run it again to resume.

Splits: recipes are chosen on `val` (the clip art's own val folder); `test` is carved once from the
clip art's train folder by a hash of each file name (never trained on, never used for choosing).
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
TABLE_START, TABLE_END = "<!-- study-table:start -->", "<!-- study-table:end -->"
HEADLINE = ("delta_e_2000", "ssim", "psnr", "ab_l1", "colourfulness_ratio")


def load_study(path: Path) -> dict[str, Any]:
    study = yaml.safe_load(path.read_text())
    names = [recipe["name"] for recipe in study["recipes"]]
    if len(set(names)) != len(names):
        raise SystemExit(f"{path}: recipe names must be unique")
    return study


def stable_bucket(name: str, buckets: int) -> int:
    return int(hashlib.sha1(name.encode()).hexdigest()[:8], 16) % buckets


def prepare_pages(source: Path, folder: Path, test_every: int) -> dict[str, Path]:
    """Folders train/, test/ (carved from source/train by name hash) and val/ (source/val), as copies:
    the page finder refuses links that leave their folder."""
    splits = {split: folder / split for split in ("train", "test", "val")}
    if all(path.is_dir() and any(path.iterdir()) for path in splits.values()):
        return splits
    if not (source / "train").is_dir() or not (source / "val").is_dir():
        raise SystemExit(f"{source}: needs train/ and val/ folders of colour pages")
    for path in splits.values():
        path.mkdir(parents=True, exist_ok=True)
    for page in sorted((source / "train").iterdir()):
        split = "test" if stable_bucket(page.name, test_every) == 0 else "train"
        if not (splits[split] / page.name).exists():
            shutil.copyfile(page, splits[split] / page.name)
    for page in sorted((source / "val").iterdir()):
        if not (splits["val"] / page.name).exists():
            shutil.copyfile(page, splits["val"] / page.name)
    return splits


def batch_size_of(overrides: list[str]) -> int:
    """data.batch_size of the composed training config (the budget is counted in images)."""
    from hydra import compose, initialize_config_dir

    from mangacolor.runtime.bundled import config_dir, register_resolvers

    register_resolvers()
    with initialize_config_dir(str(config_dir()), version_base="1.3"):
        cfg = compose("train", overrides=overrides)
    return int(cfg.data.batch_size)


def git_commit() -> str:
    try:
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def read_results(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def result_key(recipe: str, seed: int, split: str, budget: int) -> tuple:
    return recipe, seed, split, budget


def children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_command(args: list[str], log: Path) -> tuple[float, float]:
    """Run a console script, its output to `log`; (wall seconds, CPU seconds) it took. Fails loudly.

    CPU seconds (user + system, all threads) are what a run costs whatever else shares the machine;
    wall seconds also count the waits behind other work."""
    start, cpu_start = time.perf_counter(), children_cpu_seconds()
    with open(log, "w") as handle:
        result = subprocess.run(
            args,
            stdout=handle,
            stderr=subprocess.STDOUT,
            cwd=log.parent,
            env={**os.environ, "HYDRA_FULL_ERROR": "1"},
        )
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(args[:2])} ... failed (exit {result.returncode}); see {log}")
    return time.perf_counter() - start, children_cpu_seconds() - cpu_start


def score_settings(study: dict[str, Any]) -> dict[str, tuple[str, list[str]]]:
    """Every score a run gets: name -> (input style, more eval overrides). The study's `styles` (each
    scored as mangacolor-colorize would colour it by default) and its `also` entries."""
    scores = {style: (style, []) for style in study["eval"]["styles"]}
    for name, spec in (study["eval"].get("also") or {}).items():
        scores[name] = (spec["style"], list(spec.get("overrides", [])))
    return scores


def evaluate(
    generator: Path,
    pages: Path,
    style: str,
    folder: Path,
    extra: list[str],
    name: str | None = None,
) -> dict[str, Any]:
    name = name or style
    out = folder / f"eval_{name}"
    if not (out / "metrics.json").is_file():
        args = [
            str(BIN / "mangacolor-eval"),
            f"ckpt_path={generator}",
            f"data.test_dir={pages}",
            "eval.mode=page",
            f"eval.input_style={style}",
            "eval.progress=false",
            f"hydra.run.dir={out}",
            *extra,
        ]
        folder.mkdir(parents=True, exist_ok=True)
        run_command(args, folder / f"eval_{name}.log")
    payload = json.loads((out / "metrics.json").read_text())
    return {
        "overall": payload["overall"],
        "images": payload["images"],
        "skipped": payload["skipped"],
        "seconds": payload["seconds"],
    }


def run_study(args: argparse.Namespace) -> None:
    study = load_study(args.study)
    results_path = args.results or REPO / study["results"]
    pages = prepare_pages(
        Path(args.pages or REPO / study["pages"]["source"]).resolve(),
        REPO / study["pages"]["folder"],
        study["pages"]["test_every"],
    )
    budget = int(args.budget or study["budget_images"])
    only = set(args.only.split(",")) if args.only else None
    seeds = [int(s) for s in args.seeds.split(",")]
    scoring = score_settings(study)
    done = {
        result_key(r["recipe"], r["seed"], r["split"], r["budget_images"]): r
        for r in read_results(results_path)
    }
    recipes = [r for r in study["recipes"] if only is None or r["name"] in only]
    if only and len(recipes) != len(only):
        raise SystemExit(f"unknown recipes: {sorted(only - {r['name'] for r in recipes})}")
    for recipe in recipes:
        for seed in seeds:
            run = (
                Path(args.runs or REPO / study["runs"])
                / f"budget{budget}"
                / recipe["name"]
                / f"seed{seed}"
            )
            generator = run / "checkpoints" / "generator.pt"
            key = result_key(recipe["name"], seed, args.split, budget)

            # this iteration's generator and run, bound now
            def score(name: str, generator: Path = generator, run: Path = run) -> dict[str, Any]:
                style, extra = scoring[name]
                return evaluate(
                    generator,
                    pages[args.split],
                    style,
                    run / args.split,
                    [*extra, *args.eval_extra],
                    name,
                )

            if key in done:
                missing = [name for name in scoring if name not in done[key]["scores"]]
                if (
                    missing and generator.is_file()
                ):  # a score added to the study since: only that is run
                    for name in missing:
                        done[key]["scores"][name] = score(name)
                    rewrite_result(results_path, done[key])
                    print(
                        f"{recipe['name']} seed {seed} {args.split}: added {', '.join(missing)}",
                        flush=True,
                    )
                else:
                    print(f"{recipe['name']} seed {seed} {args.split}: done, skipped", flush=True)
                continue
            overrides = [*study["base"], *recipe.get("overrides", []), *args.extra, f"seed={seed}"]
            batch = batch_size_of(overrides)
            iterations = max(1, budget // batch)
            train_seconds = train_cpu_seconds = None
            if not generator.is_file():
                run.mkdir(parents=True, exist_ok=True)
                train = [
                    str(BIN / "mangacolor-train"),
                    *overrides,
                    f"train.iterations={iterations}",
                    f"data.train_dir={pages['train']}",
                    f"data.val_dir={pages['val']}",
                    "trainer.enable_progress_bar=false",
                    f"hydra.run.dir={run}",
                ]
                print(
                    f"{recipe['name']} seed {seed}: training {iterations} iterations x {batch}",
                    flush=True,
                )
                train_seconds, train_cpu_seconds = run_command(
                    train, run.parent / f"seed{seed}.train.log"
                )
            scores = {name: score(name) for name in scoring}
            line = {
                "recipe": recipe["name"],
                "overrides": recipe.get("overrides", []),
                "seed": seed,
                "split": args.split,
                "budget_images": budget,
                "batch_size": batch,
                "iterations": iterations,
                "train_seconds": train_seconds,
                "train_cpu_seconds": train_cpu_seconds,
                "scores": scores,
                "commit": git_commit(),
                "date": dt.date.today().isoformat(),
                "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
                "load_average": os.getloadavg()[0],
            }
            results_path.parent.mkdir(parents=True, exist_ok=True)
            with open(results_path, "a") as handle:
                handle.write(json.dumps(line) + "\n")
            summary = ", ".join(
                f"{name} dE00 {s['overall']['model']['delta_e_2000']:.2f}"
                for name, s in scores.items()
            )
            print(f"{recipe['name']} seed {seed} {args.split}: {summary}", flush=True)


def rewrite_result(path: Path, record: dict[str, Any]) -> None:
    """Replace the line of `record`'s (recipe, seed, split, budget) in the results file by `record`
    (written whole to a new file, then moved over the old one)."""
    key = result_key(record["recipe"], record["seed"], record["split"], record["budget_images"])
    lines = [
        record if result_key(r["recipe"], r["seed"], r["split"], r["budget_images"]) == key else r
        for r in read_results(path)
    ]
    temporary = path.with_suffix(".tmp")
    temporary.write_text("".join(json.dumps(line) + "\n" for line in lines))
    temporary.replace(path)


def mean_and_spread(values: list[float]) -> str:
    mean = sum(values) / len(values)
    if len(values) == 1:
        return f"{mean:.2f}"
    spread = (sum((v - mean) ** 2 for v in values) / (len(values) - 1)) ** 0.5
    return f"{mean:.2f} ± {spread:.2f}"


def neutral_and_color(model: list[dict[str, float]], baseline: dict[str, float]) -> str:
    """ΔE00 where the truth is neutral / where it has colour, for results that have the split."""
    if not all("delta_e_2000_neutral" in m for m in model):
        return "-"
    neutral = mean_and_spread([m["delta_e_2000_neutral"] for m in model])
    color = mean_and_spread([m["delta_e_2000_colour"] for m in model])
    return f"{neutral} / {color} ({baseline['delta_e_2000_neutral']:.2f} / {baseline['delta_e_2000_colour']:.2f})"


def headline(scored: list[dict[str, Any]], base: str) -> tuple[list[dict[str, Any]], float]:
    """The model's overall metrics of each seed and the baseline's ΔE00, as the table shows them: B&W
    pages where their dots blend into tone (eval's reading scale), grey pages as they are."""
    at = "@reading" if base == "bw" and "model@reading" in scored[0] else ""
    return [s[f"model{at}"] for s in scored], scored[0].get(f"{base}{at}", scored[0]["grey"])[
        "delta_e_2000"
    ]


def table(results: list[dict[str, Any]], study: dict[str, Any]) -> str:
    """One row per (recipe, split, budget): each style's headline metrics, means over seeds (± sd).
    Runs on another budget than the study's are never averaged with it: they get their own row."""
    styles = study["eval"]["styles"]
    baseline = {"plain": "grey"}
    baseline_name = {"grey": "grey", "bw": "B&W page"}
    header = ["recipe", "split", "images", "seeds", "train min (CPU min)"]
    for style in styles:
        base = baseline.get(style, "bw")
        scale = " at reading scale" if base == "bw" else ""
        header += [
            f"{style} ΔE00{scale} (vs {baseline_name[base]})",
            f"{style} SSIM",
            f"{style} colour ratio",
        ]
        if base == "grey":
            header.append(f"{style} ΔE00 on neutral / coloured truth (grey)")
    also = study["eval"].get("also") or {}
    for name, spec in also.items():
        base = baseline.get(spec["style"], "bw")
        scale = " at reading scale" if base == "bw" else ""
        header += [f"{name} ΔE00{scale} (vs {baseline_name[base]})", f"{name} colour ratio"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    order = [r["name"] for r in study["recipes"]]
    groups: dict[tuple[str, str, int], list[dict[str, Any]]] = {}
    for r in results:
        groups.setdefault((r["recipe"], r["split"], r["budget_images"]), []).append(r)

    def rank(name: str) -> int:
        return order.index(name) if name in order else len(order)

    for (name, split, budget), rows in sorted(
        groups.items(), key=lambda kv: (kv[0][1] != "val", kv[0][2], rank(kv[0][0]), kv[0][0])
    ):
        minutes = [r["train_seconds"] / 60 for r in rows if r.get("train_seconds")]
        cpu_minutes = [r["train_cpu_seconds"] / 60 for r in rows if r.get("train_cpu_seconds")]
        timing = mean_and_spread(minutes) if minutes else "-"
        if cpu_minutes:
            timing += f" ({mean_and_spread(cpu_minutes)})"
        cells = [name, split, f"{budget:,}", str(len(rows)), timing]
        for style in styles:
            base = baseline.get(style, "bw")
            scored = [r["scores"][style]["overall"] for r in rows if style in r["scores"]]
            if not scored:
                cells += ["-", "-", "-"] + (["-"] if base == "grey" else [])
                continue
            model, base_de = headline(scored, base)
            model_de = mean_and_spread([m["delta_e_2000"] for m in model])
            cells += [
                f"{model_de} ({base_de:.2f})",
                mean_and_spread([m["ssim"] for m in model]),
                mean_and_spread([m["colourfulness_ratio"] for m in model]),
            ]
            if base == "grey":
                cells.append(neutral_and_color(model, scored[0][base]))
        for name, spec in also.items():
            scored = [r["scores"][name]["overall"] for r in rows if name in r["scores"]]
            if len(scored) != len(rows):  # not yet scored for every seed: no mean of a subset
                cells += ["-", "-"]
                continue
            model, base_de = headline(scored, baseline.get(spec["style"], "bw"))
            cells += [
                f"{mean_and_spread([m['delta_e_2000'] for m in model])} ({base_de:.2f})",
                mean_and_spread([m["colourfulness_ratio"] for m in model]),
            ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def write_table(args: argparse.Namespace) -> None:
    study = load_study(args.study)
    results = read_results(args.results or REPO / study["results"])
    doc = args.doc
    text = doc.read_text() if doc.is_file() else f"{TABLE_START}\n{TABLE_END}\n"
    if TABLE_START not in text or TABLE_END not in text:
        raise SystemExit(f"{doc}: no {TABLE_START} ... {TABLE_END} block to fill")
    head, rest = text.split(TABLE_START, 1)
    _, tail = rest.split(TABLE_END, 1)
    doc.write_text(f"{head}{TABLE_START}\n{table(results, study)}\n{TABLE_END}{tail}")
    print(f"{doc}: table of {len(results)} results", flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("action", choices=("run", "table"))
    parser.add_argument("--study", type=Path, default=REPO / "conf" / "study" / "quality.yaml")
    parser.add_argument(
        "--results", type=Path, help="the JSON-lines results file (default: the study's)"
    )
    parser.add_argument(
        "--runs", type=Path, help="the folder for training runs (default: the study's)"
    )
    parser.add_argument(
        "--pages", help="a folder with train/ and val/ colour pages (default: the study's)"
    )
    parser.add_argument("--only", help="comma-separated recipe names")
    parser.add_argument("--seeds", default="0")
    parser.add_argument("--split", choices=("val", "test"), default="val")
    parser.add_argument(
        "--budget", type=int, help="training images per recipe (default: the study's)"
    )
    parser.add_argument(
        "--extra", nargs="*", default=[], help="more training overrides, for every recipe"
    )
    parser.add_argument("--eval-extra", nargs="*", default=[], help="more eval overrides")
    parser.add_argument("--doc", type=Path, default=REPO / "docs" / "quality.md")
    args = parser.parse_args(argv)
    run_study(args) if args.action == "run" else write_table(args)


if __name__ == "__main__":
    main()
