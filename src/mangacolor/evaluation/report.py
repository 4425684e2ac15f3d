"""What mangacolor-eval writes: overall means, the printed table, metrics.json, per_image.csv,
the best / worst grids, and optionally TensorBoard scalars and images.

Files are written atomically, into a folder that must not already hold them: an evaluation
never overwrites an earlier one. A failed evaluation releases the folder (`release_output_folder`)
so that the same command can be run again.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import shutil
from pathlib import Path
from typing import Any

import torch
from torchvision.utils import save_image

import mangacolor
from mangacolor.evaluation.extremes import ExtremeImages
from mangacolor.evaluation.hint_sampling import HINTS_FOLDER
from mangacolor.evaluation.page_loop import EvalResult
from mangacolor.evaluation.scoring import METRICS
from mangacolor.evaluation.settings import EvalSettings
from mangacolor.runtime.atomic import atomic_write

HINTS_CSV, HINTS_CURVE = (
    "per_image_hints.csv",
    "hints_curve.png",
)  # the hint sweep's (hint_report.py)
OUTPUT_NAMES = (
    "metrics.json",
    "per_image.csv",
    "best.png",
    "worst.png",
    "tensorboard",  # metrics.json: done
    HINTS_FOLDER,
    HINTS_CSV,
    HINTS_CURVE,
)
CLAIM_NAME = ".mangacolor-eval"  # made exclusively at start: two evaluations never share a folder
PREDICTOR_LABELS = {"model": "model", "grey": "grey", "mean_ab": "mean-ab", "bw": "B&W page"}


def claim_output_folder(folder: Path) -> None:
    """Take `folder` for this evaluation before any work, or stop if another one has it or wrote
    there.

    Hydra names run folders by the second, so two evaluations started together could meet in one;
    the claim file is created exclusively, so only one of them goes on.
    """
    existing = [name for name in (CLAIM_NAME, *OUTPUT_NAMES) if (folder / name).exists()]
    if not existing:
        folder.mkdir(parents=True, exist_ok=True)
        try:
            (folder / CLAIM_NAME).open("x").close()
            return
        except FileExistsError:
            existing = [CLAIM_NAME]
    raise FileExistsError(
        f"{folder} already holds {', '.join(existing)} from another evaluation; choose a new "
        "folder (paths.output_dir=... or hydra.run.dir=...) -- nothing is overwritten"
    )


def release_output_folder(folder: Path) -> None:
    """Undo `claim_output_folder` after a failed evaluation: remove the claim and whatever outputs
    it had written. The claim proved none of OUTPUT_NAMES was there before, so all of them are this
    evaluation's own; metrics.json goes first, so no half-removed folder looks finished."""
    for name in OUTPUT_NAMES:
        path = folder / name
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
    (folder / CLAIM_NAME).unlink(missing_ok=True)


def _mean(values: list[float], partial: bool = False) -> float:
    """The mean; for a partial metric, of the pages that have a score (NaN where none has)."""
    if partial:
        values = [value for value in values if not math.isnan(value)]
    return math.fsum(values) / len(values) if values else float("nan")


def summarise(records: list[dict], predictors: list[str]) -> dict[str, dict[str, float]]:
    """Mean of every metric per predictor, plus each one's colourfulness ratio to the truth.

    The ratio is of the means (mean predicted / mean true colourfulness), so near-grey pages do
    not blow it up: 1 is as colourful as the truth, 0 grey.
    """
    truth = _mean([row["truth_colourfulness"] for row in records])
    overall: dict[str, dict[str, float]] = {"truth": {"colourfulness": truth}}
    if records and "truth_colourfulness@reading" in records[0]:
        overall["truth@reading"] = {
            "colourfulness": _mean([row["truth_colourfulness@reading"] for row in records])
        }
    for predictor in predictors:
        means = {
            metric.name: _mean(
                [row[f"{predictor}/{metric.name}"] for row in records], metric.partial
            )
            for metric in METRICS
        }
        # At reading scale, the ratio is to the truth's colourfulness at that scale.
        reference = (
            overall.get("truth@reading", overall["truth"])
            if predictor.endswith("@reading")
            else overall["truth"]
        )
        truth_here = reference["colourfulness"]
        means["colourfulness_ratio"] = (
            means["colourfulness"] / truth_here if truth_here > 0 else float("nan")
        )
        overall[predictor] = means
    return overall


