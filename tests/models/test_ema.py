"""model.ema: an exponential moving average of the generator's weights, its checkpoints and one rule
for which weights a run gives (validation, generator.pt, load_generator on a .ckpt)."""

from __future__ import annotations

import lightning as L
import pytest
import torch
from helpers.trainers import cpu_trainer
from lightning.pytorch.callbacks import Callback
from torch import nn

from mangacolor.callbacks.checkpoints import IterationCheckpoint
from mangacolor.inference.generator_file import load_generator
from mangacolor.models.ema import averaged_copy, ema_weight, update_average
from mangacolor.models.pix2pix import Pix2Pix
from mangacolor.runtime.config_errors import ConfigError

TINY_G = dict(
    depth=5, width=8, max_width=16, dropout=0.5
)  # batch norm: running statistics to follow
TINY_D = dict(channels=[8, 16], stride1_channels=16)


class Batches(torch.utils.data.IterableDataset):
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


def loader():
    return torch.utils.data.DataLoader(Batches(), batch_size=None)


def states_equal(a: dict, b: dict) -> bool:
    return list(a) == list(b) and all(
        torch.equal(x, y) for x, y in zip(a.values(), b.values(), strict=True)
    )


class LiveSnapshots(Callback):
    """The live generator's state after each iteration."""

    def __init__(self):
        self.states = []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self.states.append(
            {k: v.detach().clone() for k, v in pl_module.generator.state_dict().items()}
        )


# ---- the average itself ------------------------------------------------------------------
def test_the_weight_is_a_copy_until_the_start_then_one_minus_decay():
    assert [ema_weight(update, 0.9, start=2.0) for update in (1, 2, 3, 10)] == pytest.approx(
        [1.0, 1.0, 0.1, 0.1]
    )
    assert ema_weight(1, 0.999, start=0.0) == pytest.approx(0.001)


def test_weights_and_running_statistics_move_together_and_counters_are_copied():
    torch.manual_seed(0)
    live = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2))
    average = averaged_copy(live)
    before = {k: v.clone() for k, v in average.state_dict().items()}
    live.train()(torch.randn(4, 1, 8, 8))  # running statistics and the batch counter change
    with torch.no_grad():
        for parameter in live.parameters():
            parameter.add_(1.0)
    update_average(average, live, 0.25)
    for key, value in average.state_dict().items():
        if key.endswith("num_batches_tracked"):
            assert value.item() == live.state_dict()[key].item() == 1
        else:
            torch.testing.assert_close(
                value, before[key] + 0.25 * (live.state_dict()[key] - before[key])
            )
    update_average(average, live, 1.0)
    assert states_equal(average.state_dict(), live.state_dict())  # weight 1 copies exactly
    assert not any(p.requires_grad for p in average.parameters())


def test_the_average_is_not_trained_and_follows_the_live_generator_after_each_step():
    torch.manual_seed(0)
    model = Pix2Pix(
        TINY_G, TINY_D, iterations=4, log_every=4, ema={"decay": 0.6, "start_fraction": 0.25}
    )
    initial = {k: v.clone() for k, v in model.generator.state_dict().items()}
    snapshots = LiveSnapshots()
    cpu_trainer(callbacks=[snapshots]).fit(model, loader())

    (opt_g, opt_d), _ = model.configure_optimizers()
    in_optimizers = {
        id(p) for opt in (opt_g, opt_d) for group in opt.param_groups for p in group["params"]
    }
    assert not any(
        id(p) in in_optimizers or p.requires_grad for p in model.generator_ema.parameters()
    )
    # By hand: a copy for update 1 (start = 0.25 x 4 = 1), then 0.4 of the way to G after each of 2
    # to 4.
    expected = initial
    for update, live in enumerate(snapshots.states, start=1):
        weight = 1.0 if update <= 1 else 0.4
        expected = {
            k: (live[k] if not v.is_floating_point() else v + weight * (live[k] - v))
            for k, v in expected.items()
        }
    average = model.generator_ema.state_dict()
    for key, value in expected.items():
        torch.testing.assert_close(average[key], value, rtol=1e-6, atol=1e-7, msg=key)
    assert not states_equal(average, model.generator.state_dict())
    assert any("running_mean" in key for key in average)  # batch norm's statistics are among them


def test_off_by_default_with_no_second_generator():
    model = Pix2Pix(TINY_G, TINY_D)
    assert model.generator_ema is None and model.inference_generator is model.generator
    assert not any(key.startswith("generator_ema.") for key in model.state_dict())


@pytest.mark.parametrize(
    ("ema", "key"),
    [
        ({"decay": 1.0}, "model.ema.decay"),
        ({"decay": 0.0}, "model.ema.decay"),
        ({"decay": "high"}, "model.ema.decay"),
        ({"start_fraction": 1.0}, "model.ema.start_fraction"),
        ({"decay": 0.9, "warmup": 3}, "model.ema: unknown key"),
    ],
)
def test_bad_settings_name_the_key(ema, key):
    """The model's constructor holds the rule, so every builder of the model (train, the bench) gets
    it."""
    with pytest.raises(ConfigError, match=key):
        Pix2Pix(TINY_G, TINY_D, ema=ema)


# ---- validation, checkpoints and exports use the average ---------------------------------
def trained_with_average(tmp_path=None, iterations: int = 3) -> tuple[Pix2Pix, L.Trainer]:
    """A run whose average clearly differs from its live generator (decay 0.5 from the start)."""
    torch.manual_seed(0)
    model = Pix2Pix(TINY_G, TINY_D, iterations=iterations, log_every=1, ema={"decay": 0.5})
    callbacks = (
        [IterationCheckpoint(str(tmp_path), every_n_iterations=iterations)] if tmp_path else []
    )
    trainer = cpu_trainer(callbacks=callbacks)
    trainer.fit(model, loader())
    assert not states_equal(model.generator_ema.state_dict(), model.generator.state_dict())
    return model, trainer


