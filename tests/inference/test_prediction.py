"""Running a generator on pages of any size: padding to its multiple, device and precision."""

from __future__ import annotations

import pytest
import torch

from mangacolor.inference.prediction import pad_to_multiple, predict_ab
from mangacolor.models.components import UNetGenerator
from mangacolor.runtime.devices import resolve_device, resolve_precision


def test_pad_to_multiple_reflects_at_the_bottom_and_right():
    image = torch.arange(5 * 6, dtype=torch.float32).view(1, 1, 5, 6)
    padded = pad_to_multiple(image, 8)
    assert padded.shape == (1, 1, 8, 8)
    assert torch.equal(padded[..., :5, :6], image)  # the page itself is untouched, at the top left
    assert torch.equal(
        padded[..., 5, :6], image[..., 3, :]
    )  # row 5 mirrors row 3 (reflection, no repeat)
    assert torch.equal(padded[..., :5, 6], image[..., :, 4])


def test_pad_to_multiple_leaves_a_fitting_image_alone():
    image = torch.rand(2, 1, 16, 8)
    assert pad_to_multiple(image, 8) is image


def test_pad_to_multiple_pads_wider_than_the_image_in_steps():
    image = torch.rand(1, 1, 3, 5)
    padded = pad_to_multiple(image, 16)
    assert padded.shape == (1, 1, 16, 16)
    assert torch.equal(padded[..., :3, :5], image)
    assert set(padded.unique().tolist()) <= set(image.unique().tolist())  # only reflected pixels


def test_pad_to_multiple_repeats_a_one_pixel_side():
    image = torch.rand(1, 1, 1, 5)
    padded = pad_to_multiple(image, 8)
    assert padded.shape == (1, 1, 8, 8)
    assert torch.equal(padded[..., 7, :5], image[..., 0, :])


def test_predict_ab_gives_the_input_size_and_the_generator_output_where_no_padding_is_needed():
    torch.manual_seed(0)
    generator = UNetGenerator(depth=3, width=4, max_width=8).eval()
    lightness = torch.rand(2, 1, 13, 21) * 2 - 1
    fake = predict_ab(generator, lightness)
    assert fake.shape == (2, 2, 13, 21) and fake.dtype == torch.float32
    exact = torch.rand(1, 1, 16, 24) * 2 - 1
    with torch.no_grad():
        assert torch.allclose(predict_ab(generator, exact), generator(exact))


def test_predict_ab_under_bf16_autocast_stays_close_to_float32():
    torch.manual_seed(0)
    generator = UNetGenerator(depth=3, width=4, max_width=8).eval()
    lightness = torch.rand(1, 1, 16, 16) * 2 - 1
    full, mixed = (
        predict_ab(generator, lightness, "32-true"),
        predict_ab(generator, lightness, "bf16-mixed"),
    )
    assert mixed.dtype == torch.float32
    assert (full - mixed).abs().max() < 0.05


def test_resolve_precision_and_device_on_this_machine():
    cpu = torch.device("cpu")
    assert resolve_precision("auto", cpu) == "32-true"
    assert resolve_precision("bf16-mixed", cpu) == "bf16-mixed"
    assert resolve_precision(32, cpu) == "32"
    with pytest.raises(ValueError, match="precision must be one of"):
        resolve_precision("64", cpu)
    assert resolve_device("cpu") == cpu
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(ValueError, match="mps"):
        resolve_device("mps")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no CUDA GPU"):
            resolve_device("cuda")
