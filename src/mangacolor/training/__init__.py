"""mangacolor-train's library: the config checked into `TrainSettings`, then `train(settings)`
builds the datamodule, model, callbacks and trainer from it, fits, and says how the run ended."""
