"""The adversarial weight's schedule (an L1-only warm-up, then a ramp) and spectral normalisation in
the discriminator; with the average of model.ema, all three resume exactly together."""

from __future__ import annotations

import lightning as L
import pytest
import torch
from helpers.trainers import cpu_trainer
from lightning.pytorch.loggers import Logger
from torch import nn

from mangacolor.color import AB_SCALE, L_SCALE
from mangacolor.models.components import PatchDiscriminator
from mangacolor.models.losses import delta_e_94, reconstruction_loss
from mangacolor.models.pix2pix import Pix2Pix
from mangacolor.models.schedules import adversarial_weight
from mangacolor.runtime.config_errors import ConfigError

TINY_G = dict(depth=5, width=8, max_width=16, dropout=0.5)
TINY_D = dict(channels=[8, 16], stride1_channels=16)


class SameBatch(torch.utils.data.IterableDataset):
    """The same batch every time, so a resumed run (whose loader starts afresh) sees what one run
    would."""

    def __iter__(self):
        generator = torch.Generator().manual_seed(0)
        batch = {
            "L": torch.rand(2, 1, 32, 32, generator=generator) * 2 - 1,
            "ab": torch.rand(2, 2, 32, 32, generator=generator) * 0.6 - 0.3,
        }
        while True:
            yield batch


class Scalars(Logger):
    """Keeps what the model logs: {step: {name: value}}."""

    def __init__(self):
        super().__init__()
        self.rows: dict[int, dict[str, float]] = {}

    @property
    def name(self) -> str:
        return "memory"

    @property
    def version(self) -> int:
        return 0

    def log_hyperparams(self, params, *args, **kwargs) -> None:
        pass

    def log_metrics(self, metrics, step=None) -> None:
        self.rows.setdefault(step, {}).update(metrics)


def fit(model: Pix2Pix, ckpt_path=None, **options) -> L.Trainer:
    trainer = cpu_trainer(**options)
    trainer.fit(
        model, torch.utils.data.DataLoader(SameBatch(), batch_size=None), ckpt_path=ckpt_path
    )
    return trainer


# ---- the adversarial weight ----------------------------------------------------------------
def test_the_adversarial_weight_at_chosen_iterations():
    # 100 iterations: 20 of L1 alone, a ramp over the next 10, then the full term.
    weight = [adversarial_weight(i, 100, 0.2, 0.1) for i in range(100)]
    assert weight[:20] == [0.0] * 20
    assert (
        weight[20] == pytest.approx(0.1) and weight[24] == pytest.approx(0.5) and weight[29] == 1.0
    )
    assert weight[30:] == [1.0] * 70
    assert [adversarial_weight(i, 100, 0.0, 0.0) for i in (0, 50, 99)] == [
        1.0,
        1.0,
        1.0,
    ]  # off: the seed's
    assert [adversarial_weight(i, 100, 1.0, 0.0) for i in (0, 99)] == [
        0.0,
        0.0,
    ]  # L1 only, the whole run
    assert (
        adversarial_weight(0, 100, 0.0, 0.5) == pytest.approx(0.02)
        and adversarial_weight(49, 100, 0.0, 0.5) == 1.0
    )


def generator_after(lr_d: float, warmup_fraction: float) -> list[torch.Tensor]:
    torch.manual_seed(0)
    model = Pix2Pix(
        TINY_G,
        TINY_D,
        iterations=3,
        log_every=3,
        lr_d=lr_d,
        adversarial={"warmup_fraction": warmup_fraction},
    )
    fit(model)
    return [p.detach().clone() for p in model.generator.parameters()]


def test_during_the_warm_up_the_generator_learns_from_l1_alone():
    """Whatever D does (here: another learning rate), G's weights are the same during the
    warm-up."""
    warm = [generator_after(lr_d, warmup_fraction=1.0) for lr_d in (2e-4, 2e-2)]
    assert all(torch.equal(a, b) for a, b in zip(*warm, strict=True))
    adversarial = [generator_after(lr_d, warmup_fraction=0.0) for lr_d in (2e-4, 2e-2)]
    assert not all(torch.equal(a, b) for a, b in zip(*adversarial, strict=True))


def test_the_discriminator_trains_during_the_warm_up():
    torch.manual_seed(0)
    model = Pix2Pix(TINY_G, TINY_D, iterations=2, log_every=1, adversarial={"warmup_fraction": 1.0})
    before = [p.detach().clone() for p in model.discriminator.parameters()]
    fit(model)
    assert all(
        not torch.equal(a, p) for a, p in zip(before, model.discriminator.parameters(), strict=True)
    )
    assert torch.isfinite(torch.tensor(model.last_train_scalars["loss/g_adv"]))  # still logged


