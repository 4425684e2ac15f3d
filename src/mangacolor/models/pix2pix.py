"""Pix2Pix: the U-Net generator and PatchGAN discriminator trained with manual optimisation.

One iteration = one discriminator update then one generator update on the same batch, with x the
page the network sees (the batch's "input": a B&W page, or the page's own L) and y the colour it
must predict (`predicts`: "ab", the seed's, or "lab", the whole colour page):
    D: 0.5 * [gan(D(x, y), real) + gan(D(x, G(x).detach()), fake)]
    G: gan(D(x, G(x)), real) + lambda_l1 * |G(x) - y|
A batch without "input" is the seed's: x = L. With predicts=ab and such batches this is the seed's
model and losses exactly.

Colour hints (`hints=True`, issue 22): G also sees the batch's simulated hints, h = (hint colour in
G's output space, times the mask; the mask), so G(x, h) carries a colour the user gave up to the
ink, and with empty hints colours automatically. D still judges (x, y) alone: the hints are the
truth's own colours at a few points, so showing them to D would only let D check what L1 already
enforces there, and keeping D's input the page alone keeps D the seed's network and its checkpoints'
shapes. Validation scores G twice, without hints (val/...) and with each page's fixed draw of
data.hints.val_count hints (val/hints/...).

Training tricks, each off by default (docs/training.md, "Training tricks"): `adversarial` scales G's
gan term by a weight that is a function of the iteration (0 in an L1-only warm-up, then a linear
ramp to 1); `ema` keeps an exponential moving average of G's weights (models/ema.py), which
validation, the exported generator.pt and every `.ckpt` reader use; `discriminator.spectral_norm`
normalises D; `reconstruction="delta_e_94"` replaces the L1 term by the CIE94 colour difference
(models/losses.py). `iteration` counts generator updates -- what a user means by "iterations".
(Lightning's `global_step` counts every optimizer step, two per iteration here.) Scalars are logged
against `iteration`, every `log_every` iterations, from sums kept on the device, so the step itself
never waits for the GPU. The generator's dropout draws from a seed set at each iteration from (seed,
rank, iteration): each DDP rank has its own masks, and a resumed run draws the same masks an
uninterrupted one would.
"""

from __future__ import annotations

import logging
from typing import Any

import lightning as L
import torch

from mangacolor.hints.raster import hint_input, no_hints
from mangacolor.models.components import PatchDiscriminator, UNetGenerator
from mangacolor.models.ema import averaged_copy, ema_weight, fit_average, update_average
from mangacolor.models.losses import GANLoss, reconstruction_loss
from mangacolor.models.nonfinite import (
    NonFiniteGuard,
    finite_on_every_rank,
    last_good_checkpoint,
    restore_buffers_unless,
    skip_mode,
    snapshot_buffers,
    step_unless_nonfinite,
)
from mangacolor.models.optimizers import pix2pix_optimizers
from mangacolor.models.options import (
    adversarial_options,
    check_resumable,
    ema_options,
    generator_config,
    output_channels,
    require_positive,
    require_reconstruction,
)
from mangacolor.models.schedules import adversarial_weight
from mangacolor.models.train_scalars import TrainScalarSums
from mangacolor.models.validation_scoring import (
    epoch_val_scalars,
    log_val_monitors,
    new_val_sums,
    score_val_batch,
)
from mangacolor.runtime.seeding import DROPOUT_STREAM, step_seed

log = logging.getLogger(__name__)


