"""mangacolor-export's settings, read from its Hydra config and checked, each error naming its key."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mangacolor.runtime.config_errors import ConfigError, require

FORMATS = {"onnx": ".onnx", "torch-export": ".pt2"}  # format= -> the default output's suffix
TOLERANCE = 1e-4  # max abs difference on the scaled output ([-1, 1]): 0.011 in a or b, 0.005 in L


@dataclass(frozen=True)
class ExportSettings:
    """What to export and how; checked when made, so the exporter never sees a bad value."""

    ckpt_path: Path
    format: str = "onnx"
    output: Path | None = None  # None: beside the checkpoint, named after it
    overwrite: bool = False
    tolerance: float = TOLERANCE

    def __post_init__(self) -> None:
        require(
            self.format in FORMATS,
            f"format must be one of {', '.join(FORMATS)}, got {self.format!r}",
        )
        require(
            isinstance(self.overwrite, bool),
            f"overwrite must be true or false, got {self.overwrite!r}",
        )
        require(self.tolerance > 0, f"tolerance must be positive, got {self.tolerance}")

    @classmethod
    def from_config(cls, cfg: Any) -> ExportSettings:
        ckpt_path = cfg.get("ckpt_path")
        if ckpt_path in (None, "", "???"):
            raise ConfigError(
                "ckpt_path is required: mangacolor-export ckpt_path=generator.pt format=onnx|torch-export"
            )
        output = cfg.get("output")
        try:
            tolerance = float(cfg.get("tolerance", TOLERANCE))
        except (TypeError, ValueError):
            raise ConfigError(f"tolerance must be a number, got {cfg.get('tolerance')!r}") from None
        return cls(
            ckpt_path=Path(os.path.expanduser(str(ckpt_path))),
            format=str(cfg.get("format", "onnx")),
            output=None if output in (None, "") else Path(os.path.expanduser(str(output))),
            overwrite=cfg.get("overwrite", False),
            tolerance=tolerance,
        )
