"""Training progress by iteration: "iteration N / train.iterations", images/s, time left, the latest
losses and the headline validation metric against its grey baseline.

Lightning's own bar counts batches of an epoch, and the training stream has no epochs: it read
`Epoch 0: | 300/? [00:35<00:00]`. This one counts `pl_module.iteration` (generator updates; a
resumed run starts at the iteration it resumed from) out of the model's `iterations`. On a
terminal it is one live bar; where stdout is not a terminal (a SLURM or CI log, `make demo > log`)
it prints one plain line every `every_iterations` iterations or `every_seconds` seconds instead, and
one line per validation (`mangacolor.runtime.progress`):

    mangacolor-train: iteration 150/600 (25%), 2.41 it/s, 01:02 elapsed, 03:06 left | 38.6 img/s, g_l1 0.121, ...
    mangacolor-train: validation at iteration 150: val/ab_l1 11.93 vs grey 14.07 (better than grey)

Rates are over wall-clock time since this process started training, validation included, so the
time left allows for the validations still to come. Rank zero alone prints. Being Lightning's
`ProgressBar`, it replaces Lightning's bar; `trainer.enable_progress_bar=false` turns it off.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence

from lightning.pytorch.callbacks.progress import ProgressBar

from mangacolor.runtime.progress import Progress, resolve_mode


def baseline_key(headline: str) -> str:
    """The grey baseline logged beside a validation metric: val/ab_l1 -> val/grey_ab_l1."""
    prefix, _, name = headline.rpartition("/")
    return f"{prefix}/grey_{name}" if prefix else f"grey_{name}"


class IterationProgress(ProgressBar):
    """headline: the validation scalar shown (with `baseline_key(headline)` beside it, when logged);
    lower is taken as better. losses: the training scalars shown, each under its name without "loss/".
    mode: auto (a bar on a terminal, else lines) | bar | lines | off.
    """

    def __init__(
        self,
        headline: str = "val/ab_l1",
        losses: Sequence[str] = ("loss/g_l1", "loss/g_adv", "loss/d_real", "loss/d_fake"),
        mode: str = "auto",
        every_iterations: int | None = None,
        every_seconds: float = 300.0,
    ):
        super().__init__()
        resolve_mode(mode, sys.stdout)  # a wrong mode fails at start, not after the sanity check
        self.headline, self.losses = headline, list(losses)
        self.mode, self.every_iterations, self.every_seconds = mode, every_iterations, every_seconds
        self._enabled = True
        self.progress: Progress | None = None
        self._images = 0  # on this rank since training started here
        self._start: float | None = None

    # ---- Lightning's ProgressBar interface ------------------------------------------------------
    def disable(self) -> None:
        self._enabled = False

    def enable(self) -> None:
        self._enabled = True

    def print(self, *args, sep: str = " ", **kwargs) -> None:
        """LightningModule.print lands here: above the bar, or as a line of its own."""
        if self.progress is not None:
            self.progress.write(sep.join(map(str, args)))
        else:
            print(*args, sep=sep, **kwargs)

    # ---- training ----------------------------------------------------------------------------------
    def on_train_start(self, trainer, pl_module) -> None:
        if not self._enabled:
            return
        self._images, self._start = 0, time.perf_counter()
        self.progress = Progress(
            pl_module.hparams.iterations,
            "mangacolor-train",
            "it",
            initial=pl_module.iteration,
            stream=sys.stdout,
            mode=self.mode,
            every=self.every_iterations,
            seconds=self.every_seconds,
            count_label="iteration ",
        )

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if self.progress is None:
            return
        lightness = batch.get("L") if isinstance(batch, dict) else None
        if lightness is not None:
            self._images += lightness.shape[0]  # a shape: no wait for the device
        self.progress.update_to(pl_module.iteration, self._fields(trainer, pl_module))

    def _speed(self, trainer) -> dict[str, str]:
        seconds = time.perf_counter() - self._start
        return (
            {"": f"{self._images * trainer.world_size / seconds:.3g} img/s"} if seconds > 0 else {}
        )

    def _fields(self, trainer, pl_module) -> dict[str, str]:
        fields = self._speed(trainer)
        scalars = getattr(pl_module, "last_train_scalars", {})  # refreshed every model.log_every
        for key in self.losses:
            if key in scalars:
                fields[key.removeprefix("loss/")] = f"{scalars[key]:.3g}"
        return fields

    def on_validation_start(self, trainer, pl_module) -> None:
        if (
            self.progress is not None
            and self.progress.mode == "bar"
            and not trainer.sanity_checking
        ):
            self.progress.set_fields(
                {"": "validating..."}
            )  # in place of img/s until the next batch

    def on_validation_end(self, trainer, pl_module) -> None:
        if self.progress is None or trainer.sanity_checking:
            return
        if self.progress.mode == "bar":
            self.progress.set_fields(self._speed(trainer))  # "validating..." is over
        scalars = getattr(pl_module, "last_val_scalars", {})
        if self.headline not in scalars:
            return
        value, baseline = scalars[self.headline], scalars.get(baseline_key(self.headline))
        shown = f"{value:.4g}" if baseline is None else f"{value:.4g} (grey {baseline:.4g})"
        self.progress.set_fields({self.headline: shown})
        if self.progress.mode == "lines":
            verdict = (
                ""
                if baseline is None
                else (
                    f" vs grey {baseline:.4g}, {'better' if value < baseline else 'NOT better'} than grey"
                )
            )
            self.progress.write(
                f"mangacolor-train: validation at iteration {pl_module.iteration}: "
                f"{self.headline} {value:.4g}{verdict}"
            )

    def on_train_end(self, trainer, pl_module) -> None:
        self._close()

    def on_exception(self, trainer, pl_module, exception) -> None:
        self._close()

    def teardown(self, trainer, pl_module, stage: str) -> None:
        self._close()

    def _close(self) -> None:
        if self.progress is not None:
            self.progress.close()
            self.progress = None
