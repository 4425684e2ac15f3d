"""mangacolor-eval: score a trained generator on a held-out folder against the grey baseline.

    mangacolor-eval ckpt_path=RUN/checkpoints/last.ckpt data.test_dir=/held-out [data.train_dir=/train]

Wiring only: Hydra composes conf/eval.yaml, `mangacolor.evaluation.run.evaluate` does the work (see
mangacolor.evaluation for what each metric means and what each output holds).
"""

from __future__ import annotations

import sys

import hydra
from omegaconf import DictConfig

from mangacolor import cli
from mangacolor.checkpoint_io import UnsafeCheckpoint
from mangacolor.config_checks import ConfigError
from mangacolor.data.files import printable
from mangacolor.evaluation.run import evaluate
from mangacolor.resources import config_dir, register_resolvers

PATH_KEYS = ("ckpt_path", "data.test_dir", "data.train_dir")
# Errors about the user's config, data, checkpoint or output folder, each with a message naming what is wrong.
USER_ERRORS = (ConfigError, FileNotFoundError, FileExistsError, UnsafeCheckpoint, ValueError)

__all__ = ["evaluate", "main"]


def main() -> None:
    register_resolvers()
    sys.argv[1:] = cli.quote_path_overrides(sys.argv[1:], PATH_KEYS)

    @hydra.main(config_path=str(config_dir()), config_name="eval", version_base="1.3")
    def _main(cfg: DictConfig) -> float:
        try:
            payload = evaluate(cfg)
        except USER_ERRORS as error:  # a clear line, not a traceback: the message says what to change
            raise SystemExit(f"mangacolor-eval: error: {printable(str(error))}") from None
        return payload["overall"]["model"]["delta_e_2000"]  # for sweepers that optimise

    _main()


if __name__ == "__main__":
    main()
