"""mangacolor.benchmark.measurements: the figures derived from a row's timings, and the sample page."""

from __future__ import annotations

import pytest
import torch

from mangacolor.benchmark import measurements as bm


def test_flop_figures_and_mfu():
    results = bm.add_flop_figures({"images_per_s": 1000.0}, 380e9, 989.4)
    assert results["achieved_tflops"] == pytest.approx(380.0)
    assert results["mfu"] == pytest.approx(380.0 / 989.4)
    assert bm.add_flop_figures({"images_per_s": 1.0}, 1e9, None)["mfu"] is None


def test_data_ratio_uses_the_model_row_of_the_same_batch_and_precision():
    def row(task, batch, rate):
        return {
            "task": task,
            "settings": {"batch_size": batch, "precision": "bf16-mixed"},
            "results": {"images_per_s": rate},
        }

    rows = [
        row("model", 8, 100.0),
        row("model", 16, 200.0),
        row("data", 16, 300.0),
        row("data", 4, 50.0),
    ]
    bm.add_data_ratios(rows)
    assert rows[2]["results"]["ratio_to_model"] == pytest.approx(1.5)
    assert rows[3]["results"]["ratio_to_model"] is None  # no model row at batch 4


def test_sample_page_is_uint8_rgb_of_the_asked_size():
    assert bm.sample_page(30, 20).shape == (3, 30, 20)
    source = torch.randint(0, 256, (3, 50, 40), dtype=torch.uint8)
    page = bm.sample_page(25, 20, source)
    assert page.dtype == torch.uint8 and page.shape == (3, 25, 20)