def improvement_over_grey(overall: dict[str, dict[str, float]]) -> dict[str, dict[str, Any]]:
    """Per metric: model, grey, model - grey, and whether the model is better (ratio: nearer 1)."""
    improvement = {}
    for metric in METRICS:
        model, grey = overall["model"][metric.name], overall["grey"][metric.name]
        better = model > grey if metric.higher_is_better else model < grey
        improvement[metric.name] = {
            "model": model,
            "grey": grey,
            "difference": model - grey,
            "better": better,
        }
    model, grey = overall["model"]["colourfulness_ratio"], overall["grey"]["colourfulness_ratio"]
    improvement["colourfulness_ratio"] = {
        "model": model,
        "grey": grey,
        "difference": model - grey,
        "better": abs(1 - model) < abs(1 - grey),
    }
    return improvement


def format_metrics_table(overall: dict[str, dict[str, float]], predictors: list[str]) -> str:
    """The printed comparison: one row per metric, one column per predictor, then model vs grey."""
    rows = [
        (metric.label + (" ^" if metric.higher_is_better else " v"), metric.name)
        for metric in METRICS
    ]
    rows.append(("colourfulness / truth -> 1", "colourfulness_ratio"))
    improvement = improvement_over_grey(overall)
    header = ["metric"] + [PREDICTOR_LABELS.get(p, p) for p in predictors] + ["model - grey"]
    lines = []
    for label, name in rows:
        cells = [label] + [f"{overall[p][name]:.4f}" for p in predictors]
        change = improvement[name]
        cells.append(f"{change['difference']:+.4f} {'better' if change['better'] else 'WORSE'}")
        lines.append(cells)
    lines.append(
        ["truth colourfulness", *[""] * len(predictors), f"{overall['truth']['colourfulness']:.4f}"]
    )
    widths = [max(len(row[i]) for row in [header, *lines]) for i in range(len(header))]

    def render(cells: list[str]) -> str:
        return "  ".join(
            cell.ljust(w) if i == 0 else cell.rjust(w)
            for i, (cell, w) in enumerate(zip(cells, widths, strict=True))
        )

    rule = "-" * len(render(header))
    return (
        "\n".join([render(header), rule, *map(render, lines)])
        + "\n(^ higher is better, v lower is better)"
    )


def _json_safe(value: Any) -> Any:
    """NaN and infinities become null: JSON has no such numbers."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _json_safe(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(item) for item in value]
    return value


def write_metrics_json(path: Path, payload: dict[str, Any]) -> None:
    text = json.dumps(_json_safe(payload), indent=2, allow_nan=False) + "\n"
    with atomic_write(path) as handle:
        handle.write(text.encode())


def display_path(path: str, root: Path) -> str:
    """A page's path relative to the data folder when it lies inside it."""
    try:
        return Path(path).relative_to(root).as_posix()
    except ValueError:
        return path


def write_per_image_csv(path: Path, records: list[dict], root: Path) -> None:
    """One row per scored image; columns path, height, width, truth_colourfulness,
    <predictor>/<metric>."""
    buffer = io.StringIO()
    if records:
        writer = csv.DictWriter(buffer, fieldnames=list(records[0]), lineterminator="\n")
        writer.writeheader()
        for row in records:
            # 7 significant digits: what the float32 metrics hold, without float32's noise digits.
            cells = {
                key: f"{value:.7g}" if isinstance(value, float) else value
                for key, value in row.items()
            }
            writer.writerow({**cells, "path": display_path(row["path"], root)})
    with atomic_write(path) as handle:
        # A file name that is not UTF-8 is kept readable as \x escapes: the CSV stays valid UTF-8.
        handle.write(buffer.getvalue().encode("utf-8", errors="backslashreplace"))


def write_grids(folder: Path, extremes: ExtremeImages) -> dict[str, torch.Tensor]:
    """best.png and worst.png (rows: input L, truth, prediction); returns the grids written."""
    grids = {}
    for which in ("best", "worst"):
        grid = extremes.grid(which)
        if grid is None:
            continue
        with atomic_write(folder / f"{which}.png") as handle:
            save_image(grid, handle, format="png")
        grids[which] = grid
    return grids