def test_the_logged_weight_follows_the_schedule_and_a_resume_continues_it(tmp_path):
    options = dict(
        generator=TINY_G,
        discriminator=TINY_D,
        iterations=6,
        log_every=1,
        adversarial={"warmup_fraction": 1 / 3, "ramp_fraction": 1 / 3},
    )
    whole = Scalars()
    torch.manual_seed(0)
    fit(Pix2Pix(**options), logger=whole)
    logged = [whole.rows[step]["loss/adv_weight"] for step in range(1, 7)]
    assert logged == pytest.approx([0.0, 0.0, 0.5, 1.0, 1.0, 1.0])  # step n logs iteration n - 1

    torch.manual_seed(0)
    trainer = fit(Pix2Pix(**options), max_steps=6)  # three iterations of six
    trainer.save_checkpoint(tmp_path / "half.ckpt")
    second = Scalars()
    fit(Pix2Pix(**options), ckpt_path=tmp_path / "half.ckpt", logger=second)
    assert [second.rows[step]["loss/adv_weight"] for step in (4, 5, 6)] == pytest.approx(logged[3:])


@pytest.mark.parametrize(
    "adversarial",
    [
        {"warmup_fraction": 0.8, "ramp_fraction": 0.3},
        {"warmup_fraction": -0.1},
        {"warm_up": 0.1},
        {"ramp_fraction": "half"},
    ],
)
def test_bad_schedules_name_the_key(adversarial):
    with pytest.raises(ConfigError, match=r"model\.adversarial"):
        Pix2Pix(TINY_G, TINY_D, adversarial=adversarial)


# ---- spectral normalisation ----------------------------------------------------------------
def test_off_the_discriminator_is_the_seeds():
    torch.manual_seed(1)
    seeds = PatchDiscriminator(**TINY_D)
    torch.manual_seed(1)
    off = PatchDiscriminator(**TINY_D, spectral_norm=False)
    assert list(off.state_dict()) == list(seeds.state_dict())
    assert all(
        torch.equal(a, b)
        for a, b in zip(off.state_dict().values(), seeds.state_dict().values(), strict=True)
    )
    assert not any("parametrizations" in key for key in off.state_dict())


def test_on_every_convolution_has_spectral_norm_one():
    torch.manual_seed(1)
    discriminator = PatchDiscriminator(**TINY_D, spectral_norm=True)
    convolutions = [layer for layer in discriminator.net if isinstance(layer, nn.Conv2d)]
    assert len(convolutions) == 4
    for conv in convolutions:
        assert nn.utils.parametrize.is_parametrized(conv, "weight")
        original = conv.parametrizations.weight.original
        assert (
            torch.linalg.matrix_norm(original.flatten(1), ord=2) > 0.1
        )  # far from 1 before normalising
        with torch.no_grad():
            sigma = torch.linalg.matrix_norm(conv.weight.flatten(1), ord=2)
        assert sigma.item() == pytest.approx(1.0, abs=0.05)
    # The power-iteration vectors are buffers: they go into checkpoints.
    assert sum(key.endswith(("_u", "_v")) for key in discriminator.state_dict()) == 8


def test_a_spectrally_normalised_discriminator_trains():
    torch.manual_seed(0)
    model = Pix2Pix(TINY_G, TINY_D | {"spectral_norm": True}, iterations=3, log_every=3)
    before = {k: v.clone() for k, v in model.discriminator.state_dict().items()}
    fit(model)
    after = model.discriminator.state_dict()
    # The weights and v of every layer move (u of the one-channel head is always 1).
    assert all(
        not torch.equal(before[k], after[k]) for k in before if k.endswith(("original", "_v"))
    )
    assert all(torch.isfinite(torch.tensor(v)) for v in model.last_train_scalars.values())


def test_resuming_with_the_other_spectral_norm_is_a_clear_error(tmp_path):
    trainer = fit(Pix2Pix(TINY_G, TINY_D, iterations=1))
    trainer.save_checkpoint(tmp_path / "plain.ckpt")
    with pytest.raises(
        ConfigError,
        match="spectral_norm=false; resume it with model.discriminator.spectral_norm=false",
    ):
        fit(
            Pix2Pix(TINY_G, TINY_D | {"spectral_norm": True}, iterations=2),
            ckpt_path=tmp_path / "plain.ckpt",
        )


