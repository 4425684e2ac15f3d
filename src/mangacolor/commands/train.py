"""mangacolor-train: train a colouriser on folders of colour pages.

    mangacolor-train +experiment=manga data.train_dir=/pages/train data.val_dir=/pages/val

Wiring only: Hydra composes conf/train.yaml, `TrainSettings.from_config` checks it, and
`mangacolor.training.train.train` builds, fits and says how the run ended.
"""

from __future__ import annotations

import signal
import sys

import hydra
from omegaconf import DictConfig

from mangacolor.commands.user_errors import exit_on_user_error
from mangacolor.models.nonfinite import NonFiniteLoss
from mangacolor.runtime.bundled import config_dir, register_resolvers
from mangacolor.runtime.disk_space import DiskWriteError
from mangacolor.runtime.renamed_keys import refuse_renamed_overrides
from mangacolor.runtime.stop_signals import exit_code
from mangacolor.training.settings import TrainSettings
from mangacolor.training.train import train


def main() -> None:
    with exit_on_user_error("mangacolor-train"):
        refuse_renamed_overrides("train", sys.argv[1:])
    register_resolvers()

    @hydra.main(config_path=str(config_dir()), config_name="train", version_base="1.3")
    def _main(cfg: DictConfig) -> float | None:
        with exit_on_user_error("mangacolor-train", NonFiniteLoss, DiskWriteError):
            results = train(TrainSettings.from_config(cfg))
        if results.get("stopped_by"):
            raise SystemExit(exit_code(results["stopped_by"]))  # 130 for Ctrl-C, 143 for SIGTERM
        return results.get("val/ab_l1")  # for sweepers that optimise

    try:
        _main()
    except KeyboardInterrupt:
        raise SystemExit(exit_code(signal.SIGINT)) from None


if __name__ == "__main__":
    main()