class Pix2Pix(L.LightningModule):
    def __init__(
        self,
        generator: dict[str, Any],
        discriminator: dict[str, Any],
        gan_mode: str = "vanilla",
        lambda_l1: float = 100.0,
        d_loss_weight: float = 0.5,
        lr_g: float = 2e-4,
        lr_d: float = 2e-4,
        beta1: float = 0.5,
        beta2: float = 0.999,
        iterations: int = 1000,
        decay_fraction: float = 0.0,
        grad_clip: float | None = None,
        log_every: int = 50,
        channels_last: bool = False,
        compile: bool = False,
        max_nonfinite: int = 20,
        seed: int = 0,
        predicts: str = "ab",
        ema: dict[str, Any] | None = None,
        adversarial: dict[str, Any] | None = None,
        reconstruction: str = "l1",
        hints: bool = False,
    ):
        super().__init__()
        # The model's own values are checked here (models/options.py), whoever builds the model.
        require_positive(lr_g=lr_g, lr_d=lr_d, iterations=iterations, log_every=log_every)
        out_channels = output_channels(predicts, generator)
        require_reconstruction(reconstruction)
        ema, adversarial = ema_options(ema), adversarial_options(adversarial)
        # The hyper-parameters saved are these locals: ema and adversarial with their defaults
        # filled in. A checkpoint without `predicts` in its hyper_parameters (written before the
        # option) is ab; one without `ema`, `adversarial` or `discriminator.spectral_norm` had none
        # of them.
        self.save_hyperparameters()
        self.automatic_optimization = False
        page_channels = generator.get("in_channels", 1)
        self.generator = UNetGenerator(**generator_config(generator, out_channels, predicts, hints))
        # D sees the page beside a colouring: 1 + 2 channels for ab (the seed's), 1 + 3 for lab;
        # never the hints (see the module's docstring).
        in_channels = page_channels + out_channels
        self.discriminator = PatchDiscriminator(**{**discriminator, "in_channels": in_channels})
        # The averaged generator, or None: its weights are in checkpoints as generator_ema.*.
        self.generator_ema = averaged_copy(self.generator) if ema["decay"] is not None else None
        self._ema_decay, self._ema_start = ema["decay"], ema["start_fraction"] * iterations
        self._adversarial = (adversarial["warmup_fraction"], adversarial["ramp_fraction"])
        self.gan_loss = GANLoss(gan_mode)
        self.iteration = 0
        self.nonfinite = NonFiniteGuard(max_nonfinite)  # NaN/inf losses: updates skipped, counted
        # Checked every this many iterations (one host sync): a bad streak stops the run promptly.
        self._nonfinite_check_every = min(log_every, max_nonfinite)
        self._train_sums = TrainScalarSums()  # on the device; the means every log_every
        self._val_sums: torch.Tensor | None = None
        self.last_train_scalars: dict[str, float] = {}
        self.last_val_scalars: dict[str, float] = {}

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.generator(inputs)

    def generator_input(
        self,
        inputs: torch.Tensor,
        color: torch.Tensor | None = None,
        mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """What G sees: the page, and for a hint model the hint maps (empty ones where none are
        given: the automatic colouring)."""
        if not self.hparams.hints:
            return inputs
        if color is None or mask is None:
            batch, _, height, width = inputs.shape
            color, mask = no_hints(batch, height, width, self.hparams.predicts, inputs.device)
        return self._to_memory_format(hint_input(inputs, color, mask))

    @property
    def inference_generator(self) -> UNetGenerator:
        """The generator a run gives: the average of G's weights when it keeps one, else G itself.
        Validation, generator.pt and `load_generator` on a `.ckpt` all take this one."""
        return self.generator if self.generator_ema is None else self.generator_ema

    def adversarial_weight(self, iteration: int) -> float:
        """The weight of G's adversarial term at 0-based `iteration` (model.adversarial)."""
        return adversarial_weight(iteration, self.hparams.iterations, *self._adversarial)

    def inputs_and_target(self, batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
        """(what the generator sees, what it must predict) of a batch, both scaled to [-1, 1].

        The input is the batch's "input" (a B&W page) or, without one, its L; the target is ab, or
        (L, a, b) for a full-colour generator.
        """
        inputs = batch.get("input")
        if inputs is None:
            inputs = batch["L"]
        target = (
            batch["ab"]
            if self.hparams.predicts == "ab"
            else torch.cat([batch["L"], batch["ab"]], dim=1)
        )
        return inputs, target

    def color_page(
        self, output: torch.Tensor, lightness: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The colour page the generator's `output` gives, scaled (L, ab): its own L (full colour),
        or the page's `lightness` with its ab. The inverse of `inputs_and_target`'s target."""
        return (output[:, :1] if self.hparams.predicts == "lab" else lightness), output[:, -2:]

    # ---- fast path ---------------------------------------------------------------------
    def configure_model(self) -> None:
        """Lightning calls this before moving the module to its device and wrapping it for DDP.

        channels_last: NHWC weights and activations, the layout tensor-core convolutions want.
        compile: torch.compile each network in place (`Module.compile`), so parameter names, and
        with them checkpoints and `generator.pt`, stay those of the plain networks.
        """
        if self.hparams.channels_last:
            self.to(memory_format=torch.channels_last)
        if self.hparams.compile and not getattr(self, "_networks_compiled", False):
            self.generator.compile()
            self.discriminator.compile()
            self._networks_compiled = True

    def _to_memory_format(self, images: torch.Tensor) -> torch.Tensor:
        if self.hparams.channels_last:
            return images.contiguous(memory_format=torch.channels_last)
        return images

    # ---- optimisation ------------------------------------------------------------------
    def configure_optimizers(self):
        fused = next(self.parameters()).is_cuda  # one kernel per step for all of Adam's maths
        return pix2pix_optimizers(self.generator, self.discriminator, self.hparams, fused)

    def _update(self, optimizer, loss: torch.Tensor, finite: torch.Tensor) -> None:
        """Backward and step for the optimizer toggled on before this network's forward."""
        optimizer.zero_grad(set_to_none=True)
        self.manual_backward(loss)
        if self.hparams.grad_clip:
            self.clip_gradients(
                optimizer, gradient_clip_val=self.hparams.grad_clip, gradient_clip_algorithm="norm"
            )
        grad_scaler = getattr(self.trainer.precision_plugin, "scaler", None) is not None
        # no step on NaN/inf
        step_unless_nonfinite(optimizer, finite, skip_mode(optimizer, grad_scaler))

    def training_step(self, batch: dict, batch_idx: int) -> None:
        """One iteration: D's update, then G's, on one fake (as pix2pix's optimize_parameters)."""
        inputs, target = map(self._to_memory_format, self.inputs_and_target(batch))
        opt_g, opt_d = self.optimizers()
        buffers_before = snapshot_buffers(self.generator, self.discriminator)
        # Seeds the CPU and CUDA generators on the host: no device work, no wait.
        torch.manual_seed(
            step_seed(self.hparams.seed, self.global_rank, self.iteration, DROPOUT_STREAM)
        )
        fake = self.generator(
            self.generator_input(inputs, batch.get("hint_color"), batch.get("hint_mask"))
        )
        d_scalars, d_finite = self._discriminator_step(opt_d, inputs, target, fake)
        g_scalars, g_finite = self._generator_step(opt_g, inputs, target, fake)
        finite = d_finite & g_finite
        # a NaN batch must not reach the running statistics
        restore_buffers_unless(finite, buffers_before)
        self._end_iteration(finite, {**d_scalars, **g_scalars})

    def _discriminator_step(
        self, optimizer, inputs: torch.Tensor, target: torch.Tensor, fake: torch.Tensor
    ) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        """D's update (the reference's backward_D): the true colours as real, G's as fake.
        Returns D's logged values and whether its loss was finite on every rank."""
        # Toggling before each forward means only that network's parameters require gradients,
        # so G's backward through D computes no gradients for D's weights.
        self.toggle_optimizer(optimizer)
        d_real = self.discriminator(inputs, target)
        d_fake = self.discriminator(inputs, fake.detach())
        loss_real, loss_fake = self.gan_loss(d_real, True), self.gan_loss(d_fake, False)
        loss = self.hparams.d_loss_weight * (loss_real + loss_fake)
        finite = finite_on_every_rank(loss, self.trainer)
        self._update(optimizer, loss, finite)
        self.untoggle_optimizer(optimizer)
        real_score, fake_score = (
            self.gan_loss.score(d_real.detach()),
            self.gan_loss.score(d_fake.detach()),
        )
        return {
            "loss/d_real": loss_real,
            "loss/d_fake": loss_fake,
            "d/real_score": real_score,
            "d/fake_score": fake_score,
        }, finite

    def _generator_step(
        self, optimizer, inputs: torch.Tensor, target: torch.Tensor, fake: torch.Tensor
    ) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        """G's update (the reference's backward_G): fool D, weighted by model.adversarial's
        schedule, plus lambda_l1 times the reconstruction term. Returns G's logged losses and
        whether its loss was finite on every rank."""
        hp = self.hparams
        self.toggle_optimizer(optimizer)
        adv_weight = self.adversarial_weight(self.iteration)  # a host number: no wait
        # L1 over every predicted channel, or CIE94
        loss_l1 = reconstruction_loss(hp.reconstruction, fake, target)
        if adv_weight > 0:
            loss_adv = self.gan_loss(
                self.discriminator(inputs, fake), True, for_discriminator=False
            )
            loss = (
                loss_adv if adv_weight == 1.0 else adv_weight * loss_adv
            ) + hp.lambda_l1 * loss_l1
        else:  # the L1-only warm-up: G's loss skips D (its adversarial loss is still logged)
            with torch.no_grad():
                loss_adv = self.gan_loss(
                    self.discriminator(inputs, fake.detach()), True, for_discriminator=False
                )
            loss = hp.lambda_l1 * loss_l1
        finite = finite_on_every_rank(loss, self.trainer)
        self._update(optimizer, loss, finite)
        self.untoggle_optimizer(optimizer)
        return {"loss/g_adv": loss_adv, "loss/g_l1": loss_l1}, finite

    def _end_iteration(self, finite: torch.Tensor, scalars: dict[str, torch.Tensor]) -> None:
        """After both updates: schedules, the count, the average, the logged sums and the checks."""
        for scheduler in self.lr_schedulers():
            scheduler.step()
        self.iteration += 1
        self._update_average()
        self.nonfinite.record(finite, self.iteration)
        self._train_sums.add(finite, scalars)
        last = self.iteration >= self.hparams.iterations
        if self.iteration % self.hparams.log_every == 0 or last:
            self._flush_train_scalars()
        if self.iteration % self._nonfinite_check_every == 0 or last:
            self._check_nonfinite()
        if last:
            self.trainer.should_stop = True

    def _update_average(self) -> None:
        """Move G's average towards G (model.ema): after G's step and the buffers' restore."""
        if self.generator_ema is not None:
            weight = ema_weight(self.iteration, self._ema_decay, self._ema_start)
            update_average(self.generator_ema, self.generator, weight)

    def on_train_batch_start(self, batch: Any, batch_idx: int):
        if self.iteration >= self.hparams.iterations:  # resumed a finished run
            self.trainer.should_stop = True
            return -1
        return None

    # ---- logging -----------------------------------------------------------------------
    def _check_nonfinite(self) -> None:
        """Stop after model.max_nonfinite non-finite iterations in a row; log the skipped ones."""
        new = self.nonfinite.check(self.iteration, last_good_checkpoint(self.trainer))
        if new:
            if self.trainer.is_global_zero:
                log.warning(
                    "iteration %d: skipped %d update(s) with a NaN or infinite loss since the last "
                    "check (%d in all)",
                    self.iteration,
                    new,
                    self.nonfinite.reported_total,
                )
            self.log_scalars({"train/nonfinite_skipped": float(self.nonfinite.reported_total)})

    def log_scalars(self, scalars: dict[str, float]) -> None:
        """Write scalars to every logger against the iteration count (rank zero only)."""
        if self.trainer.sanity_checking or self.trainer.fast_dev_run:
            return
        for logger in self.loggers:
            logger.log_metrics(scalars, step=self.iteration)

    def _flush_train_scalars(self) -> None:
        # Every rank flushes at the same iteration, so its all-reduce is matched on every rank.
        scalars = self._train_sums.take_means(self.trainer.strategy)
        if scalars is None:
            return
        opt_g, opt_d = self.optimizers()
        scalars["lr/g"] = opt_g.param_groups[0]["lr"]
        scalars["lr/d"] = opt_d.param_groups[0]["lr"]
        # That of the last iteration:
        scalars["loss/adv_weight"] = self.adversarial_weight(self.iteration - 1)
        self.last_train_scalars = scalars
        self.log_scalars(scalars)
        self.log("g_l1", scalars["loss/g_l1"], prog_bar=True, logger=False)
        self.log("it", float(self.iteration), prog_bar=True, logger=False)

    # ---- validation --------------------------------------------------------------------
    def on_validation_epoch_start(self) -> None:
        self._val_sums, self._val_hinted_sums = new_val_sums(self.device, self.hparams.hints)

    def validation_step(self, batch: dict, batch_idx: int) -> dict | None:
        return score_val_batch(self, batch, self._val_sums, self._val_hinted_sums)

    def on_validation_epoch_end(self) -> None:
        scalars = epoch_val_scalars(self.trainer.strategy, self._val_sums, self._val_hinted_sums)
        if not scalars:
            return
        self.last_val_scalars = scalars
        log_val_monitors(self, scalars)
        self.log_scalars(scalars)

    # ---- checkpoints -------------------------------------------------------------------
    def on_save_checkpoint(self, checkpoint: dict) -> None:
        # No generator state: every random draw of an iteration is seeded from its number.
        checkpoint["mangacolor"] = {
            "iteration": self.iteration,
            "nonfinite": self.nonfinite.state_dict(),
        }

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        # Lightning calls this before it loads the weights: a mismatch is named here, not as a
        # shape error.
        hp = self.hparams
        check_resumable(
            checkpoint.get("hyper_parameters") or {}, hp.predicts, hp.discriminator, hp.hints
        )
        fit_average(checkpoint.get("state_dict"), keep=self.generator_ema is not None)
        state = checkpoint.get("mangacolor", {})
        self.iteration = int(state.get("iteration", 0))
        self.nonfinite.load_state_dict(state.get("nonfinite", {}))
