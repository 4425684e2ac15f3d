"""Training callbacks: iteration checkpoints, validation image grids, throughput and data health,
clean stops on signals, progress."""

from mangacolor.callbacks.checkpoints import IterationCheckpoint
from mangacolor.callbacks.graceful_stop import GracefulStop
from mangacolor.callbacks.image_grid import ValidationImageGrid
from mangacolor.callbacks.monitor import TrainingMonitor
from mangacolor.callbacks.progress import IterationProgress

__all__ = [
    "GracefulStop",
    "IterationCheckpoint",
    "IterationProgress",
    "TrainingMonitor",
    "ValidationImageGrid",
]
