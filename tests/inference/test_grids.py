import torch

from mangacolor.color import lightness_as_rgb, rgb_to_scaled_lab, scaled_lab_to_rgb
from mangacolor.inference.grids import comparison_grid

SIDE = 8


def cells(grid: torch.Tensor, row: int, column: int) -> torch.Tensor:
    """One image of a make_grid picture (padding 2)."""
    top, left = 2 + row * (SIDE + 2), 2 + column * (SIDE + 2)
    return grid[:, top : top + SIDE, left : left + SIDE]


def test_rows_are_the_input_page_the_truth_and_a_full_colour_prediction_with_its_own_lightness():
    lightness, ab = rgb_to_scaled_lab(torch.rand(2, 3, SIDE, SIDE) * 0.6 + 0.2)
    inputs = torch.where(lightness > 0, 1.0, -1.0)  # a B&W page: ink and paper
    fake = torch.cat([torch.full_like(lightness, 0.2), torch.full_like(ab, 0.1)], dim=1)
    grid = comparison_grid(lightness, ab, fake, inputs=inputs)
    assert grid.shape == (3, 2 + 3 * (SIDE + 2), 2 + 2 * (SIDE + 2))
    for column in range(2):
        torch.testing.assert_close(cells(grid, 0, column), lightness_as_rgb(inputs)[column])
        torch.testing.assert_close(cells(grid, 1, column), scaled_lab_to_rgb(lightness, ab)[column])
        torch.testing.assert_close(
            cells(grid, 2, column), scaled_lab_to_rgb(fake[:, :1], fake[:, 1:])[column]
        )


def test_an_ab_prediction_is_shown_on_the_true_lightness_and_the_input_defaults_to_it():
    lightness, ab = rgb_to_scaled_lab(torch.rand(1, 3, SIDE, SIDE) * 0.6 + 0.2)
    fake = torch.full_like(ab, -0.1)
    grid = comparison_grid(lightness, ab, fake)
    torch.testing.assert_close(cells(grid, 0, 0), lightness_as_rgb(lightness)[0])
    torch.testing.assert_close(cells(grid, 2, 0), scaled_lab_to_rgb(lightness, fake)[0])
