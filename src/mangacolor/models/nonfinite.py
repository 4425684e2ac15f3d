"""Skip the updates whose loss is NaN or infinite, count them, and stop after too many in a row.

One NaN gradient applied by Adam puts NaN into every weight it touches, for good. So when a loss
is not finite its update is skipped, and the batch-norm running statistics that the forward pass
already changed are put back: the networks stay exactly as they were before that batch.

None of this waits for the GPU at each step. The skip happens on the device through the fused
Adam's `found_inf` input -- the mechanism torch's GradScaler uses -- and the counts stay on the
device; `NonFiniteGuard.check` reads them every few iterations (one host sync) and stops the run
after `max_consecutive` non-finite iterations in a row. Where the device path is unavailable (an
unfused optimizer: the CPU default) one host check per update decides, which costs nothing on the
CPU. Under fp16 with a GradScaler the scaler already skips steps whose gradients are not finite,
so there we only count.
"""

from __future__ import annotations

import torch
from torch import nn

from mangacolor.runtime.checkpoint_io import SavesCheckpoints


class NonFiniteLoss(RuntimeError):
    """Too many non-finite losses in a row: the run stopped (the message says where to resume)."""


def all_finite(*losses: torch.Tensor) -> torch.Tensor:
    """A 0-dim bool tensor on the losses' device: True when every loss is finite. No host sync."""
    return torch.stack([loss.detach().float().reshape(()) for loss in losses]).isfinite().all()


def finite_on_every_rank(loss: torch.Tensor, trainer) -> torch.Tensor:
    """Whether `loss` is finite on every rank, as a device tensor (no host sync on one rank)."""
    finite = all_finite(loss)
    if trainer.world_size > 1:
        # A NaN on one rank reaches every rank through the gradient all-reduce: all must skip.
        finite = trainer.strategy.reduce((~finite).float(), reduce_op="sum") == 0
    return finite


def last_good_checkpoint(trainer) -> str:
    """The checkpoint a run stopped by NaN losses resumes from, as its message names it: the run's
    newest saved one (its checkpoint callback's, found by its class), or the one it resumed from."""
    saver = next((c for c in trainer.callbacks if isinstance(c, SavesCheckpoints)), None)
    if saver is not None and saver.last_checkpoint is not None:
        return str(saver.last_checkpoint)
    if trainer.ckpt_path:
        return f"{trainer.ckpt_path} (where this run resumed from)"
    return "none (no checkpoint was saved before this)"


def skip_mode(optimizer, grad_scaler_active: bool) -> str:
    """How `step_unless_nonfinite` skips for this optimizer: "device", "scaler" or "host"."""
    if grad_scaler_active:
        return "scaler"
    inner = getattr(optimizer, "optimizer", optimizer)  # under a LightningOptimizer wrapper
    fused = bool(getattr(inner, "defaults", {}).get("fused")) and getattr(
        inner, "_step_supports_amp_scaling", False
    )
    return "device" if fused else "host"


def step_unless_nonfinite(optimizer, finite: torch.Tensor, mode: str) -> None:
    """optimizer.step(), except that nothing changes (weights, moments, step count) when not `finite`."""
    if mode == "device":
        inner = getattr(optimizer, "optimizer", optimizer)
        inner.found_inf = (~finite).float()  # fused Adam returns early on the device when it is 1
        try:
            optimizer.step()
        finally:
            del inner.found_inf
    elif mode == "scaler" or bool(finite):  # "host": one sync, free on the CPU
        optimizer.step()


def snapshot_buffers(*modules: nn.Module) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """(buffer, copy) for every buffer (batch-norm running statistics), taken before a step.

    Taken afresh each step: moving a module to a device replaces its buffer tensors.
    """
    return [(buffer, buffer.detach().clone()) for module in modules for buffer in module.buffers()]


@torch.no_grad()
def restore_buffers_unless(
    finite: torch.Tensor, snapshot: list[tuple[torch.Tensor, torch.Tensor]]
) -> None:
    """Put each buffer back to its copy when the step was not finite; device operations only."""
    for buffer, old in snapshot:
        buffer.copy_(torch.where(finite, buffer, old))


class NonFiniteGuard:
    """Counts non-finite iterations on the device; `check` stops the run after too many in a row."""

    def __init__(self, max_consecutive: int):
        if max_consecutive < 1:
            raise ValueError(f"model.max_nonfinite must be >= 1, got {max_consecutive}")
        self.max_consecutive = max_consecutive
        self._counts: torch.Tensor | None = None  # [total, streak, first iteration of the streak]
        self.reported_total = 0

    def record(self, finite: torch.Tensor, iteration: int) -> None:
        """Note one iteration's outcome; device operations only."""
        if self._counts is None:
            self._counts = torch.zeros(3, dtype=torch.long, device=finite.device)
        elif self._counts.device != finite.device:  # loaded from a checkpoint onto the CPU
            self._counts = self._counts.to(finite.device)
        bad = (~finite).long()
        total, streak, start = self._counts.unbind()
        start = torch.where((streak == 0) & (bad == 1), iteration, start)
        self._counts = torch.stack([total + bad, (streak + 1) * bad, start])

    def counts(self) -> tuple[int, int, int]:
        """(total, current streak, first iteration of the streak): one host sync."""
        if self._counts is None:
            return 0, 0, 0
        total, streak, start = self._counts.tolist()
        return total, streak, start

    def check(self, iteration: int, last_checkpoint: str) -> int:
        """Raise NonFiniteLoss after `max_consecutive` in a row; else return how many are new since the last check."""
        total, streak, start = self.counts()
        if streak >= self.max_consecutive:
            raise NonFiniteLoss(
                f"stopped at iteration {iteration}: the loss was NaN or infinite in {streak} iterations in a row "
                f"(iterations {start} to {start + streak - 1}; the limit is model.max_nonfinite="
                f"{self.max_consecutive}). Their updates were skipped, so the weights are those from before "
                f"iteration {start}. Last good checkpoint: {last_checkpoint}. Resume from it (ckpt_path=...) with "
                f"a lower model.lr_g / model.lr_d or a model.grad_clip, or check the data."
            )
        new, self.reported_total = total - self.reported_total, total
        return new

    def state_dict(self) -> dict[str, int]:
        total, streak, start = self.counts()
        return {"total": total, "streak": streak, "streak_start": start}

    def load_state_dict(self, state: dict[str, int]) -> None:
        values = [int(state.get(key, 0)) for key in ("total", "streak", "streak_start")]
        self._counts = torch.tensor(values, dtype=torch.long)
        self.reported_total = values[0]
