"""The metric functions shared by validation, mangacolor-eval and the bench, on known cases."""

from __future__ import annotations

import math

import kornia
import pytest
import torch
from kornia.color import rgb_to_lab

from mangacolor.metrics import (
    PSNR_CAP_DB,
    ab_l1,
    colorfulness,
    delta_e_2000,
    mean_delta_e_2000,
    psnr,
    ssim,
    ssim_map,
)

# Sharma, Wu and Dalal (2005), Table 1: the 34 CIEDE2000 test pairs, (L1, a1, b1), (L2, a2, b2),
# dE00.
SHARMA_PAIRS = [
    ((50.0000, 2.6772, -79.7751), (50.0000, 0.0000, -82.7485), 2.0425),
    ((50.0000, 3.1571, -77.2803), (50.0000, 0.0000, -82.7485), 2.8615),
    ((50.0000, 2.8361, -74.0200), (50.0000, 0.0000, -82.7485), 3.4412),
    ((50.0000, -1.3802, -84.2814), (50.0000, 0.0000, -82.7485), 1.0000),
    ((50.0000, -1.1848, -84.8006), (50.0000, 0.0000, -82.7485), 1.0000),
    ((50.0000, -0.9009, -85.5211), (50.0000, 0.0000, -82.7485), 1.0000),
    ((50.0000, 0.0000, 0.0000), (50.0000, -1.0000, 2.0000), 2.3669),
    ((50.0000, -1.0000, 2.0000), (50.0000, 0.0000, 0.0000), 2.3669),
    ((50.0000, 2.4900, -0.0010), (50.0000, -2.4900, 0.0009), 7.1792),
    ((50.0000, 2.4900, -0.0010), (50.0000, -2.4900, 0.0010), 7.1792),
    ((50.0000, 2.4900, -0.0010), (50.0000, -2.4900, 0.0011), 7.2195),
    ((50.0000, 2.4900, -0.0010), (50.0000, -2.4900, 0.0012), 7.2195),
    ((50.0000, -0.0010, 2.4900), (50.0000, 0.0009, -2.4900), 4.8045),
    ((50.0000, -0.0010, 2.4900), (50.0000, 0.0010, -2.4900), 4.8045),
    ((50.0000, -0.0010, 2.4900), (50.0000, 0.0011, -2.4900), 4.7461),
    ((50.0000, 2.5000, 0.0000), (50.0000, 0.0000, -2.5000), 4.3065),
    ((50.0000, 2.5000, 0.0000), (73.0000, 25.0000, -18.0000), 27.1492),
    ((50.0000, 2.5000, 0.0000), (61.0000, -5.0000, 29.0000), 22.8977),
    ((50.0000, 2.5000, 0.0000), (56.0000, -27.0000, -3.0000), 31.9030),
    ((50.0000, 2.5000, 0.0000), (58.0000, 24.0000, 15.0000), 19.4535),
    ((50.0000, 2.5000, 0.0000), (50.0000, 3.1736, 0.5854), 1.0000),
    ((50.0000, 2.5000, 0.0000), (50.0000, 3.2972, 0.0000), 1.0000),
    ((50.0000, 2.5000, 0.0000), (50.0000, 1.8634, 0.5757), 1.0000),
    ((50.0000, 2.5000, 0.0000), (50.0000, 3.2592, 0.3350), 1.0000),
    ((60.2574, -34.0099, 36.2677), (60.4626, -34.1751, 39.4387), 1.2644),
    ((63.0109, -31.0961, -5.8663), (62.8187, -29.7946, -4.0864), 1.2630),
    ((61.2901, 3.7196, -5.3901), (61.4292, 2.2480, -4.9620), 1.8731),
    ((35.0831, -44.1164, 3.7933), (35.0232, -40.0716, 1.5901), 1.8645),
    ((22.7233, 20.0904, -46.6940), (23.0331, 14.9730, -42.5619), 2.0373),
    ((36.4612, 47.8580, 18.3852), (36.2715, 50.5065, 21.2231), 1.4146),
    ((90.8027, -2.0831, 1.4410), (91.1528, -1.6435, 0.0447), 1.4441),
    ((90.9257, -0.5406, -0.9208), (88.6381, -0.8985, -0.7239), 1.5381),
    ((6.7747, -0.2908, -2.4247), (5.8714, -0.0985, -2.2286), 0.6377),
    ((2.0776, 0.0795, -1.1350), (0.9033, -0.0636, -0.5514), 0.9082),
]


