"""NaN or infinite losses: the update is skipped and counted; too many in a row stop the run.

NaN is injected by a test callback that fills a batch's lightness with NaN at chosen iterations.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path

import pytest
import torch
from helpers.configs import compose_train
from helpers.pages import make_pages
from lightning.pytorch.callbacks import Callback

from mangacolor.models.nonfinite import (
    NonFiniteGuard,
    NonFiniteLoss,
    all_finite,
    restore_buffers_unless,
    skip_mode,
    snapshot_buffers,
    step_unless_nonfinite,
)
from mangacolor.runtime.checkpoint_io import safe_torch_load
from mangacolor.training.settings import TrainSettings
from mangacolor.training.train import train

QUIET = [
    "+debug=tiny",
    "trainer.enable_progress_bar=false",
    "trainer.enable_model_summary=false",
    "logger=none",
]
INJECTORS: list[NaNInjector] = []  # the callbacks train() built, for the test to read


def network_state(module) -> dict[str, torch.Tensor]:
    """Weights and batch-norm statistics of both networks, copied."""
    return {
        k: v.detach().clone()
        for k, v in module.state_dict().items()
        if k.split(".")[0] in ("generator", "discriminator")
    }


class NaNInjector(Callback):
    """Fills the lightness of the batches of the given iterations with NaN; notes what each step changed."""

    def __init__(self, iterations: list[int]):
        self.iterations = set(iterations)
        self.changed: dict[int, bool] = {}  # iteration -> did the networks change
        self.optimizer_steps: dict[int, int] = {}  # iteration -> Adam's step count after it
        self.skip_mode = None
        self.counts = None
        self._before = None
        INJECTORS.append(self)

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        if pl_module.iteration + 1 in self.iterations:
            batch["L"].fill_(float("nan"))
        self._before = network_state(pl_module)
        self.skip_mode = skip_mode(pl_module.optimizers()[0], grad_scaler_active=False)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        after = network_state(pl_module)
        self.changed[pl_module.iteration] = any(
            not torch.equal(after[k], v) for k, v in self._before.items()
        )
        state = pl_module.optimizers()[0].optimizer.state
        self.optimizer_steps[pl_module.iteration] = int(next(iter(state.values()))["step"])
        self.counts = pl_module.nonfinite.counts()


def nan_run(tmp_path: Path, nan_at: list[int], extra: list[str] = ()) -> tuple[dict, NaNInjector]:
    pages = tmp_path / "pages"
    make_pages(pages, 8)
    INJECTORS.clear()
    cfg = compose_train(
        [
            *QUIET,
            f"data.train_dir={pages}",
            "train.iterations=6",
            f"+callbacks.nan._target_={__name__}.NaNInjector",
            f"+callbacks.nan.iterations={nan_at}",
            *extra,
        ],
        tmp_path / "run",
    )
    try:
        results = train(TrainSettings.from_config(cfg))
    finally:
        injector = INJECTORS[-1] if INJECTORS else None
    return results, injector


@pytest.fixture(params=["host", "device"])
def mode(request, monkeypatch):
    """host: the CPU default (unfused Adam, one free host check); device: fused Adam's found_inf, as on a GPU."""
    if request.param == "device":
        adam = torch.optim.Adam
        monkeypatch.setattr(
            torch.optim, "Adam", lambda *args, **kwargs: adam(*args, **{**kwargs, "fused": True})
        )
    return request.param


def test_nan_batches_are_skipped_and_counted_and_the_run_finishes(tmp_path, mode, caplog):
    with caplog.at_level(logging.WARNING, logger="mangacolor"):
        results, injector = nan_run(tmp_path, nan_at=[3, 4], extra=["model.max_nonfinite=3"])
    assert injector.skip_mode == mode
    assert results["iteration"] == 6
    assert injector.changed == {1: True, 2: True, 3: False, 4: False, 5: True, 6: True}
    assert injector.optimizer_steps == {
        1: 1,
        2: 2,
        3: 2,
        4: 2,
        5: 3,
        6: 4,
    }  # Adam's own count skips too
    assert injector.counts == (2, 0, 3)  # two in all, none in a row now
    assert math.isfinite(results["loss/g_l1"])  # the logged means leave the NaN out
    assert any(
        "skipped 1 update(s) with a NaN or infinite loss" in r.getMessage() for r in caplog.records
    )
    state = safe_torch_load(tmp_path / "run" / "checkpoints" / "last.ckpt")
    assert state["mangacolor"]["nonfinite"]["total"] == 2
    assert all(
        torch.isfinite(v).all() for v in state["state_dict"].values() if v.is_floating_point()
    )


def test_too_many_in_a_row_stop_the_run_naming_the_iteration_and_last_good_checkpoint(
    tmp_path, mode
):
    with pytest.raises(NonFiniteLoss) as caught:
        nan_run(tmp_path, nan_at=[3, 4, 5, 6], extra=["model.max_nonfinite=3"])
    last = tmp_path / "run" / "checkpoints" / "last.ckpt"
    message = str(caught.value)
    assert "stopped at iteration 5" in message and "iterations 3 to 5" in message
    assert "model.max_nonfinite=3" in message and f"Last good checkpoint: {last}" in message
    assert not (
        tmp_path / "run" / "checkpoints" / "generator.pt"
    ).exists()  # no export of a failed run
    state = safe_torch_load(
        last
    )  # saved at iteration 4, inside the streak, with the weights of iteration 2
    assert state["mangacolor"]["iteration"] == 4
    two = safe_torch_load(tmp_path / "run" / "checkpoints" / "iter_0000002.ckpt")
    for key, value in two["state_dict"].items():
        assert torch.equal(state["state_dict"][key], value), key


