import lightning as L
import pytest
import torch
from helpers.trainers import cpu_trainer
from omegaconf import OmegaConf

from mangacolor.models.components import PatchDiscriminator, UNetGenerator
from mangacolor.models.pix2pix import Pix2Pix
from mangacolor.models.schedules import linear_decay
from mangacolor.runtime.config_errors import ConfigError

TINY_G = dict(depth=5, width=8, max_width=16)
TINY_D = dict(channels=[8, 16], stride1_channels=16)


class OneBatch(torch.utils.data.IterableDataset):
    def __iter__(self):
        generator = torch.Generator().manual_seed(0)
        while True:
            yield {
                "L": torch.rand(1, 32, 32, generator=generator) * 2 - 1,
                "ab": torch.rand(2, 32, 32, generator=generator) * 0.6 - 0.3,
            }


def test_one_step_changes_both_networks():
    model = Pix2Pix(TINY_G, TINY_D, iterations=1, log_every=1)
    before_g = [p.detach().clone() for p in model.generator.parameters()]
    before_d = [p.detach().clone() for p in model.discriminator.parameters()]
    trainer = cpu_trainer()
    trainer.fit(model, torch.utils.data.DataLoader(OneBatch(), batch_size=2))
    assert model.iteration == 1
    assert trainer.global_step == 2  # Lightning counts both optimizer steps
    assert all(
        not torch.equal(a, b) for a, b in zip(before_g, model.generator.parameters(), strict=True)
    )
    assert all(
        not torch.equal(a, b)
        for a, b in zip(before_d, model.discriminator.parameters(), strict=True)
    )
    assert set(model.last_train_scalars) >= {
        "loss/d_real",
        "loss/d_fake",
        "loss/g_adv",
        "loss/g_l1",
        "d/real_score",
        "d/fake_score",
        "lr/g",
        "lr/d",
    }


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
    with pytest.raises(ConfigError, match=f"model.{key}"):
        Pix2Pix(TINY_G, TINY_D, **{key: 0})


def weights_after_two_iterations(monkeypatch, rank: int, global_seed: int) -> list[torch.Tensor]:
    """Same initial weights and batches; only the rank and the global RNG state before fit
    differ."""
    torch.manual_seed(0)
    model = Pix2Pix(dict(TINY_G, dropout=0.5), TINY_D, iterations=2, log_every=2, seed=7)
    monkeypatch.setattr(Pix2Pix, "global_rank", property(lambda self: rank))
    torch.manual_seed(global_seed)
    trainer = cpu_trainer()
    trainer.fit(model, torch.utils.data.DataLoader(OneBatch(), batch_size=2))
    return [p.detach().clone() for p in model.generator.parameters()]


def test_dropout_masks_depend_on_seed_rank_and_iteration_only(monkeypatch):
    # DDP ranks share one run seed: without a per-rank seed they would drop the same units.
    rank0 = weights_after_two_iterations(monkeypatch, rank=0, global_seed=1)
    rank0_again = weights_after_two_iterations(monkeypatch, rank=0, global_seed=2)
    rank1 = weights_after_two_iterations(monkeypatch, rank=1, global_seed=1)
    assert all(
        torch.equal(a, b) for a, b in zip(rank0, rank0_again, strict=True)
    )  # no state carried in from outside
    assert not all(torch.equal(a, b) for a, b in zip(rank0, rank1, strict=True))


# ---- full-colour prediction -------------------------------------------------------------
class InkBatch(torch.utils.data.IterableDataset):
    """Batches as the data module gives them with a B&W input: "input" is a thresholded L (ink on
    paper, not the page's lightness) and "style" names it; the same batch every time."""

    def __iter__(self):
        generator = torch.Generator().manual_seed(0)
        lightness = torch.rand(2, 1, 32, 32, generator=generator) * 2 - 1
        batch = {
            "L": lightness,
            "ab": torch.rand(2, 2, 32, 32, generator=generator) * 0.6 - 0.3,
            "input": torch.where(lightness > 0, 1.0, -1.0),
            "style": ["screentone", "lines"],
        }
        while True:
            yield batch


