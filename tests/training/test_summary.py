"""The line a finished run ends with."""

import io
import sys
from types import SimpleNamespace

from mangacolor.training.summary import summary_line

RESULTS = {
    "iteration": 600,
    "unreadable": 0,
    "val/delta_e_2000": 13.53,
    "val/grey_delta_e_2000": 11.88,
    "val/colourfulness_ratio": 0.8,
    "val/ab_l1": 18.41,
    "val/grey_ab_l1": 19.58,
    "val/psnr": 15.6,
    "val/grey_psnr": 15.51,
}
BW = {"val/bw_inputs/delta_e_2000": 20.1, "val/bw_delta_e_2000": 25.3}


def test_the_summary_leads_with_delta_e_against_grey_then_colourfulness_then_ab_l1_and_psnr(
    tmp_path,
):
    line = summary_line(RESULTS, None, tmp_path)
    assert (
        "mangacolor-train: 600 iterations; val ΔE00 13.53 vs grey 11.88 (NOT better than grey)"
        "; colourfulness 0.80 of the truth's (grey 0); "
        "ab-L1 18.41 vs grey 19.58 (Lab units), PSNR 15.60 vs 15.51 dB. Run folder"
    ) in line
    assert "better than grey" in summary_line({**RESULTS, "val/delta_e_2000": 9.0}, None, tmp_path)
    assert "NOT" not in summary_line({**RESULTS, "val/delta_e_2000": 9.0}, None, tmp_path)
    assert "B&W" not in line  # grey pages only: no B&W page to compare with
    assert line.endswith(
        f"Run folder {tmp_path} (checkpoints/, images/); "
        f"dashboards: tensorboard --logdir {tmp_path}"
    )


def test_with_a_monitor_the_summary_says_the_speed(tmp_path):
    monitor = SimpleNamespace(images_per_second=12.34)
    line = summary_line(RESULTS, monitor, tmp_path)
    assert line.startswith("mangacolor-train: 600 iterations, 12.3 img/s; ")


def test_with_bw_inputs_the_summary_also_compares_with_the_bw_page(tmp_path):
    line = summary_line({**RESULTS, **BW}, None, tmp_path)
    assert (
        "(NOT better than grey); on B&W inputs ΔE00 20.10 vs the B&W page 25.30 "
        "(better than the B&W page); colourfulness 0.80"
    ) in line
    worse = summary_line({**RESULTS, **BW, "val/bw_inputs/delta_e_2000": 26.0}, None, tmp_path)
    assert "(NOT better than the B&W page)" in worse


def test_without_validation_the_summary_has_no_quality_and_a_latin_1_terminal_reads_de00(
    tmp_path, monkeypatch
):
    line = summary_line({"iteration": 4, "unreadable": 2}, None, tmp_path)
    assert line.startswith("mangacolor-train: 4 iterations; 2 unreadable pages skipped. Run folder")
    monkeypatch.setattr(sys, "stdout", io.TextIOWrapper(io.BytesIO(), encoding="latin-1"))
    latin = summary_line(RESULTS, None, tmp_path)
    assert "val dE00 13.53 vs grey 11.88" in latin
    latin.encode("latin-1")  # printable there
