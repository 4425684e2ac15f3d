"""The line a finished run ends with: iterations, speed, then quality against the baselines."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from mangacolor.callbacks import TrainingMonitor


def summary_line(results: dict[str, Any], monitor: TrainingMonitor | None, run_dir: Path) -> str:
    """One line: iterations, speed, then quality led by val dE00 against grey (lower is better),
    dE00 against the B&W page on B&W inputs, the colourfulness ratio, ab-L1 and PSNR."""
    rate = monitor.images_per_second if monitor else None
    speed = f", {rate:.1f} img/s" if rate else ""
    quality = "; " + "; ".join(_quality(results)) if "val/delta_e_2000" in results else ""
    unreadable = (
        f"; {results['unreadable']} unreadable pages skipped" if results["unreadable"] else ""
    )
    return (
        f"mangacolor-train: {results['iteration']} iterations{speed}{quality}{unreadable}. "
        f"Run folder {run_dir} (checkpoints/, images/); "
        f"dashboards: tensorboard --logdir {run_dir}"
    )


def _quality(results: dict[str, Any]) -> list[str]:
    delta_e = delta_e_label()
    grey = _versus(results["val/delta_e_2000"], results["val/grey_delta_e_2000"], "grey")
    parts = [f"val {delta_e} {grey}"]
    if "val/bw_inputs/delta_e_2000" in results:  # the same images: those whose input is a B&W page
        bw = _versus(
            results["val/bw_inputs/delta_e_2000"], results["val/bw_delta_e_2000"], "the B&W page"
        )
        parts.append(f"on B&W inputs {delta_e} {bw}")
    parts.append(f"colourfulness {results['val/colourfulness_ratio']:.2f} of the truth's (grey 0)")
    ab_l1 = f"ab-L1 {results['val/ab_l1']:.2f} vs grey {results['val/grey_ab_l1']:.2f} (Lab units)"
    parts.append(f"{ab_l1}, PSNR {results['val/psnr']:.2f} vs {results['val/grey_psnr']:.2f} dB")
    return parts


def _versus(value: float, baseline: float, name: str) -> str:
    verdict = "better" if value < baseline else "NOT better"
    return f"{value:.2f} vs {name} {baseline:.2f} ({verdict} than {name})"


def delta_e_label() -> str:
    """The label "ΔE00", or "dE00" where standard output cannot encode the Greek letter (a Latin-1
    terminal)."""
    try:
        "Δ".encode(getattr(sys.stdout, "encoding", None) or "ascii")
    except (UnicodeEncodeError, LookupError):
        return "dE00"
    return "ΔE00"