def test_a_full_colour_model_predicts_lab_and_its_discriminator_sees_input_beside_lab():
    torch.manual_seed(0)
    model = Pix2Pix(TINY_G, TINY_D, iterations=3, log_every=1, predicts="lab")
    assert model.generator.out_channels == 3 and model.generator.head[0].out_channels == 3
    assert model.discriminator.net[0].in_channels == 4  # the input page + L, a, b
    before_g = [p.detach().clone() for p in model.generator.parameters()]
    before_d = [p.detach().clone() for p in model.discriminator.parameters()]
    cpu_trainer().fit(model, torch.utils.data.DataLoader(InkBatch(), batch_size=None))
    assert model.iteration == 3
    assert all(
        not torch.equal(a, b) for a, b in zip(before_g, model.generator.parameters(), strict=True)
    )
    assert all(
        not torch.equal(a, b)
        for a, b in zip(before_d, model.discriminator.parameters(), strict=True)
    )
    batch = next(iter(InkBatch()))
    inputs, target = model.inputs_and_target(batch)
    assert inputs is batch["input"]  # the B&W page, not the page's L
    assert torch.equal(target, torch.cat([batch["L"], batch["ab"]], dim=1))
    with torch.no_grad():
        fake = model.generator.eval()(inputs)
        assert fake.shape == (2, 3, 32, 32)
        assert model.discriminator(inputs, fake).shape == (2, 1, 8, 8)


def test_an_ab_model_builds_exactly_the_networks_it_built_before_the_option():
    torch.manual_seed(3)
    model = Pix2Pix(TINY_G, TINY_D)
    torch.manual_seed(3)
    generator, discriminator = (
        UNetGenerator(**TINY_G),
        PatchDiscriminator(**TINY_D),
    )  # the seed's construction
    for built, direct in ((model.generator, generator), (model.discriminator, discriminator)):
        assert list(built.state_dict()) == list(direct.state_dict())
        assert all(
            torch.equal(a, b)
            for a, b in zip(built.state_dict().values(), direct.state_dict().values(), strict=True)
        )
    assert model.hparams.predicts == "ab" and model.discriminator.net[0].in_channels == 3


def test_an_ab_model_trains_the_same_on_a_plain_input_as_on_a_batch_without_one():
    """A plain input is the page's L: the seed's batches and the new ones train bit for bit
    alike."""

    class WithPlainInput(OneBatch):
        def __iter__(self):
            for item in super().__iter__():
                yield {**item, "input": item["L"].clone(), "style": "plain"}

    weights = []
    for dataset in (OneBatch(), WithPlainInput()):
        torch.manual_seed(0)
        model = Pix2Pix(dict(TINY_G, dropout=0.5), TINY_D, iterations=3, log_every=3)
        cpu_trainer().fit(model, torch.utils.data.DataLoader(dataset, batch_size=2))
        weights.append([p.detach().clone() for p in model.parameters()])
    assert all(torch.equal(a, b) for a, b in zip(*weights, strict=True))


def test_predicts_is_checked_and_out_channels_may_not_contradict_it():
    with pytest.raises(ConfigError, match="model.predicts must be one of ab, lab, got 'rgb'"):
        Pix2Pix(TINY_G, TINY_D, predicts="rgb")
    with pytest.raises(ConfigError, match="contradicts model.predicts=lab"):
        Pix2Pix(dict(TINY_G, out_channels=2), TINY_D, predicts="lab")
    assert Pix2Pix(dict(TINY_G, out_channels=3), TINY_D, predicts="lab").generator.out_channels == 3


def test_a_full_colour_run_resumes_exactly(tmp_path):
    """Two iterations, a checkpoint, two more from it: the same weights as four in one go."""
    loader = torch.utils.data.DataLoader(InkBatch(), batch_size=None)
    options = dict(
        generator=dict(TINY_G, dropout=0.5),
        discriminator=TINY_D,
        log_every=1,
        predicts="lab",
        seed=5,
    )
    torch.manual_seed(0)
    whole = Pix2Pix(iterations=4, **options)
    cpu_trainer().fit(whole, loader)

    torch.manual_seed(0)
    first = Pix2Pix(iterations=2, **options)
    trainer = cpu_trainer()
    trainer.fit(first, loader)
    trainer.save_checkpoint(tmp_path / "half.ckpt")
    torch.manual_seed(123)  # a fresh process: other initial weights, other global RNG state
    resumed = Pix2Pix(iterations=4, **options)
    cpu_trainer().fit(resumed, loader, ckpt_path=tmp_path / "half.ckpt")
    assert resumed.iteration == 4
    for (name, a), b in zip(whole.state_dict().items(), resumed.state_dict().values(), strict=True):
        assert torch.equal(a, b), name


