"""Pages, generators and a running server for the studio's tests (tests/studio/)."""

from __future__ import annotations

import threading
import time
import zipfile
from contextlib import contextmanager
from pathlib import Path

from helpers.generators import TINY
from PIL import Image, ImageDraw

INK_X = 0.5  # the ink line runs down the middle of a line page: left region | right region


def draw_line_page(path: Path, size=(96, 64)) -> Path:
    """A B&W page: white paper, a black frame and one vertical ink line splitting it in two regions."""
    width, height = size
    image = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(image)
    draw.rectangle([1, 1, width - 2, height - 2], outline="black", width=2)
    middle = round(width * INK_X)
    draw.rectangle([middle - 1, 0, middle + 1, height - 1], fill="black")
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
    return UNetGenerator(**TINY, in_channels=1 + hint_channels(predicts), out_channels=out_channels).eval()


@contextmanager
def running(app, port: int):
    """The app served by uvicorn on 127.0.0.1:port in a thread, stopped afterwards."""
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
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
