"""The settings of the black-and-white page synthesis (`print_styles.py`), checked.

`PrintSettings` is the config's `data.printing`: one frozen dataclass per part of the printing
(tone curve, screens, line art, flat tones, the scan), each field bounded by its metadata, so a
wrong key or value raises `ConfigError` naming it. `style_probabilities` reads `data.input_styles`.
Defaults are conf/data/pages.yaml's `printing` (tests/data/test_print_settings.py keeps them
equal), so eval and scripts can call `print_page` without a config.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from mangacolor.runtime.config_errors import is_number, require, require_known
from mangacolor.styles import STYLES

SCREEN_KINDS = ("round", "square", "lines", "hatching")

Span = tuple[float, float]


# Each field's metadata bounds its values; the hint simulation's settings use the same helpers.
def span_field(
    default: Span, low: float | None = None, high: float | None = None, whole: bool = False
):
    return field(default=default, metadata={"span": True, "low": low, "high": high, "whole": whole})


def chance_field(default: float):
    return field(default=default, metadata={"low": 0.0, "high": 1.0})


@dataclass(frozen=True)
class ToneSettings:
    """Lightness (L/100) -> how much ink: shared by screentone, lines' fills and flat."""

    white: Span = span_field((0.8, 0.95), 0.0, 1.0)  # lighter is left as paper
    black: Span = span_field((0.08, 0.22), 0.0, 1.0)  # darker is solid ink
    gamma: Span = span_field((0.6, 1.2), 0.05)  # tone curve between them


@dataclass(frozen=True)
class ScreenSettings:
    period: Span = span_field((2.0, 5.2), 0.01)  # px at scan size
    angle_45: float = chance_field(0.6)  # else uniform in [0, 90) degrees
    kinds: Mapping[str, float] = field(
        default_factory=lambda: {"round": 0.5, "square": 0.15, "lines": 0.2, "hatching": 0.15}
    )
    regions: tuple[int, int] = span_field((1, 4), 1, 16, whole=True)
    # ink coverage of the darkest tone before solid black
    darkest: Span = span_field((0.5, 0.7), 0.0, 1.0)
    # a region's tone in 10 % steps (a pasted tone sheet), else continuous
    steps: float = chance_field(0.5)


@dataclass(frozen=True)
class LineSettings:
    # px at scan size: XDoG's narrow Gaussian, about a line's half-width
    sigma: Span = span_field((0.6, 1.6), 0.01)
    k: Span = span_field((1.6, 3.0), 1.01)  # wide Gaussian = k x sigma
    tau: Span = span_field((0.97, 0.995), 0.0, 1.0)  # below 1, so flat areas never ink
    epsilon: Span = span_field((-0.03, -0.005), -1.0, 0.0)  # edge response that starts a line
    phi: Span = span_field((60.0, 200.0), 0.01)  # sharpness of the ink threshold
    fills: float = chance_field(0.5)  # the lines style also prints solid blacks


@dataclass(frozen=True)
class FlatSettings:
    levels: tuple[int, int] = span_field((2, 4), 1, 16, whole=True)  # grey levels besides paper
    darkest: Span = span_field((0.45, 0.75), 0.0, 1.0)  # darkness of the darkest grey


@dataclass(frozen=True)
class ScanSettings:
    paper: Span = span_field((0.9, 1.0), 0.0, 1.0)  # paper's grey value in the scan
    ink: Span = span_field((0.0, 0.12), 0.0, 1.0)  # ink's
    # uneven lighting, +- this fraction across the page
    shading: Span = span_field((0.0, 0.04), 0.0, 0.5)
    blur: Span = span_field((0.3, 1.2), 0.0)  # px at scan size
    noise: Span = span_field(
        (0.0, 0.02), 0.0, 1.0
    )  # grey levels (0..1) of sensor noise at scan size
    jpeg: float = chance_field(0.6)
    jpeg_quality: Span = span_field((55.0, 95.0), 1.0, 100.0)
    # px at scan size: lines and blacks thinned (-), spread (+)
    ink_weight: Span = span_field((-0.5, 1.0), -1.0, 1.0)


