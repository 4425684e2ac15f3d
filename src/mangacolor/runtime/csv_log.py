"""Lightning's CSVLogger, except that a run continued in its own folder appends to metrics.csv.

Lightning's writer deletes a `metrics.csv` it finds ("Previous log files in this directory will
be deleted"), so a requeued SLURM job, an elastic restart or `ckpt_path=last` continuing a run in
its folder would lose the rows of every iteration before the stop. This one keeps them and
appends below, under the union of the old and new columns.
"""

from __future__ import annotations

import csv

from lightning.fabric.loggers.logger import rank_zero_experiment
from lightning.pytorch.loggers import CSVLogger
from lightning.pytorch.loggers.csv_logs import ExperimentWriter


class _AppendingWriter(ExperimentWriter):
    def _check_log_dir_exists(self) -> None:
        # Lightning's version deletes metrics.csv here. Instead, carry on with its columns.
        if self._fs.isfile(self.metrics_file_path):
            with self._fs.open(self.metrics_file_path, "r", newline="") as file:
                self.metrics_keys = list(csv.DictReader(file).fieldnames or [])


class ContinuingCSVLogger(CSVLogger):
    """`lightning.pytorch.loggers.CSVLogger` that appends to an existing metrics.csv."""

    @property
    @rank_zero_experiment
    def experiment(self) -> ExperimentWriter:
        if self._experiment is None:
            self._fs.makedirs(self.root_dir, exist_ok=True)
            self._experiment = _AppendingWriter(log_dir=self.log_dir)
        return self._experiment