# ---- all three together ----------------------------------------------------------------------
def test_every_trick_on_resumes_exactly(tmp_path):
    """Two iterations, a checkpoint, two more: the same weights, average, spectral-norm vectors and
    batch-norm statistics as four in one go, with the checkpoint inside the adversarial ramp."""
    options = dict(
        generator=TINY_G,
        discriminator=TINY_D | {"spectral_norm": True},
        iterations=4,
        log_every=1,
        seed=5,
        ema={"decay": 0.5, "start_fraction": 0.25},
        adversarial={"warmup_fraction": 0.25, "ramp_fraction": 0.5},
    )
    torch.manual_seed(0)
    whole = Pix2Pix(**options)
    fit(whole)

    torch.manual_seed(0)
    first = Pix2Pix(**options)
    trainer = fit(first, max_steps=4)
    assert first.iteration == 2
    trainer.save_checkpoint(tmp_path / "half.ckpt")
    torch.manual_seed(123)  # a fresh process: other initial weights and power-iteration vectors
    resumed = Pix2Pix(**options)
    fit(resumed, ckpt_path=tmp_path / "half.ckpt")
    assert resumed.iteration == 4
    state = resumed.state_dict()
    assert any(key.startswith("generator_ema.") for key in state) and any(
        key.endswith("_u") for key in state
    )
    for (name, a), b in zip(whole.state_dict().items(), state.values(), strict=True):
        assert torch.equal(a, b), name


# ---- the reconstruction term ---------------------------------------------------------------------
def cie94_by_hue_angle(lab1: torch.Tensor, lab2: torch.Tensor) -> torch.Tensor:
    """CIE94 written the textbook way, with the hue difference from hue angles (float64), lab2 the
    reference."""
    lab1, lab2 = lab1.double(), lab2.double()
    c1, c2 = torch.hypot(lab1[1], lab1[2]), torch.hypot(lab2[1], lab2[2])
    hue_angle = torch.atan2(lab1[2], lab1[1]) - torch.atan2(lab2[2], lab2[1])
    delta_h = 2 * torch.sqrt(c1 * c2) * torch.sin(hue_angle / 2)
    return torch.sqrt(
        (lab1[0] - lab2[0]) ** 2
        + ((c1 - c2) / (1 + 0.045 * c2)) ** 2
        + (delta_h / (1 + 0.015 * c2)) ** 2
    )


def test_the_cie94_term_is_the_textbook_formula_and_forgives_saturated_colours_more():
    torch.manual_seed(0)
    fake_lab = torch.stack([torch.rand(64) * 100, torch.randn(64) * 40, torch.randn(64) * 40])
    true_lab = torch.stack([torch.rand(64) * 100, torch.randn(64) * 40, torch.randn(64) * 40])

    def scaled(lab: torch.Tensor) -> torch.Tensor:
        return torch.cat([lab[:1] / L_SCALE - 1, lab[1:] / AB_SCALE])[None, :, :, None]

    got = delta_e_94(scaled(fake_lab), scaled(true_lab))[0, :, 0]
    torch.testing.assert_close(
        got.double(), cie94_by_hue_angle(fake_lab, true_lab), rtol=1e-4, atol=1e-3
    )
    # ab predictions on the page's own L: no lightness term
    ab_only = delta_e_94(scaled(fake_lab)[:, 1:], scaled(true_lab)[:, 1:])[0, :, 0]
    torch.testing.assert_close(
        ab_only.double(),
        cie94_by_hue_angle(torch.cat([true_lab[:1], fake_lab[1:]]), true_lab),
        rtol=1e-4,
        atol=1e-3,
    )
    # The same 10-unit shift of b costs less on a saturated colour than on grey.
    grey, saturated = torch.tensor([0.0, 0.0]), torch.tensor([0.0, 60.0]) / AB_SCALE
    shift = torch.tensor([0.0, 10.0]) / AB_SCALE

    def cost(color: torch.Tensor) -> float:
        return float(delta_e_94((color + shift).view(1, 2, 1, 1), color.view(1, 2, 1, 1)))

    assert cost(saturated) < cost(grey) / 3


def test_the_cie94_term_has_finite_gradients_even_on_grey():
    fake = torch.zeros(1, 3, 2, 2, requires_grad=True)
    loss = reconstruction_loss("delta_e_94", fake, torch.zeros(1, 3, 2, 2))
    loss.backward()
    assert torch.isfinite(fake.grad).all() and float(loss) < 1e-4


def test_a_model_trains_on_the_cie94_term_and_a_bad_name_is_named():
    torch.manual_seed(0)
    model = Pix2Pix(TINY_G, TINY_D, iterations=3, log_every=1, reconstruction="delta_e_94")
    before = [p.detach().clone() for p in model.generator.parameters()]
    fit(model)
    assert all(torch.isfinite(p).all() for p in model.generator.parameters())
    assert any(
        not torch.equal(a, p) for a, p in zip(before, model.generator.parameters(), strict=True)
    )
    with pytest.raises(
        ConfigError, match="model.reconstruction must be one of l1, delta_e_94, got 'l2'"
    ):
        Pix2Pix(TINY_G, TINY_D, reconstruction="l2")
