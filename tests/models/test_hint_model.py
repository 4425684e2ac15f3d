"""A hint model (model.hints): G takes the hint maps, D does not; validation at 0 hints and with
the batch's hints; generator.pt and resume say which it is."""

from __future__ import annotations

import pytest
import torch
from helpers.trainers import cpu_trainer

from mangacolor.hints.raster import hint_channels
from mangacolor.inference.generator_file import (
    export_generator,
    input_channels,
    load_generator,
    takes_hints,
)
from mangacolor.models.pix2pix import Pix2Pix
from mangacolor.runtime.config_errors import ConfigError

TINY_G = dict(depth=5, width=8, max_width=16)
TINY_D = dict(channels=[8, 16], stride1_channels=16)


def hint_batch(batch: int = 2, size: int = 32, predicts: str = "ab") -> dict:
    generator = torch.Generator().manual_seed(0)
    color_channels = hint_channels(predicts) - 1
    mask = (torch.rand(batch, 1, size, size, generator=generator) > 0.95).float()
    return {
        "L": torch.rand(batch, 1, size, size, generator=generator) * 2 - 1,
        "ab": torch.rand(batch, 2, size, size, generator=generator) * 0.6 - 0.3,
        "hint_color": torch.rand(batch, color_channels, size, size, generator=generator) - 0.5,
        "hint_mask": mask,
    }


class HintBatches(torch.utils.data.IterableDataset):
    def __iter__(self):
        while True:
            yield {k: v[0] for k, v in hint_batch(1).items()}


@pytest.mark.parametrize("predicts", ["ab", "lab"])
def test_g_takes_the_hint_channels_and_d_the_page_alone(predicts):
    model = Pix2Pix(TINY_G, TINY_D, predicts=predicts, hints=True)
    out = 2 if predicts == "ab" else 3
    assert input_channels(model.generator) == 1 + hint_channels(predicts)
    plain = Pix2Pix(TINY_G, TINY_D, predicts=predicts)
    # D is the same network with or without hints: it judges (page, colour) alone.
    assert [p.shape for p in model.discriminator.parameters()] == [
        p.shape for p in plain.discriminator.parameters()
    ]
    assert model.generator_input(torch.zeros(2, 1, 32, 32)).shape == (
        2,
        1 + hint_channels(predicts),
        32,
        32,
    )
    assert model(model.generator_input(torch.zeros(2, 1, 32, 32))).shape == (2, out, 32, 32)


def test_without_hints_the_generator_sees_the_page_alone():
    model = Pix2Pix(TINY_G, TINY_D)
    page = torch.zeros(2, 1, 32, 32)
    assert model.generator_input(page) is page
    assert input_channels(model.generator) == 1


def test_empty_hint_maps_are_the_automatic_colouring():
    model = Pix2Pix(TINY_G, TINY_D, hints=True)
    page = torch.rand(1, 1, 32, 32)
    empty = model.generator_input(page, torch.zeros(1, 2, 32, 32), torch.zeros(1, 1, 32, 32))
    assert torch.equal(model.generator_input(page), empty)


def test_a_hint_model_trains_and_validates_at_zero_hints_and_with_hints(tmp_path):
    model = Pix2Pix(TINY_G, TINY_D, iterations=2, log_every=1, hints=True)
    trainer = cpu_trainer()
    trainer.fit(model, torch.utils.data.DataLoader(HintBatches(), batch_size=2))
    assert model.iteration == 2
    model.eval()
    model.on_validation_epoch_start()
    with torch.no_grad():
        model.validation_step(hint_batch(), 0)
    hinted = model._val_hinted_sums
    assert hinted is not None and hinted[..., -1].sum() == 2  # both images scored with hints
    assert not torch.equal(hinted, model._val_sums)  # the hints change the colouring


def test_generator_file_records_hints_and_loads_them(tmp_path):
    model = Pix2Pix(TINY_G, TINY_D, predicts="lab", hints=True)
    path = export_generator(
        model.inference_generator, dict(model.hparams.generator), tmp_path / "g.pt"
    )
    generator, _ = load_generator(path)
    assert generator.hints and takes_hints(generator)
    page = torch.rand(1, 1, 32, 32)
    expected = model.inference_generator.eval()(model.generator_input(page))
    assert torch.allclose(generator(model.generator_input(page)), expected)
    ckpt = tmp_path / "last.ckpt"
    torch.save({"state_dict": model.state_dict(), "hyper_parameters": dict(model.hparams)}, ckpt)
    from_ckpt, _ = load_generator(ckpt)
    assert from_ckpt.hints and input_channels(from_ckpt) == 1 + hint_channels("lab")


def test_resuming_with_the_other_hints_setting_is_refused():
    saved = {"hyper_parameters": {"hints": True}, "state_dict": {}}
    with pytest.raises(ConfigError, match="model.hints=true"):
        Pix2Pix(TINY_G, TINY_D).on_load_checkpoint(saved)
    with pytest.raises(ConfigError, match="model.hints=false"):
        Pix2Pix(TINY_G, TINY_D, hints=True).on_load_checkpoint(
            {"hyper_parameters": {}, "state_dict": {}}
        )


@pytest.mark.parametrize("spread", [True, "geodesic"])
def test_hint_spread_is_part_of_the_generator_and_needs_hints(spread):
    model = Pix2Pix({**TINY_G, "hint_spread": spread}, TINY_D, hints=True)
    assert model.generator.spread is not None and not list(model.generator.spread.parameters())
    assert input_channels(model.generator) == 1 + hint_channels("ab")
    assert model(model.generator_input(torch.zeros(2, 1, 32, 32))).shape == (2, 2, 32, 32)
    with pytest.raises(ConfigError, match="model.generator.hint_spread"):
        Pix2Pix({**TINY_G, "hint_spread": spread}, TINY_D)


def test_an_unknown_hint_spread_is_refused():
    with pytest.raises(ValueError, match="hint_spread must be false, true or geodesic"):
        Pix2Pix({**TINY_G, "hint_spread": "nearest"}, TINY_D, hints=True)
