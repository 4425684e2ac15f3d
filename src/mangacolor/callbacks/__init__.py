"""Training callbacks: iteration checkpoints, validation image grids, throughput and data health, progress."""

from mangacolor.callbacks.checkpoints import IterationCheckpoint
from mangacolor.callbacks.image_grid import ValidationImageGrid
from mangacolor.callbacks.monitor import TrainingMonitor
from mangacolor.callbacks.progress import IterationProgress

__all__ = ["IterationCheckpoint", "IterationProgress", "TrainingMonitor", "ValidationImageGrid"]