def sharma_tensors(dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    first = torch.tensor([pair[0] for pair in SHARMA_PAIRS], dtype=dtype)
    second = torch.tensor([pair[1] for pair in SHARMA_PAIRS], dtype=dtype)
    expected = torch.tensor([pair[2] for pair in SHARMA_PAIRS], dtype=torch.float64)
    return first, second, expected


def test_sharma_table_has_all_34_pairs():
    assert len(SHARMA_PAIRS) == 34


def test_delta_e_2000_matches_all_sharma_pairs_to_4_decimals():
    first, second, expected = sharma_tensors(torch.float64)
    got = delta_e_2000(first, second, dim=1)
    rounded = torch.round(got * 10_000) / 10_000
    mismatches = [
        (number, float(g), float(e))
        for number, (g, r, e) in enumerate(zip(got, rounded, expected, strict=True), start=1)
        if abs(r - e) > 1e-9
    ]
    assert not mismatches, f"pairs (number, got, published) off at 4 decimals: {mismatches}"


# Pair 14 puts the two hues exactly 180 degrees apart, the seam of the mean-hue rule, where the
# published value switches branch: float32 rounding of the angles lands on the other side
# (4.7461, pair 15's value). Images never sit on that seam to 1e-7 rad; float64 input matches it.
HUE_SEAM_PAIR = 14


def test_delta_e_2000_in_float32_matches_the_sharma_pairs_off_the_hue_seam():
    first, second, expected = sharma_tensors(torch.float32)
    got = delta_e_2000(first, second, dim=1)
    assert got.dtype == torch.float32
    keep = torch.arange(len(SHARMA_PAIRS)) != HUE_SEAM_PAIR - 1
    assert torch.allclose(got.double()[keep], expected[keep], atol=1e-4, rtol=0)


def test_delta_e_2000_is_symmetric_on_sharma_pairs():
    first, second, _ = sharma_tensors(torch.float64)
    assert torch.allclose(
        delta_e_2000(first, second, dim=1), delta_e_2000(second, first, dim=1), atol=1e-12
    )


def test_delta_e_2000_of_identical_colours_is_zero():
    lab = torch.tensor(
        [[50.0, 10.0, -20.0], [0.0, 0.0, 0.0], [100.0, 0.0, 0.0], [30.0, -60.0, 70.0]]
    )
    assert torch.equal(delta_e_2000(lab, lab, dim=1), torch.zeros(4))


def test_delta_e_2000_of_a_pure_lightness_shift_is_known():
    # Equal a, b: only the lightness term is left, dE = |dL| / S_L with S_L at the mean L.
    lab1 = torch.tensor([[40.0, 0.0, 0.0]], dtype=torch.float64)
    lab2 = torch.tensor([[60.0, 0.0, 0.0]], dtype=torch.float64)
    s_l = 1 + 0.015 * 0.0 / math.sqrt(20.0)  # the mean L is 50: S_L = 1
    assert delta_e_2000(lab1, lab2, dim=1).item() == pytest.approx(20.0 / s_l, abs=1e-12)
    lab1, lab2 = torch.tensor([[20.0, 0.0, 0.0]]), torch.tensor([[30.0, 0.0, 0.0]])
    s_l = 1 + 0.015 * 625 / math.sqrt(20 + 625)  # mean L 25
    assert delta_e_2000(lab1, lab2, dim=1).item() == pytest.approx(10.0 / s_l, rel=1e-6)


def test_mean_delta_e_2000_averages_over_pixels_per_image():
    true = torch.zeros(2, 3, 4, 4)
    true[:, 0] = 50.0
    pred = true.clone()
    pred[1, 1, :2] = 2.5  # half the pixels of the second image get a = 2.5 against a neutral grey
    shifted = delta_e_2000(
        torch.tensor([[50.0, 2.5, 0.0]]), torch.tensor([[50.0, 0.0, 0.0]]), dim=1
    ).item()
    assert torch.allclose(
        mean_delta_e_2000(pred, true), torch.tensor([0.0, shifted / 2]), atol=1e-6
    )


def test_ab_l1_is_the_mean_absolute_ab_error_per_image():
    true = torch.zeros(2, 2, 3, 3)
    pred = torch.zeros(2, 2, 3, 3)
    pred[1, 0] = 10.0  # a off by 10 everywhere, b right: mean over both channels 5
    assert torch.equal(ab_l1(pred, true), torch.tensor([0.0, 5.0]))


def test_psnr_of_identical_images_is_capped_and_of_a_known_error_is_known():
    image = torch.rand(2, 3, 8, 8)
    assert torch.equal(psnr(image, image), torch.full((2,), PSNR_CAP_DB))
    # Every pixel off by 0.1: MSE 0.01, PSNR = 10 log10(1 / 0.01) = 20 dB.
    shifted = (image * 0.5 + 0.1).clamp(0, 1)
    assert torch.allclose(psnr(shifted, image * 0.5), torch.full((2,), 20.0), atol=1e-4)


def test_ssim_of_identical_images_is_one_and_drops_with_noise():
    generator = torch.Generator().manual_seed(0)
    image = torch.rand(2, 3, 32, 32, generator=generator)
    assert torch.allclose(ssim(image, image), torch.ones(2), atol=1e-6)
    noisy = (image + 0.3 * torch.randn(image.shape, generator=generator)).clamp(0, 1)
    assert (ssim(noisy, image) < 0.9).all()
    assert ssim(noisy, image).shape == (2,)


@pytest.mark.parametrize("shape", [(2, 3, 40, 57), (1, 3, 7, 12), (1, 1, 3, 5)])
def test_ssim_is_kornias_map_averaged(shape):
    """The one-padding SSIM gives kornia's own map, page shapes and a window cut to the image."""
    generator = torch.Generator().manual_seed(3)
    pred, true = torch.rand(shape, generator=generator), torch.rand(shape, generator=generator)
    window = min(11, min(shape[-2:]) if min(shape[-2:]) % 2 else min(shape[-2:]) - 1)
    expected = kornia.metrics.ssim(pred, true, window, max_val=1.0)
    assert torch.allclose(ssim_map(pred, true, window), expected, atol=1e-6)
    assert torch.allclose(ssim(pred, true), expected.flatten(1).mean(1), atol=1e-6)


def test_ssim_handles_images_smaller_than_its_window():
    image = torch.rand(1, 3, 4, 6)
    assert torch.allclose(ssim(image, image), torch.ones(1), atol=1e-6)


def test_colourfulness_is_zero_for_grey_and_positive_for_colour():
    grey = torch.full((1, 3, 8, 8), 0.4)
    assert colorfulness(grey).item() == pytest.approx(0.0, abs=1e-4)
    red = torch.zeros(1, 3, 8, 8)
    red[:, 0] = 1.0
    # A flat red image has no spread: 0.3 * sqrt(255^2 + 127.5^2).
    assert colorfulness(red).item() == pytest.approx(0.3 * math.hypot(255.0, 127.5), rel=1e-5)


def test_delta_e_of_rgb_images_through_kornia_lab_is_zero_for_identical_images():
    image = torch.rand(2, 3, 5, 5)
    assert torch.allclose(mean_delta_e_2000(rgb_to_lab(image), rgb_to_lab(image)), torch.zeros(2))


# ---- masked CIEDE2000 and the ring (issue 22) ---------------------------------------------------


def test_masked_mean_delta_e_2000_averages_only_the_masked_pixels():
    from mangacolor.metrics import masked_mean_delta_e_2000

    true = torch.zeros(2, 3, 4, 4)
    true[:, 0] = 50.0
    pred = true.clone()
    pred[0, 0, :2] = 60.0  # the top half of image 0 is off by 10 L units
    mask = torch.zeros(2, 1, 4, 4)
    mask[0, :, :2] = 1.0
    result = masked_mean_delta_e_2000(pred, true, mask)
    expected = delta_e_2000(pred[0, :, 0, 0], true[0, :, 0, 0], dim=0)
    assert torch.allclose(result[0], expected)
    assert math.isnan(result[1])  # no masked pixel: no score
    assert torch.allclose(masked_mean_delta_e_2000(pred, true, mask.bool())[0], expected)


def test_the_neutral_ring_is_the_neutral_pixels_within_reach_of_colour():
    from mangacolor.metrics import neutral_ring

    lab = torch.zeros(1, 3, 41, 41)
    lab[:, 0] = 90.0
    lab[:, 1, 20, 20] = 30.0  # one coloured pixel in the middle
    lab[:, 2, 0, 0] = 4.0  # a faint tint: still neutral
    ring = neutral_ring(lab, neutral_chroma=5.0, reach=8)[0, 0]
    ys, xs = torch.meshgrid(torch.arange(41), torch.arange(41), indexing="ij")
    distance = ((ys - 20) ** 2 + (xs - 20) ** 2).float().sqrt()
    expected = (distance <= 8) & (distance > 0)  # a disk of radius 8 round it, less itself
    assert torch.equal(ring, expected)
    assert not neutral_ring(torch.zeros(1, 3, 5, 5), 5.0, 8).any()  # no colour: no ring
