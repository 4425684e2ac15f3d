"""mangacolor-studio's settings, read from its Hydra config and checked, each error naming its
key."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mangacolor.colorize.archives import ArchiveLimits
from mangacolor.data.files import DEFAULT_MAX_PIXELS
from mangacolor.inference.compose import AUTO, CHROMA_RULE, COMPOSE_MODES, chroma_value, is_chroma
from mangacolor.runtime.config_errors import ConfigError, require, whole_numbers_given
from mangacolor.runtime.devices import resolve_device
from mangacolor.runtime.renamed_keys import refuse_renamed_keys

LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")


@dataclass(frozen=True)
class StudioSettings:
    ckpt_path: Path
    output: Path
    input: Path | None = None  # an image, a folder or a .cbz/.zip; None: pages come from uploads
    host: str = "127.0.0.1"
    port: int = 8765  # 0: any free port
    short_side: int | None = None  # working resolution (shorter side); None: the training size
    compose: str = AUTO
    chroma: float = 1.0
    device: str = "cpu"
    max_pixels: int = DEFAULT_MAX_PIXELS
    max_upload_bytes: int = 64 << 20
    open_browser: bool = False
    archive_limits: ArchiveLimits = field(default_factory=ArchiveLimits)

    @property
    def is_local(self) -> bool:
        return self.host in LOCAL_HOSTS

    @classmethod
    def from_config(cls, cfg: Any) -> StudioSettings:
        """From the Hydra config; a bad value raises ConfigError naming its key."""
        refuse_renamed_keys("studio", cfg)
        values: dict[str, Any] = {}
        for key in ("ckpt_path", "output"):
            value = cfg.get(key)
            if value in (None, "", "???"):
                raise ConfigError(
                    f"{key} is required: mangacolor-studio ckpt_path=generator.pt "
                    "[input=PAGES] output=DIR"
                )
            values[key] = Path(os.path.expanduser(str(value)))
        if cfg.get("input") not in (None, ""):
            values["input"] = Path(os.path.expanduser(str(cfg["input"])))
        values.update(
            whole_numbers_given(cfg, ("port", "short_side", "max_pixels", "max_upload_bytes"))
        )
        if cfg.get("chroma") is not None:
            values["chroma"] = chroma_value(cfg["chroma"])
        for key in ("host", "compose", "device", "open_browser"):
            if cfg.get(key) is not None:
                values[key] = cfg[key]
        archive = cfg.get("archive") or {}
        try:
            limits = ArchiveLimits(**{k: archive[k] for k in archive})
        except (TypeError, ValueError) as error:
            raise ConfigError(f"archive: {error}") from None
        settings = cls(**values, archive_limits=limits)
        settings.check()
        return settings

    def check(self) -> None:
        require(
            isinstance(self.host, str) and self.host.strip() != "",
            f"host must be an address such as 127.0.0.1, got {self.host!r}",
        )
        require(
            0 <= self.port <= 65535, f"port must be in 0..65535 (0: any free port), got {self.port}"
        )
        require(
            self.short_side is None or self.short_side >= 1,
            f"short_side must be null or a positive number of pixels, got {self.short_side}",
        )
        require(
            self.compose in COMPOSE_MODES,
            f"compose must be one of {', '.join(COMPOSE_MODES)}, got {self.compose!r}",
        )
        require(is_chroma(self.chroma), f"chroma must be {CHROMA_RULE}, got {self.chroma}")
        require(self.max_pixels >= 1, f"max_pixels must be positive, got {self.max_pixels}")
        require(
            self.max_upload_bytes >= 1,
            f"max_upload_bytes must be positive, got {self.max_upload_bytes}",
        )
        require(
            isinstance(self.open_browser, bool),
            f"open_browser must be true or false, got {self.open_browser!r}",
        )
        try:
            resolve_device(self.device)
        except (RuntimeError, ValueError) as error:
            raise ConfigError(f"device: {error}") from None
        if self.input is not None:
            require(self.input.exists(), f"input not found: {self.input}")
            if self.input.is_dir():
                require(
                    not self.output.resolve().is_relative_to(self.input.resolve()),
                    f"output {self.output} is inside the input folder {self.input}; "
                    "choose an output folder outside it",
                )
