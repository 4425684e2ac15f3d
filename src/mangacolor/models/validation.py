"""Validation's tables: each image's metrics, summed into one row per input style, and the logged
means.

A validation step scores each image once (`image_metrics`, one column per name of VAL_SUMS) and adds
its row to its style's (`style_rows`); the epoch's sums, reduced over ranks, become the logged
scalars (`validation_scalars`) with one host sync. "grey" is the true L with no colour; "bw" is the
B&W page the network saw, with no colour: what a reader has today (for plain inputs it is grey).
bw's ab-L1 is grey's (both have ab = 0), so it is not kept twice; nor are the colourfulness of grey
and of the B&W page (0: R = G = B). truth_colourfulness is the true page's.
"""

from __future__ import annotations

import torch

from mangacolor.color import cie_lab, lightness_as_rgb, rgb_to_scaled_lab, scaled_lab_to_rgb
from mangacolor.metrics import ab_l1, colorfulness, mean_delta_e_2000, psnr
from mangacolor.styles import PLAIN, STYLES

VAL_SUMS = (
    "ab_l1",
    "grey_ab_l1",
    "psnr",
    "grey_psnr",
    "delta_e_2000",
    "grey_delta_e_2000",
    "bw_psnr",
    "bw_delta_e_2000",
    "colourfulness",
    "truth_colourfulness",
    "images",
)
BW_SUMS = ("bw_psnr", "bw_delta_e_2000")
# The group of every style that is not plain: the pages whose baseline is the B&W page.
BW_INPUTS = "bw_inputs"


def image_metrics(
    inputs: torch.Tensor,
    lightness: torch.Tensor,
    ab: torch.Tensor,
    fake_lightness: torch.Tensor,
    fake_ab: torch.Tensor,
) -> torch.Tensor:
    """Each image's row of VAL_SUMS, (B, len(VAL_SUMS)) float64, for the page the model gives,
    scaled (fake_lightness, fake_ab), against the true scaled (lightness, ab); `inputs` is the page
    it saw."""
    true_rgb, true_lab = scaled_lab_to_rgb(lightness, ab), cie_lab(lightness, ab)
    fake_rgb = scaled_lab_to_rgb(fake_lightness, fake_ab)
    # the shown (gamut-clipped) colours, as eval scores
    fake_lab = cie_lab(*rgb_to_scaled_lab(fake_rgb))
    raw_lab = cie_lab(fake_lightness, fake_ab)  # the prediction itself: ab-L1 is training's term
    no_color = torch.zeros_like(ab)
    grey_lab, bw_lab = cie_lab(lightness, no_color), cie_lab(inputs, no_color)
    return torch.stack(
        [  # columns in VAL_SUMS order
            ab_l1(raw_lab[:, 1:], true_lab[:, 1:]),
            ab_l1(grey_lab[:, 1:], true_lab[:, 1:]),
            psnr(fake_rgb, true_rgb),
            psnr(lightness_as_rgb(lightness), true_rgb),
            mean_delta_e_2000(fake_lab, true_lab),
            mean_delta_e_2000(grey_lab, true_lab),
            psnr(lightness_as_rgb(inputs), true_rgb),
            mean_delta_e_2000(bw_lab, true_lab),
            colorfulness(fake_rgb),
            colorfulness(true_rgb),
            torch.ones(lightness.shape[0], device=lightness.device),
        ],
        dim=1,
    ).double()


def style_rows(styles: list[str], count: int, device: torch.device) -> torch.Tensor:
    """One-hot (count, len(STYLES)) float64 on `device`: which style row each image adds to."""
    unknown = sorted(set(styles) - set(STYLES))
    if unknown or len(styles) != count:
        raise ValueError(
            f"validation batch styles {list(styles)!r} for {count} images: each must be one "
            f"of {', '.join(STYLES)}"
        )
    rows = torch.zeros(count, len(STYLES), dtype=torch.float64)
    rows[torch.arange(count), torch.tensor([STYLES.index(style) for style in styles])] = 1.0
    if device.type == "cuda":
        rows = rows.pin_memory()  # so the copy below does not make the host wait for the GPU
    return rows.to(device, non_blocking=True)


def add_to_sums(sums: torch.Tensor, per_image: torch.Tensor, styles: list[str] | None) -> None:
    """Add each image's row to its style's row of `sums` (len(STYLES), len(VAL_SUMS)), in place.
    Without styles (the seed's batches) every image is plain, and nothing is copied to the
    device."""
    if styles is None:
        sums[STYLES.index(PLAIN)] += per_image.sum(0)
    else:
        sums += style_rows(list(styles), per_image.shape[0], sums.device).T @ per_image


def validation_scalars(sums: torch.Tensor) -> dict[str, float]:
    """Validation sums (len(STYLES), len(VAL_SUMS)), already summed over ranks -> the logged means.

    val/<metric> over all images; val/bw_* over the images whose input is not plain (absent when
    there are none), and val/bw_inputs/<metric> every metric over those same images;
    val/<style>/<metric> and val/<style>/images for each style that had images. Each group also
    gets colourfulness_ratio: its mean colourfulness over the truth's (a ratio of means, as
    mangacolor-eval reports it: 1 is as colourful as the truth, 0 is grey).
    """
    table = sums.tolist()  # the one host sync of a validation
    overall_names = tuple(name for name in VAL_SUMS[:-1] if name not in BW_SUMS)
    scalars = _means(table, overall_names, "val/")
    if not scalars:
        return {}
    bw_rows = [row for style, row in zip(STYLES, table, strict=True) if style != PLAIN]
    scalars.update(_means(bw_rows, BW_SUMS, "val/"))
    bw_inputs = _means(bw_rows, VAL_SUMS[:-1], f"val/{BW_INPUTS}/")
    if bw_inputs:
        scalars.update(bw_inputs)
        scalars[f"val/{BW_INPUTS}/images"] = sum(row[-1] for row in bw_rows)
    scalars["val/images"] = sum(row[-1] for row in table)
    for style, row in zip(STYLES, table, strict=True):
        if row[-1] == 0:
            continue
        names = overall_names if style == PLAIN else VAL_SUMS[:-1]
        scalars.update(_means([row], names, f"val/{style}/"))
        scalars[f"val/{style}/images"] = row[-1]
    return scalars


def _means(rows: list[list[float]], names: tuple[str, ...], prefix: str) -> dict[str, float]:
    """The mean of each named column over `rows`' images ({} when they have none), with the group's
    colourfulness_ratio when colourfulness is among them."""
    columns = {name: index for index, name in enumerate(VAL_SUMS)}
    images = sum(row[-1] for row in rows)
    if images == 0:
        return {}
    group = {f"{prefix}{name}": sum(row[columns[name]] for row in rows) / images for name in names}
    if "colourfulness" in names:
        truth = group[f"{prefix}truth_colourfulness"]
        group[f"{prefix}colourfulness_ratio"] = (
            group[f"{prefix}colourfulness"] / truth if truth > 0 else float("nan")
        )
    return group
