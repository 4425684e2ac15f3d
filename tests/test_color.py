import torch
from kornia.color import rgb_to_lab
from torch.utils._python_dispatch import TorchDispatchMode

from mangacolor.color import (
    AB_SCALE,
    cie_lab,
    lab_lightness,
    lightness_preserving_rgb,
    rgb_to_scaled_lab,
    scaled_lab_to_rgb,
)

# Reference CIE Lab (D65) of sRGB primaries and greys.
KNOWN = {
    (1.0, 1.0, 1.0): (100.0, 0.0, 0.0),
    (0.0, 0.0, 0.0): (0.0, 0.0, 0.0),
    (1.0, 0.0, 0.0): (53.24, 80.09, 67.20),
    (0.0, 1.0, 0.0): (87.73, -86.18, 83.18),
    (0.0, 0.0, 1.0): (32.30, 79.19, -107.86),
}


def test_known_colours_have_known_lab():
    for rgb, (l_ref, a_ref, b_ref) in KNOWN.items():
        image = torch.tensor(rgb).view(1, 3, 1, 1)
        lightness, ab = rgb_to_scaled_lab(image)
        assert abs(float((lightness + 1) * 50) - l_ref) < 0.1, rgb
        assert abs(float(ab[0, 0] * AB_SCALE) - a_ref) < 0.2, rgb
        assert abs(float(ab[0, 1] * AB_SCALE) - b_ref) < 0.2, rgb


def test_scaling_keeps_srgb_inside_unit_range():
    grid = torch.stack(torch.meshgrid(*[torch.linspace(0, 1, 17)] * 3, indexing="ij")).view(
        1, 3, 17, -1
    )
    lightness, ab = rgb_to_scaled_lab(grid)
    assert lightness.min() >= -1.0001 and lightness.max() <= 1.0001
    assert ab.abs().max() <= 1.0


def test_round_trip_and_float32_under_autocast():
    rgb = torch.rand(2, 3, 8, 8)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        lightness, ab = rgb_to_scaled_lab(rgb.bfloat16())
        back = scaled_lab_to_rgb(lightness, ab)
    assert lightness.dtype == ab.dtype == back.dtype == torch.float32
    assert torch.allclose(back, rgb, atol=1e-2)  # bf16 input quantisation only


def test_lightness_survives_out_of_gamut_colours():
    torch.manual_seed(0)
    lightness = torch.rand(1, 1, 64, 64) * 2 - 1
    lightness[..., :8, :] = 1.0  # white paper
    lightness[..., 8:16, :] = -1.0  # black ink
    ab = torch.rand(1, 2, 64, 64) * 2 - 1  # mostly far outside sRGB
    clipped_l, _ = rgb_to_scaled_lab(scaled_lab_to_rgb(lightness, ab))
    kept_l, kept_ab = rgb_to_scaled_lab(lightness_preserving_rgb(lightness, ab))
    assert (clipped_l - lightness).abs().max() * 50 > 10  # plain clipping moves L a lot
    assert (kept_l - lightness).abs().max() * 50 < 0.05
    assert kept_ab.abs().mean() > 0.1 * ab.abs().mean()  # colour survives where it can
    mid_l, small_ab = (
        lightness[..., 16:, :] * 0.8,
        ab[..., 16:, :] * 0.05,
    )  # well inside sRGB: untouched
    assert torch.allclose(
        lightness_preserving_rgb(mid_l, small_ab), scaled_lab_to_rgb(mid_l, small_ab), atol=1e-6
    )


# Ops that, on a GPU, make the host wait for the device (a data-dependent shape, reading a value) or
# upload host data (a tensor built from Python numbers).
HOST_BOUND_OPS = (
    "aten.nonzero",
    "aten._local_scalar_dense",
    "aten.masked_select",
    "aten.lift_fresh",
)


class RecordOps(TorchDispatchMode):
    def __init__(self):
        super().__init__()
        self.ops: list[str] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.ops.append(str(func))
        return func(*args, **(kwargs or {}))