def test_a_streak_checked_every_few_iterations_still_stops_and_names_its_start(tmp_path):
    # log_every 50, max_nonfinite 2: checked every 2 iterations (the one host sync per check).
    with pytest.raises(
        NonFiniteLoss, match=r"stopped at iteration 4: .* 2 iterations in a row \(iterations 3 to 4"
    ):
        nan_run(
            tmp_path, nan_at=[3, 4, 5, 6], extra=["model.max_nonfinite=2", "model.log_every=50"]
        )


# ---- the pieces --------------------------------------------------------------------------
def adam_step(fused: bool, finite: bool) -> tuple[torch.Tensor, dict]:
    weight = torch.nn.Parameter(torch.ones(3))
    optimizer = torch.optim.Adam([weight], lr=0.1, fused=fused)
    weight.grad = torch.ones(3)
    optimizer.step()
    weight.grad = torch.full((3,), 1.0 if finite else float("nan"))
    loss = torch.tensor(1.0 if finite else float("nan"))
    step_unless_nonfinite(
        optimizer, all_finite(loss), skip_mode(optimizer, grad_scaler_active=False)
    )
    return weight.detach(), optimizer.state[weight]


@pytest.mark.parametrize("fused", [False, True])
def test_step_unless_nonfinite_leaves_weights_moments_and_step_count_alone(fused):
    weight, state = adam_step(fused, finite=False)
    once_weight, once_state = adam_step(fused, finite=True)
    assert torch.allclose(weight, torch.full((3,), 0.9)) and int(state["step"]) == 1
    assert torch.isfinite(state["exp_avg"]).all() and torch.isfinite(state["exp_avg_sq"]).all()
    assert int(once_state["step"]) == 2 and torch.all(once_weight < 0.9)


def test_batch_norm_statistics_of_a_bad_batch_are_put_back():
    norm = torch.nn.BatchNorm2d(2)
    before = snapshot_buffers(norm)
    norm(torch.full((2, 2, 3, 3), float("nan")))
    assert torch.isnan(norm.running_mean).all()
    restore_buffers_unless(torch.tensor(False), before)
    assert torch.equal(norm.running_mean, torch.zeros(2)) and int(norm.num_batches_tracked) == 0
    norm(torch.ones(2, 2, 3, 3))
    restore_buffers_unless(
        torch.tensor(True), snapshot_buffers(norm)
    )  # a good step keeps its update
    assert int(norm.num_batches_tracked) == 1


def test_guard_counts_streaks_and_survives_a_checkpoint():
    guard = NonFiniteGuard(max_consecutive=3)
    for iteration, finite in enumerate([True, False, False, True, False, False], start=1):
        guard.record(torch.tensor(finite), iteration)
    assert guard.counts() == (4, 2, 5)
    assert guard.check(6, "last.ckpt") == 4 and guard.check(6, "last.ckpt") == 0
    restored = NonFiniteGuard(max_consecutive=3)
    restored.load_state_dict(guard.state_dict())
    restored.record(torch.tensor(False), 7)
    with pytest.raises(
        NonFiniteLoss,
        match="stopped at iteration 7: .* 3 iterations in a row .* Last good checkpoint: x.ckpt",
    ):
        restored.check(7, "x.ckpt")


def test_max_nonfinite_must_be_positive():
    with pytest.raises(ValueError, match="model.max_nonfinite"):
        NonFiniteGuard(0)


def test_all_finite_stays_on_the_device():
    flag = all_finite(torch.tensor(1.0), torch.tensor([float("inf")]))
    assert isinstance(flag, torch.Tensor) and flag.dtype == torch.bool and not bool(flag)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_on_a_gpu_the_guard_never_waits_for_the_device():
    """Check, skip, restore and count with CUDA's sync detector set to raise on any host sync."""
    device = torch.device("cuda")
    net = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.BatchNorm2d(4)).to(device)
    optimizer = torch.optim.Adam(net.parameters(), fused=True)
    assert skip_mode(optimizer, grad_scaler_active=False) == "device"
    guard = NonFiniteGuard(max_consecutive=3)
    images = torch.randn(2, 1, 8, 8, device=device)
    weights = [p.detach().clone() for p in net.parameters()]
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        for iteration, scale in enumerate([1.0, float("nan"), 1.0], start=1):
            before = snapshot_buffers(net)
            loss = net(images).square().mean() * scale
            finite = all_finite(loss)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            step_unless_nonfinite(optimizer, finite, "device")
            restore_buffers_unless(finite, before)
            guard.record(finite, iteration)
            if iteration == 1:
                weights = [p.detach().clone() for p in net.parameters()]
            if iteration == 2:
                skipped = [p.detach().clone() for p in net.parameters()]
    finally:
        torch.cuda.set_sync_debug_mode(0)
    assert guard.counts() == (1, 0, 2)
    assert all(torch.equal(a, b) for a, b in zip(weights, skipped, strict=True))
    assert (
        all(torch.isfinite(p).all() for p in net.parameters())
        and torch.isfinite(net[1].running_mean).all()
    )
