"""Black-and-white and colour pages drawn for the compose and page-kind tests, as a scan would give them.

Every page is uint8 RGB (3, H, W). Shapes are outlined in black ink on white paper; what fills
them says what kind of page it is: clustered-dot screentone (binary at the pixel scale), flat
digital grey levels, continuous grey shading, or colour. Scan effects (blur, noise, JPEG, yellowed
paper, a colour cast, colour fringes) are applied on top.
"""

from __future__ import annotations

import io
import math

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFilter

PAPER, INK = 255, 0


def _shapes(
    height: int, width: int, seed: int, count: int = 6
) -> list[tuple[str, tuple[int, int, int, int]]]:
    rng = np.random.default_rng(seed)
    shapes = []
    for _ in range(count):
        w, h = (
            int(rng.integers(width // 5, width // 2)),
            int(rng.integers(height // 5, height // 2)),
        )
        x, y = int(rng.integers(0, width - w)), int(rng.integers(0, height - h))
        shapes.append(("ellipse" if rng.random() < 0.5 else "rectangle", (x, y, x + w, y + h)))
    return shapes


def _outlined(height: int, width: int, seed: int, fill) -> np.ndarray:
    """Shapes drawn in order, each filled by `fill(mask, index)` -> (H, W) grey values, then outlined."""
    grey = np.full((height, width), float(PAPER))
    for index, (kind, box) in enumerate(_shapes(height, width, seed)):
        mask_image = Image.new("L", (width, height), 0)
        getattr(ImageDraw.Draw(mask_image), kind)(box, fill=255)
        mask = np.asarray(mask_image) > 0
        grey[mask] = fill(mask, index)[mask]
        outline = Image.new("L", (width, height), 0)
        getattr(ImageDraw.Draw(outline), kind)(box, outline=255, width=3)
        grey[np.asarray(outline) > 0] = INK
    return grey


def clustered_dots(
    height: int, width: int, darkness: float, period: float, angle: float = 45.0
) -> np.ndarray:
    """A halftone screen of round clustered dots: True where the ink is, covering about `darkness`."""
    y, x = np.mgrid[0:height, 0:width].astype(float)
    theta = math.radians(angle)
    u = (x * math.cos(theta) + y * math.sin(theta)) * 2 * math.pi / period
    v = (-x * math.sin(theta) + y * math.cos(theta)) * 2 * math.pi / period
    spot = (np.cos(u) + np.cos(v)) / 2  # 1 at dot centres, -1 between them
    threshold = (
        np.quantile(spot, 1.0 - darkness) if 0 < darkness < 1 else (2.0 if darkness <= 0 else -2.0)
    )
    return spot >= threshold


def as_rgb(grey: np.ndarray) -> torch.Tensor:
    grey = np.clip(np.round(grey), 0, 255).astype(np.uint8)
    return torch.from_numpy(np.repeat(grey[None], 3, axis=0))


def screentone_page(
    height: int = 240, width: int = 180, seed: int = 0, period: float = 6.0, blur: float = 0.6
) -> torch.Tensor:
    """Ink outlines; shapes filled with dot screens of different tones; a little scan blur."""
    tones = [0.2, 0.45, 0.3, 0.6, 0.15, 0.4]
    grey = _outlined(
        height,
        width,
        seed,
        lambda mask, i: np.where(
            clustered_dots(height, width, tones[i % 6], period, 45 + 15 * (i % 2)), INK, PAPER
        ).astype(float),
    )
    return blurred(as_rgb(grey), blur)


def line_art_page(height: int = 240, width: int = 180, seed: int = 0) -> torch.Tensor:
    """Black outlines and hatching on white paper, nothing else."""
    grey = _outlined(height, width, seed, lambda mask, i: np.full(mask.shape, float(PAPER)))
    for row in range(height // 3, height // 3 + 40, 5):  # a patch of hatching
        grey[row : row + 1, width // 4 : width // 2] = INK
    return blurred(as_rgb(grey), 0.5)


def flat_tone_page(height: int = 240, width: int = 180, seed: int = 0) -> torch.Tensor:
    """Digitally toned: shapes in a few flat grey levels, outlined in ink."""
    levels = [190.0, 130.0, 220.0, 90.0]
    return as_rgb(
        _outlined(height, width, seed, lambda mask, i: np.full(mask.shape, levels[i % 4]))
    )


def grey_page(height: int = 240, width: int = 180, seed: int = 0) -> torch.Tensor:
    """Continuous grey tones, as a grey scan of painted art: smooth shading everywhere, a few lines."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(float)
    grey = 150 + 60 * (y / height) - 40 * (x / width)
    for _ in range(8):
        cy, cx, r = rng.uniform(0, height), rng.uniform(0, width), rng.uniform(15, 60)
        grey += rng.uniform(-60, 60) * np.exp(-((y - cy) ** 2 + (x - cx) ** 2) / (2 * r * r))
    grey = np.clip(grey, 30, 235)
    for _ in range(3 if height > 30 else 0):
        row = int(rng.integers(10, height - 10))
        grey[row : row + 2, 10 : width - 10] = 20.0
    return as_rgb(grey)


def color_page(height: int = 240, width: int = 180, seed: int = 0) -> torch.Tensor:
    """A colour illustration: shapes of several colours, shaded, outlined in ink, on white."""
    palette = np.array(
        [
            (225, 80, 70),
            (70, 110, 210),
            (240, 200, 60),
            (60, 170, 90),
            (240, 170, 150),
            (150, 90, 190),
        ]
    )
    rgb = np.full((height, width, 3), 255.0)
    y = np.mgrid[0:height, 0:width][0] / height
    for index, (kind, box) in enumerate(_shapes(height, width, seed)):
        mask_image = Image.new("L", (width, height), 0)
        getattr(ImageDraw.Draw(mask_image), kind)(box, fill=255)
        mask = np.asarray(mask_image) > 0
        rgb[mask] = (palette[index % len(palette)] * (1.0 - 0.25 * y[..., None]))[mask]
        outline = Image.new("L", (width, height), 0)
        getattr(ImageDraw.Draw(outline), kind)(box, outline=255, width=3)
        rgb[np.asarray(outline) > 0] = 0.0
    return torch.from_numpy(np.clip(rgb, 0, 255).astype(np.uint8)).permute(2, 0, 1).contiguous()


# ---- scan effects ---------------------------------------------------------------------------
def _image(page: torch.Tensor) -> Image.Image:
    return Image.fromarray(page.permute(1, 2, 0).numpy())


def _tensor(image: Image.Image) -> torch.Tensor:
    return torch.from_numpy(np.array(image.convert("RGB"))).permute(2, 0, 1).contiguous()


def blurred(page: torch.Tensor, radius: float) -> torch.Tensor:
    return _tensor(_image(page).filter(ImageFilter.GaussianBlur(radius))) if radius > 0 else page


def noisy(page: torch.Tensor, sigma: float, seed: int = 0, grey: bool = True) -> torch.Tensor:
    """Scanner noise of `sigma` grey levels (the same on every channel when `grey`)."""
    rng = np.random.default_rng(seed)
    shape = (1, *page.shape[1:]) if grey else tuple(page.shape)
    noise = torch.from_numpy(rng.normal(0.0, sigma, shape))
    return (page.double() + noise).round().clamp(0, 255).to(torch.uint8)


def jpeg(page: torch.Tensor, quality: int = 75) -> torch.Tensor:
    buffer = io.BytesIO()
    _image(page).save(buffer, format="JPEG", quality=quality)
    return _tensor(Image.open(io.BytesIO(buffer.getvalue())))


def yellowed(page: torch.Tensor, paper=(246, 233, 196)) -> torch.Tensor:
    """Old paper: the white takes a yellow-brown tint, ink stays near black (a multiplicative tint)."""
    tint = torch.tensor(paper, dtype=torch.float64).view(3, 1, 1) / 255
    return (page.double() * tint + 6).round().clamp(0, 255).to(torch.uint8)


def cast(page: torch.Tensor, shift=(7, 0, -7)) -> torch.Tensor:
    """A scanner's slight colour cast: every pixel shifted by a few levels per channel."""
    return (page.int() + torch.tensor(shift).view(3, 1, 1)).clamp(0, 255).to(torch.uint8)


def fringed(page: torch.Tensor) -> torch.Tensor:
    """A scanner's colour fringes: red sampled half a pixel right of green and blue half a pixel left
    (a one-pixel misregistration between red and blue), so every line gets red and cyan edges."""
    out, wide = page.clone(), page.float()
    out[0] = ((wide[0] + torch.roll(wide[0], 1, dims=1)) / 2).round().to(torch.uint8)
    out[2] = ((wide[2] + torch.roll(wide[2], -1, dims=1)) / 2).round().to(torch.uint8)
    return out
