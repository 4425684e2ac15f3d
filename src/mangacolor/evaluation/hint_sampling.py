"""The hints mangacolor-eval gives each page: one fixed rule, written down before any score is seen.

The rule (issue 22, item 5), per page:
- candidates: every page pixel whose TRUE chroma, sqrt(a^2 + b^2) in CIE Lab, is at least
  MIN_CHROMA (10), and that lies at least BORDER (3) page pixels from every edge, so the whole
  square of HINT_SIZE around it lies on the page;
- positions: drawn uniformly among the candidates, one after another, a pixel already drawn
  drawn again is skipped (so positions are distinct), by Python's `random.Random` seeded with
  `page_seed(name)`: the first 8 bytes of the SHA-256 of the page's name (its path relative to
  the evaluated folder, with "/" separators), never Python's salted `hash()`;
- each hint is a Dot of HINT_SIZE (7) page pixels centred on its pixel (a whole coordinate is a
  pixel's centre, `mangacolor.hints.marks`), coloured the truth's mean over that 7 x 7 square, the
  mean taken in CIE Lab and shown as the nearest "#rrggbb" (sRGB, clipped to its gamut);
- the k-hint set of a page is the first k hints drawn, so the sets are nested (the 5 hints are
  among the 10); a page with fewer candidates than k gets all it has.
The draw depends only on the page's name and its true colours: a rerun, another machine or
another count list gives the same hints. `write_hint_sets` writes them as hint files
(`<eval dir>/hints/<k>/<page>.json`), so anyone can colour the same pages with the same hints
(`mangacolor-colorize ... hints=<eval dir>/hints/10`).
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterable
from pathlib import Path, PurePosixPath

import torch
import torch.nn.functional as F
from kornia.color import lab_to_rgb

from mangacolor.hints.marks import Dot, PageHints
from mangacolor.inference.hint_files import write_hint_file

MIN_CHROMA = 10.0  # CIE Lab chroma a hint's centre pixel must have in the truth
BORDER = 3  # page pixels a centre keeps from every edge: the 7 px square stays on the page
HINT_SIZE = 7  # the side of each hint's square, page pixels
HINTS_FOLDER = "hints"


def page_seed(name: str) -> int:
    """A page's seed from its name: stable across runs, machines and Python versions."""
    return int.from_bytes(hashlib.sha256(name.encode("utf-8")).digest()[:8], "big")


def candidate_pixels(true_lab: torch.Tensor) -> torch.Tensor:
    """True CIE Lab (3, H, W) -> the flat indices (row * W + column) of the pixels a hint may be
    centred on (see the module), ascending, on the CPU."""
    height, width = true_lab.shape[-2:]
    chroma = torch.hypot(true_lab[1].float(), true_lab[2].float())
    allowed = chroma >= MIN_CHROMA
    inner = torch.zeros_like(allowed)
    inner[BORDER : height - BORDER, BORDER : width - BORDER] = True
    return torch.nonzero((allowed & inner).flatten().cpu()).flatten()


def draw_positions(candidates: int, count: int, seed: int) -> list[int]:
    """The first min(count, candidates) distinct picks among `candidates`, uniform, in draw order.

    Drawn one at a time, repeats skipped, so the first k picks do not depend on `count`: the sets
    of a page are nested. (`random.sample` would not do: its method depends on the count.)
    """
    rng = random.Random(seed)
    wanted = min(count, candidates)
    picked: list[int] = []
    seen: set[int] = set()
    while len(picked) < wanted:
        index = rng.randrange(candidates)
        if index not in seen:
            seen.add(index)
            picked.append(index)
    return picked


def sample_page_hints(true_lab: torch.Tensor, name: str, count: int) -> PageHints:
    """A page's `count`-hint set by the rule (see the module).

    true_lab: the true page in CIE Lab (L in [0, 100]), (3, H, W) or (1, 3, H, W), any device.
    name: the page's name (its relative path, "/" separators), which seeds the draw.
    """
    lab = true_lab[0] if true_lab.dim() == 4 else true_lab
    lab = lab.float()
    width = lab.shape[-1]
    candidates = candidate_pixels(lab)
    picks = draw_positions(len(candidates), count, page_seed(name))
    if not picks:
        return PageHints()
    centres = candidates[torch.tensor(picks, dtype=torch.long)]
    rows, cols = (centres // width).tolist(), (centres % width).tolist()
    means = square_means(lab, rows, cols)
    colors = [lab_to_hex(mean) for mean in means]
    return PageHints(
        tuple(
            Dot(float(x), float(y), color, float(HINT_SIZE))
            for y, x, color in zip(rows, cols, colors)
        )
    )


def square_means(lab: torch.Tensor, rows: list[int], cols: list[int]) -> torch.Tensor:
    """Lab (3, H, W) -> (N, 3): the mean over the HINT_SIZE square centred on each (row, col)."""
    means = F.avg_pool2d(lab[None], HINT_SIZE, stride=1, padding=0)[0]  # (3, H - 6, W - 6)
    half = HINT_SIZE // 2
    index_rows = torch.tensor(rows, device=lab.device) - half
    index_cols = torch.tensor(cols, device=lab.device) - half
    return means[:, index_rows, index_cols].T.cpu()


def lab_to_hex(lab: torch.Tensor) -> str:
    """One CIE Lab colour (3,) -> the nearest sRGB "#rrggbb", clipped to the gamut."""
    rgb = lab_to_rgb(lab.float().view(1, 3, 1, 1), clip=True).flatten()
    red, green, blue = (int(v) for v in (rgb * 255.0).round().clamp(0, 255).tolist())
    return f"#{red:02x}{green:02x}{blue:02x}"


def hint_sets(true_lab: torch.Tensor, name: str, counts: Iterable[int]) -> dict[int, PageHints]:
    """Each count's hint set of one page, drawn once for the largest and cut: nested by design."""
    counts = sorted(set(counts))
    if not counts:
        return {}
    largest = sample_page_hints(true_lab, name, counts[-1])
    return {count: PageHints(largest.marks[:count]) for count in counts}


def hint_file_path(eval_dir: Path | str, count: int, relative_page: PurePosixPath | str) -> Path:
    """Where a page's `count`-hint set is written: <eval dir>/hints/<count>/<page>.json, the
    page's own extension replaced, as `hint_file_for` finds it when colouring the folder."""
    relative = PurePosixPath(relative_page)
    return Path(eval_dir) / HINTS_FOLDER / str(count) / relative.with_suffix(".json")


def write_hint_sets(
    eval_dir: Path | str, relative_page: PurePosixPath | str, sets: dict[int, PageHints]
) -> list[Path]:
    """Writes each count's set of one page as a hint file (see `hint_file_path`); count 0 is no
    hints at all, which needs no file (a page without one is coloured automatically)."""
    return [
        write_hint_file(hint_file_path(eval_dir, count, relative_page), hints)
        for count, hints in sorted(sets.items())
        if count > 0
    ]