def write_tensorboard(
    folder: Path,
    overall: dict[str, dict[str, float]],
    grids: dict[str, torch.Tensor],
    step: int = 0,
) -> None:
    """Overall means as eval/<predictor>/<metric> scalars and the grids as eval/<which> images."""
    from torch.utils.tensorboard import (
        SummaryWriter,  # only when asked for: it imports tensorboard
    )

    writer = SummaryWriter(log_dir=os.fspath(folder / "tensorboard"))
    try:
        for predictor, means in overall.items():
            for name, value in means.items():
                if math.isfinite(value):
                    writer.add_scalar(f"eval/{predictor}/{name}", value, global_step=step)
        for which, grid in grids.items():
            writer.add_image(f"eval/{which}", grid, global_step=step)
    finally:
        writer.close()


def metrics_payload(
    result: EvalResult,
    unreadable: list[tuple[str, str]],
    predictors: list[str],
    ckpt_path: Path,
    test_dir: Path,
    settings: EvalSettings,
    generator_config: dict[str, Any],
    mean_ab_report: dict[str, Any] | None,
) -> dict[str, Any]:
    """The content of metrics.json: overall numbers, what was evaluated, how, and what was
    skipped."""
    overall = summarise(result.records, predictors)
    ranked = {
        which: [
            {"path": display_path(path, test_dir), settings.rank_by: value}
            for path, value in result.extremes.ranked(which)
        ]
        for which in ("best", "worst")
    }
    return {
        "checkpoint": str(ckpt_path.resolve()),
        "data_dir": str(test_dir.resolve()),
        "images": len(result.records),
        "skipped": len(unreadable),
        "skipped_files": [{"path": path, "reason": reason} for path, reason in unreadable],
        "overall": overall,
        "improvement_over_grey": improvement_over_grey(overall),
        "mean_ab_baseline": mean_ab_report,
        **ranked,
        "settings": settings.as_dict(),
        "generator": generator_config,
        "seconds": result.seconds,
        "mangacolor_version": mangacolor.__version__,
    }


def write_outputs(
    folder: Path, payload: dict[str, Any], result: EvalResult, test_dir: Path, tensorboard: bool
) -> None:
    """per_image.csv, the grids, TensorBoard when asked, and metrics.json last: its presence means
    done."""
    write_per_image_csv(folder / "per_image.csv", result.records, test_dir)
    grids = write_grids(folder, result.extremes)
    if tensorboard:
        write_tensorboard(folder, payload["overall"], grids)
    write_metrics_json(folder / "metrics.json", payload)


def summary_line(payload: dict[str, Any], folder: Path) -> str:
    change = payload["improvement_over_grey"]["delta_e_2000"]
    verdict = "better" if change["better"] else "NOT better"
    unreadable = (
        f" ({payload['skipped']} unreadable skipped, listed in metrics.json)"
        if payload["skipped"]
        else ""
    )
    images = f"{payload['images']} image{'s' if payload['images'] != 1 else ''}"
    overall = payload["overall"]
    versus_bw = ""
    if "bw" in overall:
        bw_verdict = "better" if change["model"] < overall["bw"]["delta_e_2000"] else "NOT better"
        versus_bw = f", vs the B&W page {overall['bw']['delta_e_2000']:.2f} ({bw_verdict})"
    reading = ""
    if "model@reading" in overall:
        reading = (
            f"; at reading scale dE00 {overall['model@reading']['delta_e_2000']:.2f} vs grey "
            f"{overall['grey@reading']['delta_e_2000']:.2f}"
        )
        if "bw@reading" in overall:
            reading += f" vs the B&W page {overall['bw@reading']['delta_e_2000']:.2f}"
        reading += (
            f", colourfulness {overall['model@reading']['colourfulness_ratio']:.2f} of the truth's"
        )
    return (
        f"mangacolor-eval: {images}{unreadable} in {payload['seconds']:.1f} s; dE00 "
        f"{change['model']:.2f} vs grey {change['grey']:.2f} ({verdict} than "
        f"grey){versus_bw}{reading}. Outputs in {folder} (metrics.json, per_image.csv, best.png, "
        "worst.png)"
    )