def host_bound_ops(function, *args) -> list[str]:
    with RecordOps() as recorder:
        function(*args)
    return sorted(op for op in recorder.ops if op.startswith(HOST_BOUND_OPS))


def test_keeping_lightness_adds_no_host_bound_op_to_the_conversion():
    torch.manual_seed(0)
    lightness, ab = (
        torch.rand(1, 1, 16, 16) * 2 - 1,
        torch.rand(1, 2, 16, 16) * 2 - 1,
    )  # mostly out of gamut
    # Whatever kornia's own conversion does, keeping L must not add a gather or an upload per page.
    assert host_bound_ops(lightness_preserving_rgb, lightness, ab) == host_bound_ops(
        scaled_lab_to_rgb, lightness, ab
    )


def test_srgb_curves_match_kornias_in_range_and_invert_each_other_beyond_it():
    from kornia.color import linear_rgb_to_rgb, rgb_to_linear_rgb

    from mangacolor.color import linear_to_srgb, linear_to_srgb_unbounded, srgb_to_linear

    rgb = torch.rand(2, 3, 8, 8)
    assert torch.allclose(srgb_to_linear(rgb), rgb_to_linear_rgb(rgb), atol=1e-6)
    assert torch.allclose(linear_to_srgb(rgb), linear_rgb_to_rgb(rgb), atol=1e-6)
    wide = torch.linspace(0, 3, 300).view(1, 3, 10, 10)
    assert torch.allclose(linear_to_srgb_unbounded(srgb_to_linear(wide)), wide, atol=1e-5)


def test_grey_and_lightness_are_each_others_inverse():
    from mangacolor.color import grey_as_lightness, lightness_as_grey, lightness_as_rgb

    lightness = torch.linspace(-1, 1, 201).view(1, 1, 201, 1)
    grey = lightness_as_grey(lightness)
    assert torch.allclose(
        grey, lightness_as_rgb(lightness)[:, :1], atol=1e-5
    )  # the grey a reader sees
    assert grey[0, 0, 0, 0] == 0.0 and abs(float(grey[0, 0, -1, 0]) - 1.0) < 1e-6
    assert torch.allclose(grey_as_lightness(grey), lightness, atol=1e-4)


def test_fit_to_gamut_keeps_luminance_and_leaves_colours_in_gamut_alone():
    from mangacolor.color import fit_to_gamut, luminance, srgb_to_linear

    torch.manual_seed(0)
    inside = torch.rand(1, 3, 16, 16)
    assert torch.equal(fit_to_gamut(inside), inside)
    outside = torch.rand(1, 3, 16, 16) * 2.0 - 0.3  # channels above 1 and below 0
    fitted = fit_to_gamut(outside)
    assert fitted.min() >= 0 and fitted.max() <= 1
    wanted = luminance(srgb_to_linear(outside)).clamp(0, 1)
    assert (luminance(srgb_to_linear(fitted)) - wanted).abs().max() < 1e-4
    # A saturated colour asked too bright is lightened toward white: it keeps its hue's order of channels.
    red = torch.tensor([1.6, 0.4, 0.4]).view(1, 3, 1, 1)
    shown = fit_to_gamut(red)[0, :, 0, 0]
    assert (
        abs(float(shown[0]) - 1.0) < 1e-5 and shown[1] > 0.4 and torch.isclose(shown[1], shown[2])
    )


def test_lab_lightness_is_labs_L():
    rgb = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    rgb[0, :, :4] = 0.0  # the linear part of Lab's curve
    assert torch.allclose(lab_lightness(rgb), rgb_to_lab(rgb)[:, :1] / 100, atol=1e-5)


def test_cie_lab_undoes_the_networks_scaling():
    rgb = torch.rand(2, 3, 8, 8, generator=torch.Generator().manual_seed(2))
    lab = cie_lab(*rgb_to_scaled_lab(rgb))
    assert lab.dtype == torch.float32 and lab.shape == (2, 3, 8, 8)
    assert torch.allclose(lab, rgb_to_lab(rgb), atol=1e-4)
    half = cie_lab(*(part.half() for part in rgb_to_scaled_lab(rgb)))
    assert half.dtype == torch.float32
