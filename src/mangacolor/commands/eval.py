"""mangacolor-eval: score a trained generator on a held-out folder against the grey baseline.

    mangacolor-eval ckpt_path=RUN/checkpoints/last.ckpt data.test_dir=/held-out [data.train_dir=/train]

Wiring only: Hydra composes conf/eval.yaml, `EvalSettings.from_config` checks it and
`mangacolor.evaluation.evaluate.evaluate` does the work (see
mangacolor.evaluation for what each metric means and what each output holds).
"""

from __future__ import annotations

import sys

import hydra
from omegaconf import DictConfig

from mangacolor.commands.user_errors import exit_on_user_error
from mangacolor.evaluation.evaluate import evaluate
from mangacolor.evaluation.settings import EvalSettings
from mangacolor.runtime import overrides
from mangacolor.runtime.bundled import config_dir, register_resolvers
from mangacolor.runtime.renamed_keys import refuse_renamed_overrides

PATH_KEYS = ("ckpt_path", "data.test_dir", "data.train_dir")


def main() -> None:
    with exit_on_user_error("mangacolor-eval"):
        refuse_renamed_overrides("eval", sys.argv[1:])
    register_resolvers()
    sys.argv[1:] = overrides.quote_path_overrides(sys.argv[1:], PATH_KEYS)

    @hydra.main(config_path=str(config_dir()), config_name="eval", version_base="1.3")
    def _main(cfg: DictConfig) -> float:
        with exit_on_user_error("mangacolor-eval", FileExistsError, ValueError):
            payload = evaluate(EvalSettings.from_config(cfg))
        return payload["overall"]["model"]["delta_e_2000"]  # for sweepers that optimise

    _main()


if __name__ == "__main__":
    main()
