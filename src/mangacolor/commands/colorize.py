"""mangacolor-colorize: colour your own pages, folders of chapters and comic archives.

    mangacolor-colorize ckpt_path=run/checkpoints/generator.pt input=chapter.cbz output=coloured

The config is conf/colorize.yaml; the work is in `mangacolor.colorize.job`.
"""

from __future__ import annotations

import sys

import hydra
from omegaconf import DictConfig

from mangacolor.colorize.archives import ArchiveError
from mangacolor.colorize.job import colorize
from mangacolor.colorize.settings import ColorizeError, ColorizeSettings
from mangacolor.commands.user_errors import exit_on_user_error
from mangacolor.runtime import overrides
from mangacolor.runtime.bundled import config_dir
from mangacolor.runtime.renamed_keys import refuse_renamed_overrides

PATH_KEYS = ("ckpt_path", "input", "output", "hints")


def main() -> None:
    with exit_on_user_error("mangacolor-colorize"):
        refuse_renamed_overrides("colorize", sys.argv[1:])
    sys.argv[1:] = overrides.quote_path_overrides(sys.argv[1:], PATH_KEYS)

    @hydra.main(config_path=str(config_dir()), config_name="colorize", version_base="1.3")
    def _main(cfg: DictConfig) -> None:
        with exit_on_user_error("mangacolor-colorize", ColorizeError, ArchiveError, ValueError):
            summary = colorize(ColorizeSettings.from_config(cfg))
        print(summary.line(), flush=True)

    _main()


if __name__ == "__main__":
    main()
