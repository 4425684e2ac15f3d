"""mangacolor-export: write a trained generator as ONNX or torch.export, for use outside this package.

    mangacolor-export ckpt_path=run/checkpoints/generator.pt format=onnx [output=colorizer.onnx]

The config is conf/export.yaml; the work is in `mangacolor.export.exporter` (docs/export.md).
"""

from __future__ import annotations

import sys

import hydra
from omegaconf import DictConfig

from mangacolor.commands.user_errors import exit_on_user_error
from mangacolor.export.exporter import ExportError, export
from mangacolor.export.settings import ExportSettings
from mangacolor.runtime import overrides
from mangacolor.runtime.bundled import config_dir
from mangacolor.runtime.renamed_keys import refuse_renamed_overrides

PATH_KEYS = ("ckpt_path", "output")


def main() -> None:
    with exit_on_user_error("mangacolor-export"):
        refuse_renamed_overrides("export", sys.argv[1:])
    sys.argv[1:] = overrides.quote_path_overrides(sys.argv[1:], PATH_KEYS)

    @hydra.main(config_path=str(config_dir()), config_name="export", version_base="1.3")
    def _main(cfg: DictConfig) -> None:
        with exit_on_user_error("mangacolor-export", ExportError, FileExistsError, ValueError):
            summary = export(
                ExportSettings.from_config(cfg),
                say=lambda message: print(message, file=sys.stderr, flush=True),
            )
        print(summary.line(), flush=True)

    _main()


if __name__ == "__main__":
    main()
