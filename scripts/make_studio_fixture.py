#!/usr/bin/env python3
"""Make the studio's browser-test model: a tiny hint generator, trained briefly, under 1 MB, at
tests/fixtures/studio/hint_generator.pt (tests/studio/test_browser.py judges its colours once it
exists).

    PYTHONPATH=src .venv/bin/python scripts/make_studio_fixture.py [--iterations 600] [--force]

It trains `mangacolor-train +experiment=demo model.hints=true` with a smaller generator on the
bundled demo pages, then judges the model as the browser test does (a dot of #c83c3c left of an
ink line on a line page: the hue there within 30 degrees of the dot's, its chroma at least half,
the paper beyond the line within 3 dE00 of the page) and prints the verdict. It writes the fixture
only when the verdict is a pass (or with --force), so a committed fixture is one the test passes on.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "src"), str(REPO / "tests")]

import numpy as np  # noqa: E402
from helpers.studio import HINT_RGB, dot_is_obeyed, draw_line_page, judge_dot  # noqa: E402

from mangacolor.hints.marks import Dot, PageHints  # noqa: E402
from mangacolor.inference.generator_file import load_generator, takes_hints  # noqa: E402
from mangacolor.inference.page_colorizer import PageColorizer  # noqa: E402

FIXTURE = REPO / "tests" / "fixtures" / "studio" / "hint_generator.pt"
MAX_BYTES = 1 << 20
PAGE_SIZE = (256, 192)  # the browser test's page: width, height
# Small enough for the 1 MB limit, large enough to carry a dot's colour across a region.
TINY_RECIPE = [
    "model.generator.width=8",
    "model.generator.max_width=64",
    "model.discriminator.channels=[16,32,64]",
    "model.discriminator.stride1_channels=64",
]


def train(iterations: int, folder: Path, extra: list[str]) -> Path:
    command = [
        sys.executable,
        "-m",
        "mangacolor.commands.train",
        "+experiment=demo",
        "model.hints=true",
        *TINY_RECIPE,
        f"train.iterations={iterations}",
        f"paths.output_dir={folder}",
        "logger=none",
        *extra,
    ]
    print("running:", " ".join(command), flush=True)
    result = subprocess.run(command, cwd=REPO, env={"PYTHONPATH": str(REPO / "src"), **_env()})
    if result.returncode != 0:
        raise SystemExit(
            "make_studio_fixture: training failed (is hint training there yet? it needs "
            "model.hints=true in mangacolor-train, issue 22)"
        )
    found = sorted(folder.glob("runs/*/checkpoints/generator.pt"))
    if not found:
        raise SystemExit(f"make_studio_fixture: no generator.pt under {folder}/runs")
    return found[-1]


def _env() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}


def halved(generator_file: Path) -> Path:
    """A copy of `generator_file` with its floating-point weights stored as float16, beside it: half
    the bytes for the 1 MB limit. `load_generator` copies them into the float32 network, so the
    model runs as before with its weights rounded (the verdict is taken on this copy)."""
    import torch

    payload = torch.load(generator_file, map_location="cpu", weights_only=True)
    payload["state_dict"] = {
        key: value.half() if value.is_floating_point() else value
        for key, value in payload["state_dict"].items()
    }
    target = generator_file.with_name("generator_half.pt")
    torch.save(payload, target)
    return target


def judge(generator_file: Path) -> dict[str, float]:
    """The model's colouring of the browser test's page with one dot, judged as the test does."""
    import torch
    from PIL import Image

    generator, _ = load_generator(generator_file)
    if not takes_hints(generator):
        raise SystemExit(f"make_studio_fixture: {generator_file} takes no hints")
    with tempfile.TemporaryDirectory() as folder:
        page = np.asarray(
            Image.open(draw_line_page(Path(folder) / "page.png", PAGE_SIZE)).convert("RGB")
        )
    dot = (PAGE_SIZE[0] // 4, PAGE_SIZE[1] // 2)
    hints = PageHints((Dot(*dot, "#{:02x}{:02x}{:02x}".format(*HINT_RGB), 7),))
    short_side = generator.training_size or generator.multiple
    colorizer = PageColorizer(generator, short_side, precision="32-true")
    rgb = torch.from_numpy(page.copy()).permute(2, 0, 1)
    colored = colorizer.color([rgb], hints=[hints])[0].permute(1, 2, 0).numpy()
    return judge_dot(colored, page, dot)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--iterations", type=int, default=600)
    parser.add_argument(
        "--force", action="store_true", help="write the fixture even if the verdict fails"
    )
    parser.add_argument("--judge", type=Path, help="only judge this generator.pt (no training)")
    parser.add_argument("overrides", nargs="*", help="more mangacolor-train overrides")
    args = parser.parse_args()
    if args.judge:
        judged = judge(args.judge)
        print(f"{args.judge}: {judged} -> {'pass' if dot_is_obeyed(judged) else 'FAIL'}")
        return
    with tempfile.TemporaryDirectory(prefix="studio-fixture-") as folder:
        made = halved(train(args.iterations, Path(folder), args.overrides))
        size = made.stat().st_size
        judged = judge(made)
        verdict = dot_is_obeyed(judged)
        print(
            f"{made.name}: {size / 1024:.0f} KiB; at the dot and beyond the line: {judged} -> "
            f"{'pass' if verdict else 'FAIL'}"
        )
        if size >= MAX_BYTES:
            raise SystemExit(
                f"make_studio_fixture: {size} bytes, over the 1 MB a committed fixture may take"
            )
        if not verdict and not args.force:
            raise SystemExit(
                "make_studio_fixture: the model fails the browser test's colour check; train "
                "longer (--iterations) or pass --force; nothing written"
            )
        FIXTURE.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(made, FIXTURE)
    print(
        f"wrote {FIXTURE.relative_to(REPO)}: commit it; "
        "tests/studio/test_browser.py now judges its colours"
    )


if __name__ == "__main__":
    main()