def test_resuming_with_the_other_prediction_is_a_clear_error(tmp_path):
    loader = torch.utils.data.DataLoader(OneBatch(), batch_size=2)
    trainer = cpu_trainer()
    trainer.fit(Pix2Pix(TINY_G, TINY_D, iterations=1), loader)
    trainer.save_checkpoint(tmp_path / "ab.ckpt")
    with pytest.raises(ConfigError, match="predicts ab, but model.predicts=lab.*model.predicts=ab"):
        cpu_trainer().fit(
            Pix2Pix(TINY_G, TINY_D, iterations=2, predicts="lab"),
            loader,
            ckpt_path=tmp_path / "ab.ckpt",
        )
    # A checkpoint from before the option (no `predicts` in its hyper_parameters) is an ab model's.
    checkpoint = torch.load(tmp_path / "ab.ckpt", weights_only=True)
    del checkpoint["hyper_parameters"]["predicts"]
    Pix2Pix(TINY_G, TINY_D).on_load_checkpoint(checkpoint)
    with pytest.raises(ConfigError, match="predicts ab"):
        Pix2Pix(TINY_G, TINY_D, predicts="lab").on_load_checkpoint(checkpoint)


def test_the_seed_experiment_builds_the_seeds_networks():
    from hydra import compose, initialize_config_dir

    from mangacolor.runtime.bundled import config_dir, register_resolvers

    register_resolvers()
    with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
        cfg = compose("train", overrides=["+experiment=seed", "paths.run_dir=."])
    model = Pix2Pix(
        **{
            key: value
            for key, value in OmegaConf.to_container(cfg.model, resolve=True).items()
            if key not in ("_target_", "_convert_")
        }
    )
    assert model.hparams.predicts == "ab"
    assert (
        sum(p.numel() for p in model.generator.parameters()) == 67_001_346
    )  # Keras: 67,001,346 trainable
    assert (
        model.generator.out_channels == 2 and model.discriminator.net[0].in_channels == 3
    )  # D on (L, ab)
    expected_d = PatchDiscriminator(
        channels=(64, 128, 256, 512, 1024), stride1_channels=1024, norm="instance"
    )
    assert [p.shape for p in model.discriminator.parameters()] == [
        p.shape for p in expected_d.parameters()
    ]


# ---- validation by input style ----------------------------------------------------------
def styled_batches() -> list[dict]:
    """Two validation batches: plain pages (input = L) and B&W ones (thresholded L), styles
    mixed."""
    from mangacolor.color import rgb_to_scaled_lab

    generator = torch.Generator().manual_seed(4)
    batches = []
    for styles in (["plain", "screentone", "screentone"], ["lines", "plain"]):
        lightness, ab = rgb_to_scaled_lab(torch.rand(len(styles), 3, 32, 32, generator=generator))
        inputs = torch.stack(
            [
                page_l if style == "plain" else torch.where(page_l > 0, 1.0, -1.0)
                for page_l, style in zip(lightness, styles, strict=True)
            ]
        )
        batches.append(
            {
                "L": lightness,
                "ab": ab,
                "input": inputs,
                "style": styles,
                "paths": ["x"] * len(styles),
            }
        )
    return batches


def expected_per_image(model: Pix2Pix, batches: list[dict]) -> list[tuple[str, dict[str, float]]]:
    """(style, metrics) of every image, recomputed from the metric functions."""
    from kornia.color import rgb_to_lab

    from mangacolor.color import lightness_as_rgb, scaled_lab_to_rgb
    from mangacolor.metrics import ab_l1, mean_delta_e_2000, psnr

    rows = []
    for batch in batches:
        with torch.no_grad():
            fake = model.generator.eval()(batch["input"])
        fake_l = fake[:, :1] if model.hparams.predicts == "lab" else batch["L"]
        true_rgb = scaled_lab_to_rgb(batch["L"], batch["ab"])
        true_lab = rgb_to_lab(true_rgb)
        shown = {
            "model": scaled_lab_to_rgb(fake_l, fake[:, -2:]),
            "grey": lightness_as_rgb(batch["L"]),
            "bw": lightness_as_rgb(batch["input"]),
        }
        for i, style in enumerate(batch["style"]):
            one = {name: rgb[i : i + 1] for name, rgb in shown.items()}
            values = {
                "ab_l1": ab_l1(fake[i : i + 1, -2:] * 110, batch["ab"][i : i + 1] * 110).item(),
                "grey_ab_l1": ab_l1(torch.zeros(1, 2, 32, 32), batch["ab"][i : i + 1] * 110).item(),
            }
            for prefix, name in (("", "model"), ("grey_", "grey"), ("bw_", "bw")):
                values[f"{prefix}psnr"] = psnr(one[name], true_rgb[i : i + 1]).item()
                values[f"{prefix}delta_e_2000"] = mean_delta_e_2000(
                    rgb_to_lab(one[name]), true_lab[i : i + 1]
                ).item()
            rows.append((style, values))
    return rows


