#!/usr/bin/env python3
"""The studio in a real browser (headless chromium, Selenium): edit-to-preview time, a screenshot.

    PYTHONPATH=src .venv/bin/python scripts/studio_browser.py
        [--ckpt generator.pt | --architecture demo|seed] [--page data/demo/bw/....jpg]
        [--width 1200 --height 800] [--dots 8] [--screenshot docs/images/studio.png]

Edit-to-preview time is measured in the page itself, from the click that places a dot to the new
preview's pixels drawn (`window.studio.lastLatencyMs`), over `--dots` dots placed one at a time,
each waited for. It depends on the network's architecture and the page's size, not on its weights:
without `--ckpt`, an untrained generator of the demo's or the seed's architecture (with hint inputs)
stands in. The page is `--page` fitted into width x height on white.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "src"), str(REPO / "tests")]

from helpers.studio import running  # noqa: E402
from PIL import Image  # noqa: E402

from mangacolor.hints.raster import hint_channels  # noqa: E402
from mangacolor.inference.generator_file import export_generator  # noqa: E402
from mangacolor.models.components import UNetGenerator  # noqa: E402
from mangacolor.studio.app import create_app  # noqa: E402
from mangacolor.studio.server import build_studio, free_port  # noqa: E402
from mangacolor.studio.settings import StudioSettings  # noqa: E402

DEMO_PAGE = REPO / "data" / "demo" / "bw" / "animals_cartoon_squirrel_mike_sm1_0c5e40.jpg"
# (generator config, what it predicts, its training size): conf/experiment/demo.yaml, the seed's
ARCHITECTURES = {
    "demo": (
        dict(depth=6, width=16, max_width=128, dropout_blocks=2, upsample="resize"),
        "lab",
        64,
    ),
    "seed": (dict(depth=8, width=64, max_width=512), "ab", 256),
}
DOTS = [
    (0.30, 0.40, "#8a8a8a"),
    (0.55, 0.35, "#8a5a2b"),
    (0.45, 0.25, "#3a5fcd"),
    (0.70, 0.60, "#d9a066"),
    (0.25, 0.70, "#6a9f4a"),
    (0.60, 0.80, "#c83c3c"),
    (0.80, 0.30, "#e0c060"),
    (0.40, 0.55, "#7a4a8a"),
]


def stand_in(architecture: str, folder: Path) -> Path:
    config, predicts, training_size = ARCHITECTURES[architecture]
    out_channels = 3 if predicts == "lab" else 2
    generator = UNetGenerator(
        **config, in_channels=1 + hint_channels(predicts), out_channels=out_channels
    )
    return export_generator(
        generator.eval(), config, folder / f"{architecture}.pt", training_size=training_size
    )


def fitted_page(source: Path, width: int, height: int, target: Path) -> Path:
    page = Image.open(source).convert("RGB")
    scale = min(width / page.width, height / page.height)
    page = page.resize(
        (round(page.width * scale), round(page.height * scale)), Image.Resampling.LANCZOS
    )
    canvas = Image.new("RGB", (width, height), "white")
    canvas.paste(page, ((width - page.width) // 2, (height - page.height) // 2))
    canvas.save(target)
    return target


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ckpt", type=Path)
    parser.add_argument("--architecture", choices=sorted(ARCHITECTURES), default="demo")
    parser.add_argument("--page", type=Path, default=DEMO_PAGE)
    parser.add_argument("--width", type=int, default=1200)
    parser.add_argument("--height", type=int, default=800)
    parser.add_argument("--dots", type=int, default=8)
    parser.add_argument("--screenshot", type=Path)
    args = parser.parse_args()

    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    with tempfile.TemporaryDirectory(prefix="studio-browser-") as folder:
        folder = Path(folder)
        ckpt = args.ckpt or stand_in(args.architecture, folder)
        fitted_page(
            args.page,
            args.width,
            args.height,
            (folder / "chapter").mkdir() or folder / "chapter" / "page.png",
        )
        port = free_port("127.0.0.1")
        studio = build_studio(StudioSettings(ckpt, folder / "out", folder / "chapter", port=port))
        options = webdriver.ChromeOptions()
        options.binary_location = "/usr/bin/chromium"
        for argument in (
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--window-size=1500,1000",
            "--force-device-scale-factor=1",
        ):
            options.add_argument(argument)
        with running(create_app(studio), port) as base:
            driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
            try:
                driver.get(f"{base}/?token={studio.token}")

                def idle(d) -> bool:
                    return d.execute_script(
                        "return !!(window.studio && window.studio.idle && window.studio.idle())"
                    )

                WebDriverWait(driver, 300, 0.02).until(idle)
                canvas = driver.find_element(By.ID, "hint-canvas")
                width, height = canvas.size["width"], canvas.size["height"]
                times = []
                for number in range(args.dots):
                    x, y, color = DOTS[number % len(DOTS)]
                    driver.execute_script(
                        "const s = document.getElementById('size'); s.value = 12;"
                        " s.dispatchEvent(new Event('input'));"
                    )
                    hex_field = driver.find_element(By.ID, "hex")
                    hex_field.clear()
                    hex_field.send_keys(color, "\n")
                    ActionChains(driver).move_to_element_with_offset(
                        canvas, round((x - 0.5) * width), round((y - 0.5) * height)
                    ).click().perform()
                    WebDriverWait(driver, 300, 0.02).until(idle)
                    times.append(driver.execute_script("return window.studio.lastLatencyMs"))
                what = (
                    args.ckpt.name
                    if args.ckpt
                    else f"an untrained {args.architecture}-architecture hint generator"
                )
                print(
                    f"edit to preview, {args.width}x{args.height} page shown {width}x{height}, "
                    f"{what}: median {statistics.median(times):.0f} ms, min {min(times):.0f}, "
                    f"max {max(times):.0f} "
                    f"over {len(times)} dots"
                )
                if args.screenshot:
                    driver.execute_script("document.getElementById('palette-name').value = 'body';")
                    driver.find_element(By.ID, "palette-add").click()
                    WebDriverWait(driver, 30).until(
                        lambda d: (folder / "out" / "palette.json").exists()
                    )
                    driver.execute_script("window.studio.size = 12;")
                    args.screenshot.parent.mkdir(parents=True, exist_ok=True)
                    driver.save_screenshot(str(args.screenshot))
                    # 256 colours (octree, no dither): a third of the size, swatches' colours kept
                    shot = Image.open(args.screenshot).convert("RGB")
                    shot.quantize(256, Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE).save(
                        args.screenshot, optimize=True
                    )
                    print(f"wrote {args.screenshot}")
            finally:
                driver.quit()


if __name__ == "__main__":
    main()
