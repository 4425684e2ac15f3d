"""mangacolor-export's settings, read from its Hydra config and checked, each error naming its key."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mangacolor.export.exporter import FORMATS, TOLERANCE
from mangacolor.runtime.config_errors import ConfigError, require


@dataclass(frozen=True)
class ExportSettings:
    ckpt_path: Path
    format: str = "onnx"
    output: Path | None = None
    overwrite: bool = False
    tolerance: float = TOLERANCE

    @classmethod
    def from_config(cls, cfg: Any) -> ExportSettings:
        ckpt_path = cfg.get("ckpt_path")
        if ckpt_path in (None, "", "???"):
            raise ConfigError("ckpt_path is required: mangacolor-export ckpt_path=generator.pt format=onnx|torch-export")
        output = cfg.get("output")
        try:
            tolerance = float(cfg.get("tolerance", TOLERANCE))
        except (TypeError, ValueError):
            raise ConfigError(f"tolerance must be a number, got {cfg.get('tolerance')!r}") from None
        settings = cls(
            ckpt_path=Path(os.path.expanduser(str(ckpt_path))),
            format=str(cfg.get("format", "onnx")),
            output=None if output in (None, "") else Path(os.path.expanduser(str(output))),
            overwrite=cfg.get("overwrite", False),
            tolerance=tolerance,
        )
        require(settings.format in FORMATS, f"format must be one of {', '.join(FORMATS)}, got {settings.format!r}")
        require(isinstance(settings.overwrite, bool), f"overwrite must be true or false, got {settings.overwrite!r}")
        require(settings.tolerance > 0, f"tolerance must be positive, got {settings.tolerance}")
        return settings
