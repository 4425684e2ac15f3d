"""Training callbacks: iteration checkpoints, validation image grids, throughput and data health."""

from mangacolor.callbacks.checkpoints import IterationCheckpoint
from mangacolor.callbacks.image_grid import ValidationImageGrid
from mangacolor.callbacks.monitor import TrainingMonitor

__all__ = ["IterationCheckpoint", "TrainingMonitor", "ValidationImageGrid"]
