import lightning as L
import pytest
import torch

from mangacolor.models.pix2pix import Pix2Pix, linear_decay

TINY_G = dict(depth=5, width=8, max_width=16)
TINY_D = dict(channels=[8, 16], stride1_channels=16)


class OneBatch(torch.utils.data.IterableDataset):
    def __iter__(self):
        generator = torch.Generator().manual_seed(0)
        while True:
            yield {"L": torch.rand(1, 32, 32, generator=generator) * 2 - 1,
                   "ab": torch.rand(2, 32, 32, generator=generator) * 0.6 - 0.3}


def test_one_step_changes_both_networks():
    model = Pix2Pix(TINY_G, TINY_D, iterations=1, log_every=1)
    before_g = [p.detach().clone() for p in model.generator.parameters()]
    before_d = [p.detach().clone() for p in model.discriminator.parameters()]
    trainer = L.Trainer(accelerator="cpu", max_epochs=-1, logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False, limit_val_batches=0)
    trainer.fit(model, torch.utils.data.DataLoader(OneBatch(), batch_size=2))
    assert model.iteration == 1
    assert trainer.global_step == 2  # Lightning counts both optimizer steps
    assert all(not torch.equal(a, b) for a, b in zip(before_g, model.generator.parameters()))
    assert all(not torch.equal(a, b) for a, b in zip(before_d, model.discriminator.parameters()))
    assert set(model.last_train_scalars) >= {"loss/d_real", "loss/d_fake", "loss/g_adv", "loss/g_l1",
                                              "d/real_score", "d/fake_score", "lr/g", "lr/d"}


def test_seed_learning_rates_are_separate():
    model = Pix2Pix(TINY_G, TINY_D, lr_g=2e-5, lr_d=2e-4)
    (opt_g, opt_d), _ = model.configure_optimizers()
    assert opt_g.param_groups[0]["lr"] == 2e-5 and opt_d.param_groups[0]["lr"] == 2e-4
    assert opt_g.param_groups[0]["betas"] == (0.5, 0.999)


def test_schedule_constant_then_linear_to_zero():
    factor = linear_decay(100, 0.5)
    assert [factor(i) for i in (0, 49, 50, 75, 100)] == [1.0, 1.0, 1.0, 0.5, 0.0]
    assert linear_decay(100, 0.0)(99) == 1.0


@pytest.mark.parametrize("key", ["lr_g", "lr_d", "iterations"])
def test_bad_hyperparameters_name_the_key(key):
    with pytest.raises(ValueError, match=f"model.{key}"):
        Pix2Pix(TINY_G, TINY_D, **{key: 0})


def weights_after_two_iterations(monkeypatch, rank: int, global_seed: int) -> list[torch.Tensor]:
    """Same initial weights and batches; only the rank and the global RNG state before fit differ."""
    torch.manual_seed(0)
    model = Pix2Pix(dict(TINY_G, dropout=0.5), TINY_D, iterations=2, log_every=2, seed=7)
    monkeypatch.setattr(Pix2Pix, "global_rank", property(lambda self: rank))
    torch.manual_seed(global_seed)
    trainer = L.Trainer(accelerator="cpu", max_epochs=-1, logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False, limit_val_batches=0)
    trainer.fit(model, torch.utils.data.DataLoader(OneBatch(), batch_size=2))
    return [p.detach().clone() for p in model.generator.parameters()]


def test_dropout_masks_depend_on_seed_rank_and_iteration_only(monkeypatch):
    # DDP ranks share one run seed: without a per-rank seed they would drop the same units.
    rank0 = weights_after_two_iterations(monkeypatch, rank=0, global_seed=1)
    rank0_again = weights_after_two_iterations(monkeypatch, rank=0, global_seed=2)
    rank1 = weights_after_two_iterations(monkeypatch, rank=1, global_seed=1)
    assert all(torch.equal(a, b) for a, b in zip(rank0, rank0_again))  # no state carried in from outside
    assert not all(torch.equal(a, b) for a, b in zip(rank0, rank1))
