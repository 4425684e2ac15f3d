"""The browser test's colour judge can be met: a model that does what a trained hint model should
(a dot's colour fills its region and stops at the ink) passes it at the demo's working size, and an
untrained one does not. So a failing judge in tests/studio/test_browser.py means the model."""

from __future__ import annotations

import numpy as np
import torch
from helpers.studio import (
    HINT_RGB,
    PaintBucket,
    dot_is_obeyed,
    draw_line_page,
    hint_unet,
    judge_dot,
)
from PIL import Image

from mangacolor.hints.marks import Dot, PageHints
from mangacolor.inference.page_colorizer import PageColorizer

PAGE_SIZE = (256, 192)
DOT = (PAGE_SIZE[0] // 4, PAGE_SIZE[1] // 2)


def colored_with_a_dot(generator, tmp_path) -> tuple[np.ndarray, np.ndarray]:
    page = np.asarray(Image.open(draw_line_page(tmp_path / "page.png", PAGE_SIZE)).convert("RGB"))
    hints = PageHints((Dot(*DOT, "#{:02x}{:02x}{:02x}".format(*HINT_RGB), 7),))
    colorizer = PageColorizer(generator, 64, precision="32-true")  # the demo's working size
    rgb = torch.from_numpy(page.copy()).permute(2, 0, 1)
    return colorizer.color([rgb], hints=[hints])[0].permute(1, 2, 0).numpy(), page


def test_a_model_that_obeys_the_dot_passes_the_judge(tmp_path):
    colored, page = colored_with_a_dot(PaintBucket(), tmp_path)
    judged = judge_dot(colored, page, DOT)
    assert dot_is_obeyed(judged), judged
    assert judged["hue_error"] < 5 and judged["chroma_share"] > 0.8 and judged["paper_delta_e"] < 1


def test_an_untrained_model_fails_it(tmp_path):
    colored, page = colored_with_a_dot(hint_unet(), tmp_path)
    assert not dot_is_obeyed(judge_dot(colored, page, DOT))