@dataclass(frozen=True)
class PrintSettings:
    scan_short_side: float = 1200.0  # px: the page size the lengths above are given for
    tone: ToneSettings = field(default_factory=ToneSettings)
    screentone: ScreenSettings = field(default_factory=ScreenSettings)
    lines: LineSettings = field(default_factory=LineSettings)
    flat: FlatSettings = field(default_factory=FlatSettings)
    scan: ScanSettings = field(default_factory=ScanSettings)

    @classmethod
    def from_config(cls, config: Mapping | None, name: str = "data.printing") -> PrintSettings:
        """Settings from a (partial) mapping such as the config's `data.printing`; what it leaves
        out keeps its default. A wrong key or value raises ConfigError naming it."""
        if config is None:
            return cls()
        require(isinstance(config, Mapping), f"{name} must be a mapping, got {config!r}")
        sections = {f.name: f for f in dataclasses.fields(cls)}
        require_known(config, sections, name)
        values = {}
        for key, value in config.items():
            if key == "scan_short_side":
                require(
                    is_number(value) and value > 0,
                    f"{name}.scan_short_side must be a positive number, got {value!r}",
                )
                values[key] = float(value)
            else:
                values[key] = settings_section(
                    sections[key].default_factory, value, f"{name}.{key}"
                )
        settings = cls(**values)
        require(
            settings.tone.black[1] < settings.tone.white[0],
            f"{name}.tone: black {list(settings.tone.black)} must lie below "
            f"white {list(settings.tone.white)}",
        )
        return settings


def settings_section(kind, config, name: str):
    require(isinstance(config, Mapping), f"{name} must be a mapping, got {config!r}")
    fields = {f.name: f for f in dataclasses.fields(kind)}
    require_known(config, fields, name)
    return kind(
        **{key: _value(fields[key], value, f"{name}.{key}") for key, value in config.items()}
    )


def _value(spec: dataclasses.Field, value, name: str):
    if spec.name == "kinds":
        return _probabilities(value, SCREEN_KINDS, name)
    low, high = spec.metadata.get("low"), spec.metadata.get("high")
    bounds = f"[{low if low is not None else '-inf'}, {high if high is not None else 'inf'}]"
    if spec.metadata.get("span"):
        ok = (
            isinstance(value, Sequence)
            and not isinstance(value, str)
            and len(value) == 2
            and all(is_number(v) for v in value)
            and value[0] <= value[1]
        )
        require(
            ok, f"{name} must be a range [low, high] of two numbers, low <= high, got {value!r}"
        )
        whole = spec.metadata.get("whole")
        require(
            not whole or all(float(v).is_integer() for v in value),
            f"{name} must be whole numbers, got {value!r}",
        )
        inside = all((low is None or v >= low) and (high is None or v <= high) for v in value)
        require(inside, f"{name} must lie in {bounds}, got {list(value)}")
        return tuple(int(v) if whole else float(v) for v in value)
    require(
        is_number(value) and low <= value <= high,
        f"{name} must be a number in {bounds}, got {value!r}",
    )
    return float(value)


def _probabilities(config, names: Sequence[str], name: str) -> dict[str, float]:
    require(
        isinstance(config, Mapping) and len(config) > 0,
        f"{name} must map names ({', '.join(names)}) to probabilities, got {config!r}",
    )
    require_known(config, names, name)
    for key, value in config.items():
        require(
            is_number(value) and value >= 0, f"{name}.{key} must be a number >= 0, got {value!r}"
        )
    total = float(sum(config.values()))
    require(total > 0, f"{name}: the probabilities sum to 0; give at least one a positive weight")
    return {str(key): float(value) / total for key, value in config.items()}


def style_probabilities(
    config: Mapping | None, name: str = "data.input_styles"
) -> dict[str, float]:
    """{style: probability} from the config's `data.input_styles` (weights, normalised to sum 1), in
    STYLES order, without the styles of weight 0. None means plain only."""
    if config is None:
        return {"plain": 1.0}
    weights = _probabilities(config, STYLES, name)
    return {style: weights[style] for style in STYLES if weights.get(style, 0.0) > 0}
