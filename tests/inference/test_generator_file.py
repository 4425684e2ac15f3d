"""generator.pt format 3 records what the generator predicts and whether it takes colour hints;
format 2 files (no hint record), format 1 files and Lightning checkpoints from before the records
still load, as the ab generators without hints they are."""

from __future__ import annotations

import pytest
import torch

from mangacolor.hints.raster import hint_channels
from mangacolor.inference.generator_file import (
    FORMAT,
    export_generator,
    load_generator,
    takes_hints,
)
from mangacolor.models.components import UNetGenerator
from mangacolor.models.pix2pix import Pix2Pix

CONFIG = {"depth": 4, "width": 8, "max_width": 16, "dropout": 0.0}


def outputs_of(generator: UNetGenerator) -> torch.Tensor:
    with torch.no_grad():
        return generator.eval()(torch.linspace(-1, 1, 2 * 32 * 32).view(2, 1, 32, 32))


@pytest.mark.parametrize("predicts,channels", [("ab", 2), ("lab", 3)])
def test_a_version_3_file_round_trips_what_the_generator_predicts(tmp_path, predicts, channels):
    torch.manual_seed(0)
    generator = UNetGenerator(**CONFIG, out_channels=channels)
    path = export_generator(generator, CONFIG, tmp_path / "generator.pt", training_size=32)
    payload = torch.load(path, weights_only=True)
    assert payload["format"] == FORMAT == "mangacolor-generator-3"
    assert payload["predicts"] == predicts and payload["config"]["out_channels"] == channels
    assert payload["hints"] is False and payload["config"]["in_channels"] == 1
    loaded, config = load_generator(path)
    assert (
        loaded.predicts == predicts
        and loaded.out_channels == channels
        and loaded.training_size == 32
    )
    assert loaded.hints is False and not takes_hints(loaded)
    assert config == {**CONFIG, "in_channels": 1, "out_channels": channels}
    torch.testing.assert_close(outputs_of(loaded), outputs_of(generator), rtol=0, atol=0)


def hinted_outputs_of(generator: UNetGenerator) -> torch.Tensor:
    channels = generator.down[0][0].in_channels
    with torch.no_grad():
        inputs = torch.linspace(-1, 1, 2 * channels * 32 * 32).view(2, channels, 32, 32)
        return generator.eval()(inputs)


@pytest.mark.parametrize("predicts,channels", [("ab", 2), ("lab", 3)])
def test_a_hint_generator_records_its_hints_deduced_from_its_input_channels(
    tmp_path, predicts, channels
):
    torch.manual_seed(0)
    in_channels = 1 + hint_channels(predicts)  # the page, hint colour, mask: 4 for ab, 5 for lab
    generator = UNetGenerator(**CONFIG, in_channels=in_channels, out_channels=channels)
    assert takes_hints(generator)  # a network built in training says it by its input
    path = export_generator(generator, CONFIG, tmp_path / "generator.pt")
    payload = torch.load(path, weights_only=True)
    assert payload["hints"] is True and payload["config"]["in_channels"] == in_channels
    loaded, config = load_generator(path)
    assert loaded.hints is True and loaded.predicts == predicts
    assert config["in_channels"] == in_channels
    torch.testing.assert_close(
        hinted_outputs_of(loaded), hinted_outputs_of(generator), rtol=0, atol=0
    )

    payload["config"]["in_channels"] = 1
    torch.save(payload, tmp_path / "contradicting.pt")
    with pytest.raises(
        ValueError,
        match=f"contradicting.pt: records that its generator takes "
        f"hints .{in_channels} input channels., but its config "
        f"has in_channels=1",
    ):
        load_generator(tmp_path / "contradicting.pt")
    payload["config"]["in_channels"], payload["hints"] = in_channels, "yes"
    torch.save(payload, tmp_path / "odd.pt")
    with pytest.raises(ValueError, match="odd.pt: records hints='yes'"):
        load_generator(tmp_path / "odd.pt")


def test_a_version_2_file_loads_as_before_without_hints(tmp_path):
    torch.manual_seed(0)
    generator = UNetGenerator(**CONFIG)
    path = tmp_path / "format2.pt"  # as the code before hints wrote it: no record, no in_channels
    torch.save(
        {
            "format": "mangacolor-generator-2",
            "predicts": "ab",
            "config": {**CONFIG, "out_channels": 2},
            "state_dict": generator.state_dict(),
            "training_size": 32,
        },
        path,
    )
    loaded, config = load_generator(path)
    assert loaded.hints is False and loaded.predicts == "ab" and loaded.training_size == 32
    assert config == {**CONFIG, "out_channels": 2}
    torch.testing.assert_close(outputs_of(loaded), outputs_of(generator), rtol=0, atol=0)


def test_a_version_1_file_loads_as_the_ab_generator_it_is(tmp_path):
    torch.manual_seed(0)
    generator = UNetGenerator(**CONFIG)
    path = tmp_path / "old.pt"  # as the code before format 2 wrote it: no record, no out_channels
    torch.save(
        {
            "format": "mangacolor-generator-1",
            "config": dict(CONFIG),
            "iteration": 3,
            "state_dict": generator.state_dict(),
        },
        path,
    )
    loaded, config = load_generator(path)
    assert loaded.predicts == "ab" and loaded.out_channels == 2 and config == CONFIG
    assert loaded.hints is False
    torch.testing.assert_close(outputs_of(loaded), outputs_of(generator), rtol=0, atol=0)


