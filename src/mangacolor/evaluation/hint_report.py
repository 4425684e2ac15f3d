"""What the hint sweep writes: the curve per count and method (metrics.json's `hints` section), the
printed table, per_image_hints.csv, TensorBoard scalars against the count, and hints_curve.png.

The curve is read on the page kind eval scores: the page's size for grey pages, reading scale for a
printed `eval.input_style` (where screentone reads as tone, as eval's summary reads it).
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

from mangacolor.evaluation.hint_curve import draw_hint_curve
from mangacolor.evaluation.hint_sampling import BORDER, HINT_SIZE, HINTS_FOLDER, MIN_CHROMA
from mangacolor.evaluation.hint_sweep import HINT_REGIONS, READING, HintSweep
from mangacolor.evaluation.report import HINTS_CSV, HINTS_CURVE, summarise, write_per_image_csv
from mangacolor.runtime.atomic import atomic_write

METHOD_LABELS = {
    "model": "model",
    "nearest_hint": "nearest hint",
    "paint_bucket": "paint bucket",
    "grey": "grey",
    "bw": "B&W page",
}


def curve_scale(input_style: str) -> str:
    """ "" (the page's size) for grey pages, "@reading" for printed ones."""
    return "" if input_style == "plain" else READING


def summarise_sweep(
    rows: list[dict], methods: list[str], counts: tuple[int, ...]
) -> dict[str, Any]:
    """count -> method -> metric -> mean over the pages (partial metrics over the pages that have
    one), every metric of eval plus the hinted-square and ring CIEDE2000."""
    per_count = {}
    for count in counts:
        here = [row for row in rows if row["hints"] == count]
        means = summarise(here, methods)
        for method in methods:
            for region in HINT_REGIONS:
                values = [row[f"{method}/{region}"] for row in here]
                values = [value for value in values if not math.isnan(value)]
                means[method][region] = math.fsum(values) / len(values) if values else float("nan")
        per_count[str(count)] = means
    return per_count


def hints_payload(sweep: HintSweep, tolerance: float, input_style: str) -> dict[str, Any]:
    """metrics.json's `hints` section."""
    return {
        "counts": list(sweep.counts),
        "methods": sweep.methods,
        "curve_scale": "reading" if curve_scale(input_style) else "page",
        "rule": {
            "min_chroma": MIN_CHROMA,
            "border": BORDER,
            "size": HINT_SIZE,
            "seed": "sha256 of the page's path relative to the test folder",
        },
        "hint_files": f"{HINTS_FOLDER}/<count>/<page>.json",
        "bucket_tolerance": tolerance,
        "pages": len({row["path"] for row in sweep.rows}),
        "seconds": sweep.seconds,
        "per_count": summarise_sweep(sweep.rows, sweep.methods, sweep.counts),
    }


def curve_methods(methods: list[str], scale: str) -> list[str]:
    """The methods drawn and tabled, at the curve's scale (the sweep scores at that one only)."""
    return [method for method in methods if method.endswith(READING) == bool(scale)]


def format_hints_table(section: dict[str, Any], input_style: str) -> str:
    """One row per count: dE00 of each method, and the model's dE00 inside the hinted squares and on
    the ring."""
    scale = curve_scale(input_style)
    methods = curve_methods(section["methods"], scale)
    header = [
        "hints",
        *[METHOD_LABELS[m.removesuffix(READING)] for m in methods],
        "model hinted",
        "model ring",
    ]
    lines = []
    for count in section["counts"]:
        means = section["per_count"][str(count)]
        cells = [str(count), *[f"{means[m]['delta_e_2000']:.2f}" for m in methods]]
        cells += [f"{means['model' + scale][region]:.2f}" for region in HINT_REGIONS]
        lines.append(cells)
    widths = [max(len(row[i]) for row in [header, *lines]) for i in range(len(header))]

    def render(cells: list[str]) -> str:
        return "  ".join(cell.rjust(width) for cell, width in zip(cells, widths, strict=True))

    where = "at reading scale" if scale else "at the page's size"
    title = (
        f"dE00 against hints ({where}; hinted: inside the hinted squares; "
        "ring: neutral paper by colour)"
    )
    return "\n".join([title, render(header), "-" * len(render(header)), *map(render, lines)])


def write_hint_outputs(
    folder: Path,
    section: dict[str, Any],
    sweep: HintSweep,
    test_dir: Path,
    input_style: str,
    tensorboard: bool,
) -> None:
    """per_image_hints.csv, hints_curve.png, and the curve's scalars in TensorBoard when asked."""
    write_per_image_csv(folder / HINTS_CSV, sweep.rows, test_dir)
    scale = curve_scale(input_style)
    methods = curve_methods(section["methods"], scale)
    curves = {
        METHOD_LABELS[m.removesuffix(READING)]: [
            section["per_count"][str(c)][m]["delta_e_2000"] for c in section["counts"]
        ]
        for m in methods
    }
    where = "reading scale" if scale else "page size"
    image = draw_hint_curve(
        section["counts"], curves, f"dE00 against hints ({input_style} pages, {where})"
    )
    with atomic_write(folder / HINTS_CURVE) as handle:
        image.save(handle, format="png")
    if tensorboard:
        write_hint_scalars(folder, section)


def write_hint_scalars(folder: Path, section: dict[str, Any]) -> None:
    """hints/<method>/<metric> scalars with the hint count as the step."""
    from torch.utils.tensorboard import SummaryWriter  # only when asked for: it imports tensorboard

    writer = SummaryWriter(log_dir=os.fspath(folder / "tensorboard"))
    try:
        for count in section["counts"]:
            for method, means in section["per_count"][str(count)].items():
                for name, value in means.items():
                    if math.isfinite(value):
                        writer.add_scalar(f"hints/{method}/{name}", value, global_step=count)
    finally:
        writer.close()
