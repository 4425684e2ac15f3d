"""mangacolor-studio: place colour hints on your pages in the browser and see them coloured live.

    mangacolor-studio ckpt_path=run/checkpoints/generator.pt input=chapter.cbz output=studio

The config is conf/studio.yaml; the work is in `mangacolor.studio` (docs/studio.md).
"""

from __future__ import annotations

import sys

import hydra
from omegaconf import DictConfig

from mangacolor.colorize.archives import ArchiveError
from mangacolor.commands.user_errors import exit_on_user_error
from mangacolor.runtime import overrides
from mangacolor.runtime.bundled import config_dir
from mangacolor.runtime.renamed_keys import refuse_renamed_overrides
from mangacolor.studio.server import StudioError, serve
from mangacolor.studio.settings import StudioSettings

PATH_KEYS = ("ckpt_path", "input", "output")


def main() -> None:
    with exit_on_user_error("mangacolor-studio"):
        refuse_renamed_overrides("studio", sys.argv[1:])
    sys.argv[1:] = overrides.quote_path_overrides(sys.argv[1:], PATH_KEYS)

    @hydra.main(config_path=str(config_dir()), config_name="studio", version_base="1.3")
    def _main(cfg: DictConfig) -> None:
        with exit_on_user_error("mangacolor-studio", StudioError, ArchiveError, ValueError):
            serve(StudioSettings.from_config(cfg))

    _main()


if __name__ == "__main__":
    main()
