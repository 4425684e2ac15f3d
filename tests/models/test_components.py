import pytest
import torch

from mangacolor.models.components import PatchDiscriminator, UNetGenerator
from mangacolor.models.components.norms import make_norm
from mangacolor.models.losses import GANLoss

SEED_G = dict(depth=9, width=64, max_width=512, norm="instance", dropout=0.5, dropout_blocks=4)
SEED_D = dict(channels=(64, 128, 256, 512, 1024), stride1_channels=1024, norm="instance")


def count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def keras_count(module: torch.nn.Module) -> int:
    """Keras also counts batch norm's moving mean and variance."""
    return count(module) + sum(b.numel() for n, b in module.named_buffers() if "running_" in n)


def test_seed_generator_has_the_seeds_parameter_count():
    generator = UNetGenerator(**SEED_G)
    assert count(generator) == 67_001_346  # Keras: 67,001,346 trainable
    assert (
        keras_count(UNetGenerator(**{**SEED_G, "norm": "batch"})) == 67_013_250
    )  # and 67,013,250 in all


def test_seed_discriminator_has_the_seeds_parameter_count_and_16x16_map():
    assert keras_count(PatchDiscriminator(**{**SEED_D, "norm": "batch"})) == 27_952_577
    assert abs(count(PatchDiscriminator(**SEED_D)) - 27.95e6) < 0.05e6


@pytest.mark.slow
def test_seed_shapes_at_512():
    generator, discriminator = UNetGenerator(**SEED_G).eval(), PatchDiscriminator(**SEED_D).eval()
    with torch.no_grad():
        lightness = torch.rand(1, 1, 512, 512) * 2 - 1
        ab = generator(lightness)
        assert ab.shape == (1, 2, 512, 512)
        assert discriminator(lightness, ab).shape == (1, 1, 16, 16)


@pytest.mark.parametrize("depth,size", [(5, 32), (7, 128), (8, 256)])
def test_smaller_depths_take_their_sizes(depth, size):
    generator = UNetGenerator(depth=depth, width=8, max_width=32).eval()
    discriminator = PatchDiscriminator(channels=(8, 16, 32), stride1_channels=32)
    with torch.no_grad():
        ab = generator(torch.zeros(2, 1, size, size))
        assert ab.shape == (2, 2, size, size) and ab.abs().max() <= 1
        assert discriminator(torch.zeros(2, 1, size, size), ab).shape == (
            2,
            1,
            size // 8,
            size // 8,
        )
    # Non-square pages work too, at multiples of 2**depth.
    with torch.no_grad():
        assert generator(torch.zeros(1, 1, size, 2 * size)).shape == (1, 2, size, 2 * size)


def interior_spread(generator: UNetGenerator, size: int, margin: int) -> float:
    """How much the output varies away from the borders for an even grey input (none is right)."""
    with torch.no_grad():
        out = generator.eval()(torch.full((1, 1, size, size), 0.3))
    return float(out[..., margin:-margin, margin:-margin].std(dim=(-2, -1)).max())


@pytest.mark.parametrize("out_channels", [2, 3])
def test_resize_upsampling_leaves_no_checkerboard_where_transposed_convs_draw_one(out_channels):
    torch.manual_seed(0)
    options = dict(depth=4, width=8, max_width=32, dropout=0.0, out_channels=out_channels)
    transposed, resize = UNetGenerator(**options), UNetGenerator(**options, upsample="resize")
    # An even page, four times the generator's multiple: far from the edges nothing varies, so any
    # pattern there is the upsampling's own (the transposed conv's uneven overlap).
    assert interior_spread(transposed, 64, 24) > 1e-3
    assert interior_spread(resize, 64, 24) < 1e-5
    with torch.no_grad():
        page = torch.rand(2, 1, 32, 64) * 2 - 1
        assert resize(page).shape == (2, out_channels, 32, 64) and resize(page).abs().max() <= 1


def test_resize_head_sees_the_input_at_full_resolution():
    # With the head's conv reading only the input channel (a centre tap), the output is the input
    # pixel for pixel: a one-pixel detail, finer than any encoder level, reaches the output as it is.
    generator = UNetGenerator(depth=4, width=8, max_width=32, dropout=0.0, upsample="resize").eval()
    conv = generator.head[0]
    with torch.no_grad():
        conv.weight.zero_()
        conv.bias.zero_()
        conv.weight[:, -1, 1, 1] = 1.0  # the last input channel is the page itself
        page = torch.zeros(1, 1, 32, 32)
        page[..., 17, 17] = 0.5
        assert torch.allclose(generator(page), torch.tanh(page).expand(1, 2, 32, 32))


def test_generator_refuses_an_unknown_upsampling():
    with pytest.raises(ValueError, match="upsample must be one of transposed, resize"):
        UNetGenerator(depth=4, width=4, max_width=8, upsample="nearest")


def test_generator_refuses_sizes_it_cannot_take():
    with pytest.raises(ValueError, match="multiple of 2\\*\\*depth = 32"):
        UNetGenerator(depth=5, width=4, max_width=8)(torch.zeros(1, 1, 48, 40))


def test_weights_start_from_n_0_002():
    generator = UNetGenerator(depth=6, width=32, max_width=128)
    weights = torch.cat(
        [m.weight.flatten() for m in generator.modules() if isinstance(m, torch.nn.Conv2d)]
    )
    assert abs(float(weights.mean())) < 1e-3
    assert abs(float(weights.std()) - 0.02) < 1e-3


def test_norm_options():
    assert isinstance(make_norm("batch", 4), torch.nn.BatchNorm2d)
    assert isinstance(make_norm("instance", 4), torch.nn.InstanceNorm2d)
    assert isinstance(make_norm("none", 4), torch.nn.Identity)
    with pytest.raises(ValueError, match="unknown norm"):
        make_norm("group", 4)


def test_generator_eval_is_deterministic_without_dropout():
    generator = UNetGenerator(depth=5, width=8, max_width=16).eval()
    x = torch.rand(1, 1, 32, 32)
    with torch.no_grad():
        assert torch.equal(generator(x), generator(x))


def test_gan_loss_modes():
    real, fake = torch.full((2, 1, 4, 4), 1.0), torch.full((2, 1, 4, 4), 0.0)
    for mode in ("vanilla", "lsgan", "hinge"):
        loss = GANLoss(mode)
        # A discriminator that is right scores lower loss than one that is wrong.
        assert loss(real, True) < loss(fake, True), mode
        assert loss(fake, False) < loss(real, False), mode
    vanilla = GANLoss("vanilla")
    logits = torch.randn(3, 1, 4, 4)
    expected = torch.nn.functional.binary_cross_entropy(
        torch.sigmoid(logits), torch.ones_like(logits)
    )
    assert torch.allclose(vanilla(logits, True), expected, atol=1e-5)  # the seed's sigmoid + BCE
    assert GANLoss("hinge")(torch.full((1, 1, 2, 2), -5.0), True, for_discriminator=False) == 5.0
    with pytest.raises(ValueError, match="unknown GAN loss"):
        GANLoss("wgan")
