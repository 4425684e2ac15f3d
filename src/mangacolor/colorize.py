"""mangacolor-colorize: colour your own pages, folders of chapters and comic archives.

    mangacolor-colorize ckpt_path=run/checkpoints/generator.pt input=chapter.cbz output=coloured

The config is conf/colorize.yaml; the work is in `mangacolor.colour_job`.
"""

from __future__ import annotations

import re
import sys

import hydra
from omegaconf import DictConfig

from mangacolor.archives import ArchiveError
from mangacolor.checkpoint_io import UnsafeCheckpoint
from mangacolor.colour_job import ColouriseError, ColouriseSettings, colorize
from mangacolor.config_checks import ConfigError
from mangacolor.data.files import printable
from mangacolor.resources import config_dir

PATH_KEYS = ("ckpt_path", "input", "output")


def quote_path_overrides(args: list[str]) -> list[str]:
    """Quote the values of path overrides, so Hydra's grammar takes any file name as it is.

    Unquoted, Hydra refuses what comic file names are full of: non-ASCII letters, spaces, brackets,
    parentheses, commas (`[Group] 漫画 (Vol 1).cbz`), and would read `${...}` as an interpolation.
    A value the user quoted already is left alone.
    """
    quoted = []
    for arg in args:
        key, sep, value = arg.partition("=")
        if sep and key in PATH_KEYS and value and value[0] not in "'\"":
            # Inside Hydra quotes a backslash escapes only a quote or the closing end; for OmegaConf `\${`
            # is a literal `${` and backslashes just before it are escapes too.
            value = re.sub(r"(\\*)'", lambda m: m.group(1) * 2 + "\\'", value)
            value = re.sub(r"(\\+)$", lambda m: m.group(1) * 2, value)
            value = re.sub(r"(\\*)\$\{", lambda m: m.group(1) * 2 + "\\${", value)
            arg = f"{key}='{value}'"
        quoted.append(arg)
    return quoted


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