def validate(
    model: Pix2Pix, batches: list[dict], monkeypatch=None, other_rank=None
) -> dict[str, float]:
    trainer = L.Trainer(
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    if other_rank is not None:  # a second DDP rank's validation sums, added by the all-reduce

        def reduce(tensor, reduce_op=None):
            return tensor + other_rank if tensor.shape == other_rank.shape else tensor

        monkeypatch.setattr(trainer.strategy, "reduce", reduce)
    trainer.validate(model, torch.utils.data.DataLoader(batches, batch_size=None), verbose=False)
    return model.last_val_scalars


def mean(values) -> float:
    values = list(values)
    return sum(values) / len(values)


@pytest.mark.parametrize("predicts", ["ab", "lab"])
def test_validation_reports_every_metric_overall_and_per_style_with_the_bw_page_as_a_baseline(
    predicts,
):
    torch.manual_seed(0)
    model = Pix2Pix(TINY_G, TINY_D, predicts=predicts)
    batches = styled_batches()
    scalars = validate(model, batches)
    rows = expected_per_image(model, batches)
    approx = dict(rel=1e-4, abs=1e-4)  # grey and bw Lab: exact there, through float32 RGB here
    for name in ("ab_l1", "grey_ab_l1", "psnr", "grey_psnr", "delta_e_2000", "grey_delta_e_2000"):
        assert scalars[f"val/{name}"] == pytest.approx(mean(v[name] for _, v in rows), **approx), (
            name
        )
        for style in ("plain", "screentone", "lines"):
            want = mean(v[name] for s, v in rows if s == style)
            assert scalars[f"val/{style}/{name}"] == pytest.approx(want, **approx), (style, name)
    for name in (
        "bw_psnr",
        "bw_delta_e_2000",
    ):  # the B&W page: over the images whose input is not plain
        assert scalars[f"val/{name}"] == pytest.approx(
            mean(v[name] for s, v in rows if s != "plain"), **approx
        )
        for style in ("screentone", "lines"):
            assert scalars[f"val/{style}/{name}"] == pytest.approx(
                mean(v[name] for s, v in rows if s == style), **approx
            )
        assert f"val/plain/{name}" not in scalars  # a plain input is the grey page itself
    assert (
        scalars["val/images"],
        scalars["val/plain/images"],
        scalars["val/screentone/images"],
        scalars["val/lines/images"],
    ) == (5, 2, 2, 1)
    assert not any(key.startswith("val/flat/") for key in scalars)  # no flat pages, no flat numbers
    # B&W inputs lose what the page's own grey keeps: the baseline is worse than grey there.
    assert scalars["val/screentone/bw_psnr"] < scalars["val/screentone/grey_psnr"]


def test_a_batch_without_styles_counts_as_plain_and_has_no_bw_baseline():
    torch.manual_seed(0)
    model = Pix2Pix(TINY_G, TINY_D)
    batches = [{"L": b["L"], "ab": b["ab"], "paths": b["paths"]} for b in styled_batches()]
    scalars = validate(model, batches)
    assert scalars["val/images"] == scalars["val/plain/images"] == 5
    assert scalars["val/plain/psnr"] == scalars["val/psnr"]
    assert not any(key.startswith("val/bw_") for key in scalars)


def test_per_style_sums_are_added_over_ranks(monkeypatch):
    from mangacolor.models.validation import VAL_SUMS
    from mangacolor.styles import STYLES

    torch.manual_seed(0)
    model = Pix2Pix(TINY_G, TINY_D)
    batches = styled_batches()
    alone = validate(model, batches)
    other = torch.zeros(len(STYLES), len(VAL_SUMS), dtype=torch.float64)
    other[STYLES.index("flat")] = (
        torch.arange(1.0, len(VAL_SUMS) + 1) * 3
    )  # 3 flat images on the other rank
    other[STYLES.index("flat"), -1] = 3
    both = validate(model, batches, monkeypatch, other_rank=other)
    assert both["val/images"] == 8 and both["val/flat/images"] == 3
    for index, name in enumerate(VAL_SUMS[:-1]):
        assert both[f"val/flat/{name}"] == pytest.approx(index + 1.0)
    assert both["val/screentone/psnr"] == pytest.approx(alone["val/screentone/psnr"])
    assert both["val/psnr"] == pytest.approx((alone["val/psnr"] * 5 + 3 * 3) / 8)
    assert both["val/bw_psnr"] == pytest.approx((alone["val/bw_psnr"] * 3 + 7 * 3) / 6)


def test_an_unknown_style_is_named():
    model = Pix2Pix(TINY_G, TINY_D)
    batch = styled_batches()[1]
    with pytest.raises(ValueError, match="'halftone'.*plain, screentone, lines, flat"):
        validate(model, [{**batch, "style": ["halftone", "plain"]}])


def test_best_checkpoints_can_be_chosen_by_delta_e():
    """For a full-colour model ab-L1 misses errors in L: val/delta_e_2000 is there for the
    checkpoint monitor."""
    model = Pix2Pix(TINY_G, TINY_D, predicts="lab")
    trainer = L.Trainer(
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.validate(
        model, torch.utils.data.DataLoader(styled_batches(), batch_size=None), verbose=False
    )
    assert float(trainer.callback_metrics["val/delta_e_2000"]) == pytest.approx(
        model.last_val_scalars["val/delta_e_2000"]
    )
    assert float(trainer.callback_metrics["val/ab_l1"]) == pytest.approx(
        model.last_val_scalars["val/ab_l1"]
    )


@pytest.mark.parametrize("predicts", ["ab", "lab"])
def test_validation_reports_colourfulness_against_the_truths_and_the_bw_inputs_as_a_group(predicts):
    from mangacolor.color import scaled_lab_to_rgb
    from mangacolor.metrics import colorfulness

    torch.manual_seed(0)
    model = Pix2Pix(TINY_G, TINY_D, predicts=predicts)
    batches = styled_batches()
    scalars = validate(model, batches)
    rows = expected_per_image(model, batches)
    shown, truth, styles = [], [], []
    for batch in batches:
        with torch.no_grad():
            fake = model.generator.eval()(batch["input"])
        fake_l = fake[:, :1] if predicts == "lab" else batch["L"]
        shown += colorfulness(scaled_lab_to_rgb(fake_l, fake[:, -2:])).tolist()
        truth += colorfulness(scaled_lab_to_rgb(batch["L"], batch["ab"])).tolist()
        styles += batch["style"]
    assert min(truth) > 5  # the random test pages are colourful, the ratio means something
    assert scalars["val/truth_colourfulness"] == pytest.approx(mean(truth), rel=1e-5)
    assert scalars["val/colourfulness"] == pytest.approx(mean(shown), rel=1e-4)
    assert scalars["val/colourfulness_ratio"] == pytest.approx(
        sum(shown) / sum(truth), rel=1e-4
    )  # a ratio of means
    for style in ("plain", "screentone", "lines"):
        mine = [i for i, s in enumerate(styles) if s == style]
        want = sum(shown[i] for i in mine) / sum(truth[i] for i in mine)
        assert scalars[f"val/{style}/colourfulness_ratio"] == pytest.approx(want, rel=1e-4)
    # val/bw_inputs/: every metric over the pages whose input is a B&W page, beside their baseline.
    bw = [values for style, values in rows if style != "plain"]
    assert scalars["val/bw_inputs/images"] == len(bw) == 3
    for name in ("delta_e_2000", "bw_delta_e_2000", "psnr", "ab_l1"):
        assert scalars[f"val/bw_inputs/{name}"] == pytest.approx(
            mean(v[name] for v in bw), rel=1e-4, abs=1e-4
        )
    assert scalars["val/bw_inputs/bw_delta_e_2000"] == pytest.approx(scalars["val/bw_delta_e_2000"])
