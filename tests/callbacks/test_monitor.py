"""TrainingMonitor: images/s over training time alone, unreadable pages from the data module."""

from __future__ import annotations

from types import SimpleNamespace

import torch

from mangacolor.callbacks import monitor as monitor_module
from mangacolor.callbacks.monitor import TrainingMonitor


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def fake_run(unreadable: dict[str, str]):
    logged: list[dict] = []
    module = SimpleNamespace(
        iteration=0, hparams=SimpleNamespace(log_every=2), log_scalars=logged.append
    )
    trainer = SimpleNamespace(world_size=1, datamodule=SimpleNamespace(unreadable=unreadable))
    return trainer, module, logged


def test_images_per_second_leaves_out_validation_time(monkeypatch):
    clock = Clock()
    monkeypatch.setattr(monitor_module.time, "perf_counter", clock)
    trainer, module, logged = fake_run({"a.png": "empty file (0 bytes)"})
    monitor = TrainingMonitor()
    monitor.on_validation_start(trainer, module)  # the sanity check: before training, not counted
    clock.now += 50.0
    monitor.on_validation_end(trainer, module)
    monitor.on_train_start(trainer, module)
    batch = {"L": torch.zeros(4, 1, 8, 8)}
    for seconds, validate in ((1.0, False), (1.0, True)):
        clock.now += seconds
        module.iteration += 1
        if validate:  # 30 s of validation between the two training steps of this window
            monitor.on_validation_start(trainer, module)
            clock.now += 30.0
            monitor.on_validation_end(trainer, module)
        monitor.on_train_batch_end(trainer, module, None, batch, 0)
    assert logged[-1]["perf/images_per_s"] == 8 / 2.0  # 8 images in 2 s of training
    assert logged[-1]["data/bad_files"] == 1.0 and monitor.unreadable == {
        "a.png": "empty file (0 bytes)"
    }


def test_a_batch_that_lost_pages_counts_only_what_it_trained_on(monkeypatch):
    clock = Clock()
    monkeypatch.setattr(monitor_module.time, "perf_counter", clock)
    trainer, module, logged = fake_run({})
    monitor = TrainingMonitor()
    monitor.on_train_start(trainer, module)
    for images in (4, 3):
        clock.now += 1.0
        module.iteration += 1
        monitor.on_train_batch_end(trainer, module, None, {"L": torch.zeros(images, 1, 8, 8)}, 0)
    assert logged[-1]["perf/images_per_s"] == 7 / 2.0


def test_unreadable_pages_found_before_a_resume_are_still_counted():
    before = TrainingMonitor()
    trainer, module, _ = fake_run({"a.png": "empty file (0 bytes)"})
    before.on_train_end(trainer, module)
    resumed = TrainingMonitor()
    resumed.load_state_dict(before.state_dict())  # the checkpoint's copy
    # The data module's own record after a resume is rank 0's alone: under DDP it lacks what the
    # other ranks found (here a.png), which the monitor's checkpointed list still has.
    trainer, module, _ = fake_run({"c.png": "a text file, not an image"})
    resumed.on_train_end(trainer, module)
    assert set(resumed.unreadable) == {"a.png", "c.png"}
