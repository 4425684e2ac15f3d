"""What a batch's colour windows become besides L and ab, for `PagesDataModule.to_lab_batch`: the
black-and-white pages printed from them (data.input_styles, `print_styles.py`) and the colour hints
simulated from them (data.hints, `hint_simulation.py`).

In training one generator, drawn by the datamodule from (seed, rank, batch number), serves the
whole batch; in validation (no generator) each page draws from its own key alone, so every
validation pass sees the same pages.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from mangacolor.color import rgb_to_scaled_lab
from mangacolor.data.hint_simulation import (
    HintSimulationSettings,
    hint_scales,
    hints_page_seed,
    largest_hint_scale,
    simulate_hints,
)
from mangacolor.data.print_settings import PrintSettings
from mangacolor.data.print_styles import page_seed, print_windows
from mangacolor.data.transforms import NativeWindows, on_both_axes, window_sides


def printed_inputs(
    windows: NativeWindows,
    sizes: torch.Tensor,
    picked: list[int],
    index: torch.Tensor,
    styles: list[str],
    settings: PrintSettings,
    padded_shape: torch.Size,
    generator: torch.Generator | None,
    paths: Sequence[str],
    page_key: Callable[[str], str],
) -> torch.Tensor:
    """The windows `picked` (and `index`, the same on the device) printed in their styles at
    their pages' resolution, and shrunk. `generator` draws for the whole batch (training); without
    one, each page draws from `page_key` of its path alone (validation)."""
    scales, largest_scale = page_scales(sizes, padded_shape, settings.scan_short_side)
    rgb = windows.rgb.index_select(0, index)
    valid = windows.sides[index, None].expand(-1, 2)
    chosen = [styles[i] for i in picked]
    device = rgb.device
    if generator is not None:
        printed = print_windows(
            rgb, chosen, scales[index], generator, settings, valid, largest_scale
        )
    else:  # one draw per page, from the page alone
        printed = torch.cat(
            [
                print_windows(
                    rgb[j : j + 1],
                    chosen[j : j + 1],
                    scales[i : i + 1],
                    torch.Generator(device=device).manual_seed(page_seed(page_key(paths[i]))),
                    settings,
                    valid[j : j + 1],
                    largest_scale,
                )
                for j, i in enumerate(picked)
            ]
        )
    return windows.shrink(printed, index)


def page_scales(
    sizes: torch.Tensor, padded_shape: torch.Size, scan_short_side: float
) -> tuple[torch.Tensor, float]:
    """(B,) each window's page short side over `scan_short_side` (page pixels per pixel at scan
    size, as the print styles and the hints drawn at page resolution scale their features), and a
    bound on them known on the host (the padded batch's short side)."""
    scales = sizes.min(dim=1).values.to(torch.float32) / scan_short_side
    return scales, min(padded_shape[-2:]) / scan_short_side


def simulated_hints(
    out: dict,
    rgb: torch.Tensor,
    sizes: torch.Tensor,
    padded_shape: torch.Size,
    settings: HintSimulationSettings,
    size: int,
    window: int,
    scan_short_side: float,
    generator: torch.Generator | None,
    page_key: Callable[[str], str],
    windows: NativeWindows | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(hint_color, hint_mask) simulated from the colour windows `rgb` of the batch `out`.
    `generator` draws for the whole batch (training); without one, each page draws exactly
    val_count hints from `page_key` of its path alone (validation).

    With `windows` (the same windows at their pages' own resolution, as the print styles get them)
    the hints are drawn there, as a user places them and as eval samples them, and shrunk to the
    training size as the rasteriser shrinks a painted layer (`native_hints`); without, at the
    training size."""
    if windows is not None:
        scales, largest_scale = page_scales(sizes, padded_shape, scan_short_side)
        source = windows.rgb
        lab = torch.cat(rgb_to_scaled_lab(source), dim=1)
        valid = windows.sides
    else:
        scales = hint_scales(
            sizes.min(dim=1).values, window_sides(sizes, window), size, scan_short_side
        )
        largest_scale = largest_hint_scale(min(padded_shape[-2:]), window, size, scan_short_side)
        source, lab, valid = rgb, torch.cat([out["L"], out["ab"]], dim=1), None
    device = rgb.device
    if generator is not None:
        color, mask = simulate_hints(
            source, scales, largest_scale, generator, settings, lab=lab, valid=valid
        )
    else:  # one draw per page, from the page alone, of exactly val_count hints
        count = torch.full((1,), settings.val_count, device=device)
        drawn = [
            simulate_hints(
                source[i : i + 1],
                scales[i : i + 1],
                largest_scale,
                torch.Generator(device=device).manual_seed(hints_page_seed(page_key(path))),
                settings,
                counts=count,
                lab=lab[i : i + 1],
                valid=None if valid is None else valid[i : i + 1],
            )
            for i, path in enumerate(out["paths"])
        ]
        color, mask = torch.cat([c for c, _ in drawn]), torch.cat([m for _, m in drawn])
    return (color, mask) if windows is None else native_hints(color, mask, windows)


def native_hints(
    color: torch.Tensor, mask: torch.Tensor, windows: NativeWindows
) -> tuple[torch.Tensor, torch.Tensor]:
    """Hint maps drawn on the native windows (B, C, S, S) and (B, 1, S, S) -> the same at the
    training size, by the rule `mangacolor.hints.raster.rasterize_layer` shrinks a painted layer
    with: a working pixel is hinted iff a hinted pixel lies in its footprint, its colour their
    mean; mirrored like the windows. The footprints here split the window (each native pixel
    belongs to one working pixel, `footprint_weights`), where the rasteriser's overlap by up to a
    pixel at their edges, so a dot on such an edge marks one working pixel here and may mark two
    there.

    So a dot on a line thinner than a working pixel keeps the line's own colour (the working pixel
    is mostly the paper beside it), as a user's dot and eval's do: drawn at the training size, the
    dot would average the line into the paper and the network would never meet the case."""
    weights = footprint_weights(windows.sides, color.shape[-1], windows.size)[:, None]
    hinted = on_both_axes(weights, mask)
    sums = on_both_axes(weights, color.float() * mask)
    shrunk_mask = (hinted > 0).float()
    shrunk_color = sums / hinted.clamp_min(1e-6) * shrunk_mask
    return windows.mirrored(shrunk_color), windows.mirrored(shrunk_mask)


def footprint_weights(sides: torch.Tensor, source: int, size: int) -> torch.Tensor:
    """(B, size, source) 0/1 matrices: native pixel p of window b (p < sides[b]) belongs to working
    pixel floor((p + 0.5) * size / sides[b]); pixels past sides[b] to none."""
    positions = torch.arange(source, device=sides.device, dtype=torch.float32) + 0.5
    owner = (positions[None, :] * size / sides.to(torch.float32)[:, None]).floor().long()
    owner = torch.where(positions[None, :] < sides[:, None], owner, -1)  # (B, source)
    working = torch.arange(size, device=sides.device)
    return (owner[:, None, :] == working[None, :, None]).float()
