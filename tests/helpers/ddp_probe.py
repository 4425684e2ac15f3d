"""A test-only callback for tests/test_ddp.py: what each DDP rank trained on and where it ended.

Loaded by the training subprocesses through
`+callbacks.rank_probe._target_=helpers.ddp_probe.RankProbe` with tests/ on PYTHONPATH; each rank
writes `rank<N>.json` into `dirpath`.
"""

from __future__ import annotations

import json
from pathlib import Path

from lightning.pytorch.callbacks import Callback


class RankProbe(Callback):
    def __init__(self, dirpath: str, run_dir: str):
        self.dirpath, self.run_dir = Path(dirpath), run_dir
        self.paths: list[str] = []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.paths.extend(batch["paths"])

    def on_train_end(self, trainer, pl_module) -> None:
        self.dirpath.mkdir(parents=True, exist_ok=True)
        record = {
            "rank": trainer.global_rank,
            "world_size": trainer.world_size,
            "iteration": pl_module.iteration,
            "run_dir": self.run_dir,
            "paths": self.paths,
            # Equal on every rank only if DDP kept the weights in step.
            "weights_sum": sum(float(p.detach().double().sum()) for p in pl_module.parameters()),
            "train_scalars": pl_module.last_train_scalars,
            "val_scalars": pl_module.last_val_scalars,
        }
        (self.dirpath / f"rank{trainer.global_rank}.json").write_text(json.dumps(record))
