"""The two hint metrics of eval: CIEDE2000 inside the hinted squares and on the ring (issue 22)."""

from __future__ import annotations

import math

import torch
from kornia.color import lab_to_rgb

from mangacolor.evaluation.scoring import (
    RING_REACH,
    Truth,
    delta_e_2000_hinted,
    delta_e_2000_ring,
)
from mangacolor.hints.marks import Dot, PageHints


def figure_on_paper() -> torch.Tensor:
    """White paper with a red square: RGB (1, 3, 40, 40)."""
    lab = torch.zeros(1, 3, 40, 40)
    lab[:, 0] = 100.0
    lab[:, :, 12:28, 12:28] = torch.tensor([50.0, 50.0, 30.0])[None, :, None, None]
    return lab_to_rgb(lab, clip=True)


def test_the_ring_scores_colour_bled_onto_the_paper_round_a_figure_and_nothing_else():
    truth = Truth.from_rgb(figure_on_paper())
    assert delta_e_2000_ring(truth.rgb, truth)[0] < 1e-3
    bled = truth.rgb.clone()
    bled[:, :, 8:32, 8:32] = truth.rgb[:, :, 20:21, 20:21]  # the red spread 4 px past the square
    far = truth.rgb.clone()
    far[:, :, :2, :] = torch.tensor([0.2, 0.6, 0.2])[None, :, None, None]  # a tint far away
    assert delta_e_2000_ring(bled, truth)[0] > 10
    assert delta_e_2000_ring(far, truth)[0] < 1e-3  # beyond RING_REACH of the figure
    assert RING_REACH == 8


def test_a_page_without_colour_has_no_ring_score():
    truth = Truth.from_rgb(torch.full((1, 3, 16, 16), 0.5))
    assert math.isnan(delta_e_2000_ring(truth.rgb, truth)[0])


def test_the_hinted_score_looks_only_inside_the_hinted_squares():
    truth = Truth.from_rgb(figure_on_paper())
    hints = PageHints((Dot(20, 20, "#ff0000", 7),))
    _, mask = hints.raster((40, 40), (40, 40), "ab")
    grey = truth.rgb.mean(dim=1, keepdim=True).expand(-1, 3, -1, -1)
    wrong_elsewhere = grey.clone()
    wrong_elsewhere[:, :, 17:24, 17:24] = truth.rgb[:, :, 17:24, 17:24]
    assert delta_e_2000_hinted(truth.rgb, truth, mask)[0] < 1e-3
    assert delta_e_2000_hinted(wrong_elsewhere, truth, mask)[0] < 1e-3
    assert delta_e_2000_hinted(grey, truth, mask)[0] > 20


def test_a_batch_is_scored_as_its_images_are_one_by_one():
    """On the CPU score_shown scores image by image (for the cache): the same values as each
    image alone and as the whole batch at once (what a GPU does), with regions given per image or
    one for all."""
    from mangacolor.evaluation.scoring import _score_images, score_shown

    torch.manual_seed(0)
    truth = Truth.from_rgb(torch.rand(3, 3, 20, 24))
    pred_rgb, pred_ab = torch.rand(3, 3, 20, 24), torch.rand(3, 2, 20, 24) - 0.5
    per_image = (torch.rand(3, 1, 20, 24) > 0.5).float()
    shared = (torch.rand(1, 1, 20, 24) > 0.5).float()
    regions = {"a": per_image, "b": shared}
    batch = score_shown(truth, pred_rgb, pred_ab, regions)
    at_once = _score_images(truth, pred_rgb, pred_ab, regions)
    assert set(at_once) == set(batch)
    for name, values in at_once.items():
        torch.testing.assert_close(batch[name], values, rtol=1e-5, atol=1e-6)
    for index in range(3):
        alone = score_shown(
            truth.image(index),
            pred_rgb[index : index + 1],
            pred_ab[index : index + 1],
            {"a": per_image[index : index + 1], "b": shared},
        )
        assert set(alone) == set(batch)
        for name, values in alone.items():
            assert batch[name].shape == (3,)
            torch.testing.assert_close(batch[name][index : index + 1], values, rtol=1e-6, atol=0)


def test_one_true_page_scores_many_predictions_as_its_copies_would():
    """The hint sweep scores a page's predictions against its one truth, never copied."""
    from mangacolor.evaluation.scoring import _score_images, score_shown

    torch.manual_seed(1)
    truth = Truth.from_rgb(torch.rand(1, 3, 20, 24))
    copies = Truth(*(part.expand(4, *part.shape[1:]) for part in vars(truth).values()))
    pred_rgb, pred_ab = torch.rand(4, 3, 20, 24), torch.rand(4, 2, 20, 24) - 0.5
    regions = {"ring": (torch.rand(1, 1, 20, 24) > 0.5).float()}
    expected = _score_images(copies, pred_rgb, pred_ab, regions)
    for scored in (score_shown, _score_images):  # page by page (CPU) and broadcast (a GPU's way)
        found = scored(truth, pred_rgb, pred_ab, regions)
        for name, values in expected.items():
            assert found[name].shape == (4,)
            torch.testing.assert_close(found[name], values, rtol=1e-6, atol=1e-6)
