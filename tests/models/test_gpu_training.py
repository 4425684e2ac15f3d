"""The training step on a GPU: no host synchronisation inside it, and the fast-path switches train.

Skipped without CUDA; run on the GPU machine with `pytest -m gpu`.
"""

from __future__ import annotations

import lightning as L
import pytest
import torch

from mangacolor.benchmark.timers import RepeatedBatch, synthetic_batch
from mangacolor.inference.generator_file import export_generator, load_generator
from mangacolor.models.pix2pix import Pix2Pix

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA"),
]

SMALL_G = dict(depth=6, width=16, max_width=64)
SMALL_D = dict(channels=[16, 32], stride1_channels=32)
ITERATIONS = 8


class SyncCheckedPix2Pix(Pix2Pix):
    """Raises on any host synchronisation inside a training step that neither logs nor checks.

    The first two iterations are left alone (cuDNN autotuning and compiling may wait for the
    device); the last flushes its logs, one host sync by design.
    """

    checked_iterations = 0

    def training_step(self, batch, batch_idx):
        upcoming = self.iteration + 1
        quiet = (
            upcoming > 2
            and upcoming < self.hparams.iterations
            and upcoming % self.hparams.log_every != 0
            and upcoming % self._nonfinite_check_every != 0
        )
        torch.cuda.synchronize()
        torch.cuda.set_sync_debug_mode("error" if quiet else 0)
        try:
            return super().training_step(batch, batch_idx)
        finally:
            torch.cuda.set_sync_debug_mode(0)
            SyncCheckedPix2Pix.checked_iterations += quiet


def device_batches(count: int, batch_size: int = 4, size: int = 64) -> RepeatedBatch:
    """One batch made on the GPU, `count` times: nothing to load or copy."""
    return RepeatedBatch(synthetic_batch(batch_size, size, torch.device("cuda")), count)


def fit_on_gpu(model: Pix2Pix, precision: str = "bf16-mixed") -> L.Trainer:
    trainer = L.Trainer(
        accelerator="gpu",
        devices=1,
        precision=precision,
        max_epochs=-1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        limit_val_batches=0,
        benchmark=True,
    )
    trainer.fit(model, train_dataloaders=device_batches(ITERATIONS))
    return trainer


@pytest.mark.parametrize("channels_last", [False, True])
def test_a_training_step_never_waits_for_the_gpu(channels_last):
    SyncCheckedPix2Pix.checked_iterations = 0
    model = SyncCheckedPix2Pix(
        SMALL_G,
        SMALL_D,
        iterations=ITERATIONS,
        log_every=ITERATIONS,
        max_nonfinite=ITERATIONS,
        channels_last=channels_last,
    )
    fit_on_gpu(model)
    assert model.iteration == ITERATIONS
    assert SyncCheckedPix2Pix.checked_iterations == ITERATIONS - 3
    assert all(
        torch.isfinite(value) for value in map(torch.tensor, model.last_train_scalars.values())
    )


def test_the_training_tricks_add_no_wait_for_the_gpu():
    """The average of G (a host-number lerp), the adversarial schedule (a host number) and spectral
    norm's power iteration all stay on the device."""
    SyncCheckedPix2Pix.checked_iterations = 0
    model = SyncCheckedPix2Pix(
        SMALL_G,
        SMALL_D | {"spectral_norm": True},
        iterations=ITERATIONS,
        log_every=ITERATIONS,
        max_nonfinite=ITERATIONS,
        ema={"decay": 0.9, "start_fraction": 0.25},
        adversarial={"warmup_fraction": 0.25, "ramp_fraction": 0.25},
    )
    fit_on_gpu(model)
    assert model.iteration == ITERATIONS
    assert SyncCheckedPix2Pix.checked_iterations == ITERATIONS - 3
    assert all(torch.isfinite(p).all() for p in model.generator_ema.parameters())


def test_compiled_channels_last_networks_train_and_export_plain_weights(tmp_path):
    model = Pix2Pix(
        SMALL_G, SMALL_D, iterations=ITERATIONS, log_every=2, channels_last=True, compile=True
    )
    fit_on_gpu(model)
    assert model.iteration == ITERATIONS
    assert all(torch.isfinite(torch.tensor(v)) for v in model.last_train_scalars.values())
    path = export_generator(model.generator, model.hparams.generator, tmp_path / "generator.pt")
    generator, _ = load_generator(path)  # a plain U-Net: no `_orig_mod.` in its parameter names
    out = generator.eval()(torch.zeros(1, 1, 64, 64))
    assert out.shape == (1, 2, 64, 64) and torch.isfinite(out).all()
