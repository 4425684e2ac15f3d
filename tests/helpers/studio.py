"""Pages, generators and a running server for the studio's tests (tests/studio/)."""

from __future__ import annotations

import threading
import time
import zipfile
from contextlib import contextmanager
from pathlib import Path

import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw

from helpers.generators import TINY

INK_X = 0.5  # the ink line runs down the middle of a line page: left region | right region


def draw_line_page(path: Path, size=(96, 64)) -> Path:
    """A B&W page: white paper, a black frame and one vertical ink line splitting it in two. The
    line is a 32nd of the width (at least 3 px), so it still separates the regions at a working
    size of 64 px."""
    width, height = size
    image = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(image)
    line = max(3, width // 32)
    draw.rectangle([0, 0, width - 1, height - 1], outline="black", width=max(2, line // 2))
    middle = round(width * INK_X)
    draw.rectangle([middle - line // 2, 0, middle - line // 2 + line - 1, height - 1], fill="black")
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path)
    return path


def make_chapter(folder: Path, pages: int = 2, size=(96, 64)) -> list[Path]:
    return [draw_line_page(folder / f"p{i:03d}.png", size) for i in range(1, pages + 1)]


def make_cbz(path: Path, members: dict[str, Path]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as archive:
        for name, file in members.items():
            archive.write(file, arcname=name)
    return path


def hint_unet(predicts: str = "lab", seed: int = 0):
    """A tiny untrained generator with hint inputs (1 + hint colour + mask): it drives every control
    of the studio, though its colours mean nothing."""
    import torch

    from mangacolor.hints.raster import hint_channels
    from mangacolor.models.components import UNetGenerator

    torch.manual_seed(seed)
    out_channels = 3 if predicts == "lab" else 2
    return UNetGenerator(
        **TINY, in_channels=1 + hint_channels(predicts), out_channels=out_channels
    ).eval()


class PaintBucket(torch.nn.Module):
    """A stand-in full-colour hint generator that does what a trained one should: each hint's colour
    (lightness included) fills the paper around it up to the ink; the rest keeps the page's
    lightness without colour. The browser test's colour judge must pass it."""

    multiple = 16
    predicts = "lab"
    hints = True
    out_channels = 3

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        lightness, color, mask = inputs[:, :1], inputs[:, 1:4], inputs[:, 4:5]
        paper = (lightness > 0.0).float()  # scaled L above 0: lighter than mid grey
        filled = mask * paper
        for _ in range(sum(inputs.shape[-2:])):
            near = F.avg_pool2d(filled, 3, 1, 1, count_include_pad=False)
            spread = F.avg_pool2d(color * filled, 3, 1, 1, count_include_pad=False)
            grown = (near > 0).float() * paper
            color = torch.where(filled > 0, color, spread / near.clamp_min(1e-6))
            if torch.equal(grown.clamp_min(filled), filled):
                break
            filled = grown.clamp_min(filled)
        automatic = torch.cat([lightness, torch.zeros_like(color[:, 1:])], dim=1)
        return torch.where(filled > 0, color, automatic)


@contextmanager
def running(app, port: int):
    """The app served by uvicorn on 127.0.0.1:port in a thread, stopped afterwards."""
    import uvicorn

    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the studio server did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


# ---- how the browser test judges the colours at a dot (scripts/make_studio_fixture.py too)
HINT_RGB = (0xC8, 0x3C, 0x3C)  # "#c83c3c", a clear red
HUE_WITHIN = 30.0  # degrees from the hint's hue, at the dot
CHROMA_SHARE = 0.5  # of the hint's chroma, at least, at the dot
PAPER_WITHIN = 3.0  # dE00 from the page, on the paper beyond the ink line


def hue_and_chroma(rgb) -> tuple[float, float]:
    """uint8 RGB triple -> (CIE Lab hue in degrees, chroma)."""
    import math

    import torch
    from kornia.color import rgb_to_lab

    _, a, b = (
        rgb_to_lab(torch.tensor(rgb, dtype=torch.float32).view(1, 3, 1, 1) / 255.0)
        .flatten()
        .tolist()
    )
    return math.degrees(math.atan2(b, a)) % 360, math.hypot(a, b)


def judge_dot(colored, page, dot: tuple[int, int], hint_rgb=HINT_RGB) -> dict[str, float]:
    """A page coloured with one dot of `hint_rgb` at `dot` in its left region (uint8 numpy
    (H, W, 3), with the B&W page) -> the hue error and chroma share at the dot, and the mean dE00
    of the paper beyond the ink line (the right region's middle) against the page."""
    import numpy as np
    import torch
    from kornia.color import rgb_to_lab

    from mangacolor.metrics import delta_e_2000

    x, y = dot
    hue, chroma = hue_and_chroma(
        colored[y - 2 : y + 3, x - 2 : x + 3].reshape(-1, 3).mean(0).round().tolist()
    )
    hint_hue, hint_chroma = hue_and_chroma(list(hint_rgb))
    height, width = page.shape[:2]
    beyond = (slice(height // 4, height * 3 // 4), slice(width * 5 // 8, width * 7 // 8))

    def lab(rgb):
        return rgb_to_lab(
            torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1)[None].float() / 255.0
        )

    paper = float(delta_e_2000(lab(colored[beyond]), lab(page[beyond])).mean())
    return {
        "hue_error": min(abs(hue - hint_hue), 360 - abs(hue - hint_hue)),
        "chroma_share": chroma / hint_chroma,
        "paper_delta_e": paper,
    }


def dot_is_obeyed(judged: dict[str, float]) -> bool:
    return (
        judged["hue_error"] <= HUE_WITHIN
        and judged["chroma_share"] >= CHROMA_SHARE
        and judged["paper_delta_e"] <= PAPER_WITHIN
    )
