"""Training callbacks: iteration checkpoints, validation image grids, throughput and data health,
clean stops on signals."""

from mangacolor.callbacks.checkpoints import IterationCheckpoint
from mangacolor.callbacks.graceful_stop import GracefulStop
from mangacolor.callbacks.image_grid import ValidationImageGrid
from mangacolor.callbacks.monitor import TrainingMonitor

__all__ = ["GracefulStop", "IterationCheckpoint", "TrainingMonitor", "ValidationImageGrid"]
