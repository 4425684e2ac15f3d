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

from mangacolor.data.hint_simulation import (
    HintSimulationSettings,
    hint_scales,
    hints_page_seed,
    largest_hint_scale,
    simulate_hints,
)
from mangacolor.data.print_settings import PrintSettings
from mangacolor.data.print_styles import page_seed, print_windows
from mangacolor.data.transforms import NativeWindows, window_sides


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
    scales = sizes.min(dim=1).values.to(torch.float32) / settings.scan_short_side
    largest_scale = (
        min(padded_shape[-2:]) / settings.scan_short_side
    )  # bounds every page's, on the host
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
) -> tuple[torch.Tensor, torch.Tensor]:
    """(hint_color, hint_mask) simulated from the colour windows `rgb` of the batch `out`.
    `generator` draws for the whole batch (training); without one, each page draws exactly
    val_count hints from `page_key` of its path alone (validation)."""
    scales = hint_scales(
        sizes.min(dim=1).values, window_sides(sizes, window), size, scan_short_side
    )
    largest_scale = largest_hint_scale(min(padded_shape[-2:]), window, size, scan_short_side)
    lab = torch.cat([out["L"], out["ab"]], dim=1)
    device = rgb.device
    if generator is not None:
        return simulate_hints(rgb, scales, largest_scale, generator, settings, lab=lab)
    # one draw per page, from the page alone, of exactly val_count hints
    count = torch.full((1,), settings.val_count, device=device)
    drawn = [
        simulate_hints(
            rgb[i : i + 1],
            scales[i : i + 1],
            largest_scale,
            torch.Generator(device=device).manual_seed(hints_page_seed(page_key(path))),
            settings,
            counts=count,
            lab=lab[i : i + 1],
        )
        for i, path in enumerate(out["paths"])
    ]
    return torch.cat([c for c, _ in drawn]), torch.cat([m for _, m in drawn])
