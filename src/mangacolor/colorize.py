"""mangacolor-colorize: colour your own pages, folders of chapters and comic archives.

    mangacolor-colorize ckpt_path=run/checkpoints/generator.pt input=chapter.cbz output=coloured

The config is conf/colorize.yaml; the work is in `mangacolor.colour_job`.
"""

from __future__ import annotations

import sys

import hydra
from omegaconf import DictConfig

from mangacolor import cli
from mangacolor.archives import ArchiveError
from mangacolor.checkpoint_io import UnsafeCheckpoint
from mangacolor.colour_job import ColouriseError, ColouriseSettings, colorize
from mangacolor.config_checks import ConfigError
from mangacolor.data.files import printable
from mangacolor.resources import config_dir

PATH_KEYS = ("ckpt_path", "input", "output")


def quote_path_overrides(args: list[str]) -> list[str]:
    """This command's path overrides quoted for Hydra (see `mangacolor.cli.quote_path_overrides`)."""
    return cli.quote_path_overrides(args, PATH_KEYS)


def main() -> None:
    sys.argv[1:] = quote_path_overrides(sys.argv[1:])

    @hydra.main(config_path=str(config_dir()), config_name="colorize", version_base="1.3")
    def _main(cfg: DictConfig) -> None:
        try:
            summary = colorize(ColouriseSettings.from_config(cfg))
        except (ConfigError, ColouriseError, ArchiveError, UnsafeCheckpoint, FileNotFoundError, ValueError) as error:
            raise SystemExit(f"mangacolor-colorize: error: {printable(str(error))}") from None
        print(summary.line(), flush=True)

    _main()


if __name__ == "__main__":
    main()
