"""mangacolor-colorize's settings, read from its Hydra config and checked, each error naming its
key."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mangacolor.colorize.archives import (
    ArchiveLimits,
)
from mangacolor.data.files import (
    DEFAULT_MAX_PIXELS,
)
from mangacolor.inference.compose import AUTO, check_composition, chroma_value
from mangacolor.inference.guided_upsample import UPSAMPLE_MODES
from mangacolor.runtime.config_errors import ConfigError, require, whole_numbers_given
from mangacolor.runtime.devices import PRECISIONS, resolve_device
from mangacolor.runtime.fast_path import CHANNELS_LAST
from mangacolor.runtime.renamed_keys import refuse_renamed_keys

# format= choices -> the suffix written; "keep" keeps each page's own where it can hold a colour
# page (GIF cannot: 256 colours), else writes PNG.
FORMAT_SUFFIXES = {"png": ".png", "jpeg": ".jpg", "jpg": ".jpg", "webp": ".webp"}


class ColorizeError(Exception):
    """A problem that stops the whole job (missing input, output that cannot be written...)."""


@dataclass(frozen=True)
class ColorizeSettings:
    ckpt_path: Path
    input: Path
    output: Path
    hints: Path | None = None  # hint files: a folder mirroring the input, or one page's file
    short_side: int | None = None
    full_resolution: bool = False
    tile: int = 1024
    tile_overlap: int = 256
    batch_size: int = 4
    format: str = "keep"
    quality: int = 92
    overwrite: bool = False
    device: str = "auto"
    precision: str = "auto"
    num_workers: int = 2
    threads: int | None = None  # intra-op threads; None: torch's default (one per core)
    channels_last: str = "auto"  # auto | true | false (mangacolor.runtime.fast_path)
    compile: bool = False
    max_pixels: int = DEFAULT_MAX_PIXELS
    progress: bool = True
    compose: str = AUTO  # how the predicted colour meets the page (inference.compose)
    descreen: int = 0  # screentone period (page pixels) smoothed into tone first; 0: off
    chroma: float = 1.0  # colour strength: predicted chroma times this (0: grey, 1: as predicted)
    upsample: str = "bilinear"  # the colour enlarged to the page: bilinear | guided (by L)
    recolor_color_pages: bool = False  # False: pages already in colour are copied as they are
    archive_limits: ArchiveLimits = field(default_factory=ArchiveLimits)

    @classmethod
    def from_config(cls, cfg: Any) -> ColorizeSettings:
        """From the Hydra config; a bad value raises ConfigError naming its key."""
        refuse_renamed_keys("colorize", cfg)
        values = _paths(cfg)
        limits = _archive_limits(cfg)
        values.update(_numbers(cfg))
        values.update(_plain_values(cfg))
        values.update(_precision(cfg))
        settings = cls(**values, archive_limits=limits)
        settings.check()
        return settings

    def check(self) -> None:
        require(
            self.short_side is None or self.short_side >= 1,
            f"short_side must be null or a positive number of pixels, got {self.short_side}",
        )
        require(self.tile >= 1, f"tile must be positive, got {self.tile}")
        require(
            0 <= self.tile_overlap < self.tile,
            f"tile_overlap must be at least 0 and less than tile ({self.tile}), got "
            f"{self.tile_overlap}",
        )
        require(self.batch_size >= 1, f"batch_size must be >= 1, got {self.batch_size}")
        require(
            str(self.format).lower() in ("keep", *FORMAT_SUFFIXES),
            f"format must be keep, png, jpeg or webp, got {self.format!r}",
        )
        require(1 <= self.quality <= 100, f"quality must be in 1..100, got {self.quality}")
        require(self.num_workers >= 0, f"num_workers must be >= 0, got {self.num_workers}")
        require(self.max_pixels >= 1, f"max_pixels must be positive, got {self.max_pixels}")
        check_composition("", self.compose, self.descreen, self.chroma)
        require(
            self.upsample in UPSAMPLE_MODES,
            f"upsample must be one of {', '.join(UPSAMPLE_MODES)}, got {self.upsample!r}",
        )
        require(
            isinstance(self.recolor_color_pages, bool),
            f"recolor_color_pages must be true or false, got {self.recolor_color_pages!r}",
        )
        try:
            resolve_device(self.device)
        except (RuntimeError, ValueError) as error:
            raise ConfigError(f"device: {error}") from None
        require(
            self.threads is None or self.threads >= 1,
            f"threads must be >= 1 or null, got {self.threads}",
        )
        require(
            str(self.channels_last).lower() in CHANNELS_LAST,
            f"channels_last must be auto, true or false, got {self.channels_last!r}",
        )
        if str(self.precision) not in PRECISIONS:
            raise ConfigError(
                f"precision must be one of {', '.join(PRECISIONS)}, got {self.precision!r}"
            )


# ---------------------------------------------------------------------------------------------
# ColorizeSettings.from_config's parts, each reading one kind of key


def _paths(cfg: Any) -> dict[str, Path]:
    """ckpt_path, input and output (required) and hints (optional), with `~` expanded."""
    values = {}
    for key in ("ckpt_path", "input", "output"):
        value = cfg.get(key)
        if value in (None, "", "???"):
            raise ConfigError(
                f"{key} is required: mangacolor-colorize ckpt_path=generator.pt input=PAGES "
                "output=DIR"
            )
        values[key] = Path(os.path.expanduser(str(value)))
    if cfg.get("hints") not in (None, ""):
        values["hints"] = Path(os.path.expanduser(str(cfg["hints"])))
    return values


def _archive_limits(cfg: Any) -> ArchiveLimits:
    archive = cfg.get("archive") or {}
    try:
        return ArchiveLimits(**{k: archive[k] for k in archive})
    except (TypeError, ValueError) as error:
        raise ConfigError(f"archive: {error}") from None


def _numbers(cfg: Any) -> dict[str, Any]:
    """The whole numbers, and chroma (a float)."""
    numbers = (
        "short_side",
        "tile",
        "tile_overlap",
        "batch_size",
        "quality",
        "num_workers",
        "max_pixels",
        "threads",
        "descreen",
    )
    values: dict[str, Any] = whole_numbers_given(cfg, numbers)
    if cfg.get("chroma") is not None:
        values["chroma"] = chroma_value(cfg["chroma"])
    return values


def _plain_values(cfg: Any) -> dict[str, Any]:
    """The keys taken as given (ColorizeSettings.check judges them)."""
    values = {}
    for key in (
        "full_resolution",
        "overwrite",
        "progress",
        "format",
        "device",
        "channels_last",
        "compile",
        "compose",
        "recolor_color_pages",
        "upsample",
    ):
        if key in cfg:
            values[key] = cfg[key]
    return values


def _precision(cfg: Any) -> dict[str, Any]:
    # `precision=...` picks an option of the precision group, which writes trainer.precision (as
    # in training and eval); a top-level key would be a config that bypassed the group.
    if "precision" in cfg:
        raise ConfigError(
            "precision is set through the precision group (trainer.precision), "
            f"not as a top-level key: got precision={cfg['precision']!r}"
        )
    trainer = cfg.get("trainer") or {}
    if trainer.get("precision") is not None:
        return {"precision": trainer["precision"]}
    return {}