def outputs_of(generator: nn.Module) -> torch.Tensor:
    with torch.no_grad():
        return generator.eval()(torch.linspace(-1, 1, 2 * 32 * 32).view(2, 1, 32, 32))


def test_validation_colours_with_the_average():
    model, _ = trained_with_average()
    batch = next(iter(Batches()))
    model.eval()
    model.on_validation_epoch_start()
    with torch.no_grad():
        fake = model.validation_step(batch, 0)["fake"]
        assert torch.equal(fake, model.generator_ema(batch["L"]).float())
        assert not torch.equal(fake, model.generator(batch["L"]).float())


def test_generator_pt_and_every_ckpt_give_the_average(tmp_path):
    model, _ = trained_with_average(tmp_path)
    want, live = outputs_of(model.generator_ema), outputs_of(model.generator)
    assert not torch.equal(want, live)
    assert torch.load(tmp_path / "generator.pt", weights_only=True)["averaged"] is True
    for name in ("generator.pt", "last.ckpt"):
        generator, _ = load_generator(tmp_path / name)
        torch.testing.assert_close(outputs_of(generator), want, rtol=0, atol=0, msg=name)


def test_without_an_average_the_exports_give_the_trained_generator(tmp_path):
    torch.manual_seed(0)
    model = Pix2Pix(TINY_G, TINY_D, iterations=2, log_every=1)
    cpu_trainer(callbacks=[IterationCheckpoint(str(tmp_path), every_n_iterations=2)]).fit(
        model, loader()
    )
    assert torch.load(tmp_path / "generator.pt", weights_only=True)["averaged"] is False
    for name in ("generator.pt", "last.ckpt"):
        torch.testing.assert_close(
            outputs_of(load_generator(tmp_path / name)[0]),
            outputs_of(model.generator),
            rtol=0,
            atol=0,
            msg=name,
        )


# ---- resuming ------------------------------------------------------------------------------
def test_a_run_with_an_average_resumes_exactly(tmp_path):
    """Two iterations, a checkpoint, two more: the same average (and everything else) as four in one
    go. start_fraction 0.25 of 4: the copy phase ends before the checkpoint, the averaging crosses
    it."""
    options = dict(
        generator=TINY_G,
        discriminator=TINY_D,
        log_every=1,
        seed=3,
        ema={"decay": 0.7, "start_fraction": 0.25},
    )
    torch.manual_seed(0)
    whole = Pix2Pix(iterations=4, **options)
    cpu_trainer().fit(whole, loader())

    torch.manual_seed(0)
    first = Pix2Pix(iterations=4, **options)
    trainer = cpu_trainer(max_steps=4)  # two iterations: Lightning counts two optimizer steps each
    trainer.fit(first, loader())
    assert first.iteration == 2
    trainer.save_checkpoint(tmp_path / "half.ckpt")
    torch.manual_seed(123)  # a fresh process: other initial weights
    resumed = Pix2Pix(iterations=4, **options)
    cpu_trainer().fit(resumed, loader(), ckpt_path=tmp_path / "half.ckpt")
    assert resumed.iteration == 4
    for (name, a), b in zip(whole.state_dict().items(), resumed.state_dict().values(), strict=True):
        assert torch.equal(a, b), name


def test_a_checkpoint_without_an_average_resumed_with_one_starts_it_from_the_live_generator(
    tmp_path,
):
    torch.manual_seed(0)
    plain = Pix2Pix(TINY_G, TINY_D, iterations=2, log_every=1)
    trainer = cpu_trainer()
    trainer.fit(plain, loader())
    trainer.save_checkpoint(tmp_path / "plain.ckpt")

    checkpoint = torch.load(tmp_path / "plain.ckpt", weights_only=True)
    averaged = Pix2Pix(TINY_G, TINY_D, iterations=3, log_every=1, ema={"decay": 0.25})
    averaged.on_load_checkpoint(checkpoint)
    averaged.load_state_dict(checkpoint["state_dict"])  # strict: every generator_ema.* key is there
    assert states_equal(averaged.generator_ema.state_dict(), plain.generator.state_dict())

    torch.manual_seed(0)
    resumed = Pix2Pix(TINY_G, TINY_D, iterations=3, log_every=1, ema={"decay": 0.25})
    snapshots = LiveSnapshots()
    cpu_trainer(callbacks=[snapshots]).fit(resumed, loader(), ckpt_path=tmp_path / "plain.ckpt")
    after = snapshots.states[-1]
    for key, value in resumed.generator_ema.state_dict().items():
        start = plain.generator.state_dict()[key]
        want = after[key] if not value.is_floating_point() else start + 0.75 * (after[key] - start)
        torch.testing.assert_close(value, want, rtol=1e-6, atol=1e-7, msg=key)


def test_a_checkpoint_with_an_average_resumed_without_one_drops_it(tmp_path):
    _, trainer = trained_with_average(iterations=2)
    trainer.save_checkpoint(tmp_path / "averaged.ckpt")
    torch.manual_seed(0)
    plain = Pix2Pix(TINY_G, TINY_D, iterations=3, log_every=1)
    cpu_trainer().fit(plain, loader(), ckpt_path=tmp_path / "averaged.ckpt")
    assert plain.iteration == 3 and plain.generator_ema is None