def test_a_version_2_file_without_the_record_is_an_ab_generator_and_a_contradiction_is_named(
    tmp_path,
):
    torch.manual_seed(0)
    path = export_generator(UNetGenerator(**CONFIG), CONFIG, tmp_path / "generator.pt")
    payload = torch.load(path, weights_only=True)
    del payload["predicts"], payload["config"]["out_channels"]
    torch.save(payload, tmp_path / "unrecorded.pt")
    assert load_generator(tmp_path / "unrecorded.pt")[0].predicts == "ab"

    payload["predicts"] = "lab"
    payload["config"]["out_channels"] = 2
    torch.save(payload, tmp_path / "contradicting.pt")
    with pytest.raises(
        ValueError,
        match="contradicting.pt: records that its generator predicts lab .3 channels., "
        "but its config has out_channels=2",
    ):
        load_generator(tmp_path / "contradicting.pt")
    payload["predicts"] = "rgb"
    torch.save(payload, tmp_path / "unknown.pt")
    with pytest.raises(ValueError, match="unknown.pt: records that its generator predicts 'rgb'"):
        load_generator(tmp_path / "unknown.pt")


def test_a_file_of_a_newer_format_is_named_as_such(tmp_path):
    torch.manual_seed(0)
    path = export_generator(UNetGenerator(**CONFIG), CONFIG, tmp_path / "generator.pt")
    payload = torch.load(path, weights_only=True)
    payload["format"] = "mangacolor-generator-4"
    torch.save(payload, tmp_path / "newer.pt")
    with pytest.raises(
        ValueError, match="newer.pt: a generator file of format 'mangacolor-generator-4'.*newer"
    ):
        load_generator(tmp_path / "newer.pt")


@pytest.mark.parametrize("predicts", ["ab", "lab"])
def test_a_lightning_checkpoint_says_what_its_generator_predicts_through_its_hyper_parameters(
    tmp_path, predicts
):
    torch.manual_seed(0)
    model = Pix2Pix(CONFIG, {"channels": [8, 16], "stride1_channels": 16}, predicts=predicts)
    path = tmp_path / "last.ckpt"
    torch.save({"state_dict": model.state_dict(), "hyper_parameters": dict(model.hparams)}, path)
    loaded, _ = load_generator(path)
    assert loaded.predicts == predicts
    torch.testing.assert_close(outputs_of(loaded), outputs_of(model.generator), rtol=0, atol=0)


def test_a_lightning_checkpoint_from_before_the_option_is_an_ab_generator(tmp_path):
    torch.manual_seed(0)
    model = Pix2Pix(CONFIG, {"channels": [8, 16], "stride1_channels": 16})
    hyper_parameters = {key: value for key, value in model.hparams.items() if key != "predicts"}
    torch.save(
        {"state_dict": model.state_dict(), "hyper_parameters": hyper_parameters},
        tmp_path / "old.ckpt",
    )
    loaded, config = load_generator(tmp_path / "old.ckpt")
    assert loaded.predicts == "ab" and config["out_channels"] == 2
    assert loaded.hints is False and "in_channels" not in config  # built exactly as before


@pytest.mark.parametrize("predicts", ["ab", "lab"])
def test_a_lightning_checkpoint_takes_hints_when_its_hyper_parameters_say_so(tmp_path, predicts):
    torch.manual_seed(0)
    in_channels = 1 + hint_channels(predicts)
    model = Pix2Pix(
        {**CONFIG, "in_channels": in_channels},
        {"channels": [8, 16], "stride1_channels": 16},
        predicts=predicts,
    )
    # The generator's config may leave in_channels out: `hints: true` alone says what it is.
    hyper_parameters = {**model.hparams, "generator": dict(CONFIG), "hints": True}
    torch.save(
        {"state_dict": model.state_dict(), "hyper_parameters": hyper_parameters},
        tmp_path / "last.ckpt",
    )
    loaded, config = load_generator(tmp_path / "last.ckpt")
    assert loaded.hints is True and config["in_channels"] == in_channels
    torch.testing.assert_close(
        hinted_outputs_of(loaded), hinted_outputs_of(model.generator), rtol=0, atol=0
    )


def test_a_resize_generator_round_trips_its_upsampling(tmp_path):
    torch.manual_seed(0)
    config = {**CONFIG, "upsample": "resize"}
    generator = UNetGenerator(**config, out_channels=3)
    loaded, saved = load_generator(export_generator(generator, config, tmp_path / "generator.pt"))
    assert loaded.upsample == saved["upsample"] == "resize"
    torch.testing.assert_close(outputs_of(loaded), outputs_of(generator), rtol=0, atol=0)
    # A file from before the option is the seed's kind.
    assert (
        load_generator(export_generator(UNetGenerator(**CONFIG), CONFIG, tmp_path / "old.pt"))[
            0
        ].upsample
        == "transposed"
    )
