"""mangacolor-eval's hint sweep (issue 22, item 5): what a few hints are worth, page by page.

For each page and each count k of `eval.hints`, the page's k-hint set by the fixed rule
(`hint_sampling.hint_sets`, seeded by the page's path relative to the test folder) is written as a
hint file (`<eval dir>/hints/<k>/<page>.json`, what `mangacolor-colorize hints=<eval dir>/hints/<k>`
reads), and the page is coloured and scored with it by every method:

    model          the generator given the page's first k hints (k = 0: its automatic colouring);
                   every count of a page is one `PageColorizer` call (copies of the page's L, one
                   hint set each), so the copies share forward passes
    nearest_hint   each pixel its nearest hint's colour, lightness kept (a floor that floods paper)
    paint_bucket   each hint's colour flood-filled over the page's own lightness
                   (`eval.bucket_tolerance`);
                   filled once per page for the largest set and cut for each count (`BucketFill`)
    grey, bw       the flat baselines as eval scores them anyway (the page's true L without colour;
                   with a printed `eval.input_style` also the B&W page): the same at every count

The model and both baselines see the page the reader has: its true L on grey pages, the printed B&W
page otherwise (its own lightness kept, as colorize's `compose=lightness`). With no hint (k = 0, or
a page without a pixel of colour) both baselines are the flat page itself, and are scored as it.

Every metric of `scoring.METRICS` per (page, count, method), plus CIEDE2000 inside the hinted
squares (`delta_e_2000_hinted`: the mask of the k hints at the page's size, nothing pasted onto the
output) and on the ring (`delta_e_2000_ring`), on the page kind eval.input_style asks for: grey
pages at their own size, printed pages at reading scale ("<method>@reading", where screentone reads
as tone, as eval's summary reads them; there the hinted region is the shrunk pixels wholly inside a
hint, the ring those more than half ring). One scale each keeps the sweep's time down: scoring a
full page is most of its cost.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from mangacolor.color import lightness_preserving_rgb, rgb_to_scaled_lab, scaled_lab_to_rgb
from mangacolor.evaluation.hint_baselines import bucket_fill, nearest_hint_ab_counts
from mangacolor.evaluation.hint_sampling import hint_file_path, hint_sets, write_hint_sets
from mangacolor.evaluation.scoring import NEUTRAL_CHROMA, RING_REACH, Truth, score_shown
from mangacolor.evaluation.views import reading_scale
from mangacolor.hints.marks import PageHints
from mangacolor.inference.page_colorizer import PageColorizer
from mangacolor.metrics import colorfulness, neutral_ring

log = logging.getLogger(__name__)

HINT_METHODS = ("model", "nearest_hint", "paint_bucket")  # scored at every count
HINT_REGIONS = (
    "delta_e_2000_hinted",
    "delta_e_2000_ring",
)  # CIEDE2000 means over parts of the page
READING = "@reading"
_SCORED_TOGETHER = 8  # predictions scored in one batch: bounds memory on large pages


@dataclass(frozen=True)
class Shown:
    """One prediction as scored: the method, the hint count, RGB as written and its raw scaled
    ab."""

    method: str
    count: int | None  # None: a flat baseline, the same at every count
    rgb: torch.Tensor  # (1, 3, H, W) in [0, 1]
    ab: torch.Tensor  # (1, 2, H, W) scaled


def relative_name(path: str, root: Path) -> str:
    """A page's name for the rule and its hint file: its path relative to the test folder, "/"
    separators (the file name alone for a page outside it)."""
    try:
        return Path(path).relative_to(root).as_posix()
    except ValueError:
        return Path(path).name


class HintSweep:
    """Scores pages at every hint count (see the module) and keeps one row per (page, count)."""

    def __init__(
        self,
        colorizer: PageColorizer,
        counts: tuple[int, ...],
        tolerance: float,
        run_dir: Path,
        test_dir: Path,
        printed: bool,
    ):
        self.colorizer, self.counts, self.tolerance = colorizer, tuple(counts), tolerance
        self.run_dir, self.test_dir = run_dir, test_dir
        self.flat = ("grey", "bw") if printed else ("grey",)
        self.scale = READING if printed else ""
        self.input_page = "bw" if printed else "grey"  # what the baselines are with no hint
        self.rows: list[dict] = []
        self.seconds = 0.0
        self._written: dict[Path, str] = {}

    @property
    def methods(self) -> list[str]:
        """Every method scored, at the sweep's scale, as metrics.json names them."""
        return [name + self.scale for name in (*HINT_METHODS, *self.flat)]

    def score_pages(
        self, truth: Truth, inputs: torch.Tensor, paths: list[str]
    ) -> tuple[torch.Tensor, torch.Tensor] | None:
        """One group of same-size pages: their truth, the L the model sees (n, 1, H, W), their
        paths. Returns the model's automatic colouring of the group (raw ab (n, 2, H, W), RGB
        (n, 3, H, W)) when the counts include 0, for eval's summary to score instead of colouring
        every page once more; else None."""
        started = time.perf_counter()
        automatic = []
        for index, path in enumerate(paths):
            rows, shown = self._score_page(truth.image(index), inputs[index : index + 1], path)
            self.rows.extend(rows)
            automatic += [item for item in shown if item.method == "model" and item.count == 0]
        self.seconds += time.perf_counter() - started
        if not automatic:
            return None
        return torch.cat([item.ab for item in automatic]), torch.cat(
            [item.rgb for item in automatic]
        )

    def _score_page(
        self, truth: Truth, page: torch.Tensor, path: str
    ) -> tuple[list[dict], list[Shown]]:
        """The page's rows, one per count, and every prediction scored for them."""
        name = relative_name(path, self.test_dir)
        sets = hint_sets(truth.lab[0], name, self.counts)
        self._write(name, sets)
        shown = self._predictions(truth, page, sets)
        size = tuple(truth.rgb.shape[-2:])
        masks = {
            count: hints.raster(size, size, "ab", truth.rgb.device)[1]
            for count, hints in sets.items()
        }
        ring = neutral_ring(truth.lab, NEUTRAL_CHROMA, RING_REACH).float()
        scores = self._scores(truth, shown, masks, ring)
        scored_truth = Truth.from_rgb(reading_scale(truth.rgb)) if self.scale else truth
        common = {
            "path": path,
            f"truth_colourfulness{self.scale}": colorfulness(scored_truth.rgb).item(),
        }
        if self.scale:  # summarise reads the truth's colourfulness at page size too
            common["truth_colourfulness"] = colorfulness(truth.rgb).item()
        rows = []
        for count in self.counts:
            row = {**common, "hints": count, "hints_given": len(sets[count].marks)}
            for method in self.methods:
                base, scale = (
                    method.removesuffix(READING),
                    method[len(method.removesuffix(READING)) :],
                )
                key = (method, None) if base in self.flat else (method, count)
                if key not in scores:  # no hint: the baseline is the flat page itself
                    key = (self.input_page + scale, None)
                for metric, value in scores[key].items():
                    row[f"{method}/{metric}"] = value
            rows.append(row)
        return rows, shown

    def _write(self, name: str, sets: dict[int, PageHints]) -> None:
        """The page's hint files; two pages sharing one (a.png and a.jpg) get a warning, since
        colorize would give both the same file."""
        target = hint_file_path(self.run_dir, max(self.counts), name)
        if target in self._written:
            log.warning(
                "pages %s and %s share the hint file %s: it holds the first one's hints",
                self._written[target],
                name,
                target,
            )
            return
        self._written[target] = name
        write_hint_sets(self.run_dir, name, sets)

    def _predictions(
        self, truth: Truth, page: torch.Tensor, sets: dict[int, PageHints]
    ) -> list[Shown]:
        """Every prediction of the page: the model at each count, each baseline at each count
        that has hints, and the flat baselines once."""
        counts = self.counts
        colored = self.colorizer.color_lightness(
            [page] * len(counts), [sets[count] for count in counts]
        )
        shown = [
            Shown("model", count, item.rgb, item.ab)
            for count, item in zip(counts, colored, strict=True)
        ]
        zeros = torch.zeros_like(truth.ab)
        shown.append(Shown("grey", None, lightness_preserving_rgb(truth.lightness, zeros), zeros))
        if "bw" in self.flat:
            shown.append(Shown("bw", None, lightness_preserving_rgb(page, zeros), zeros))
        bare = shown[-1].rgb  # the page the baselines colour, without colour
        hinted = [count for count in counts if sets[count]]
        if not hinted:
            return shown
        nearest = nearest_hint_ab_counts(
            page, sets[hinted[-1]], [len(sets[c].marks) for c in hinted]
        )
        fill = bucket_fill(page, sets[hinted[-1]], self.tolerance)
        # First-wins makes a pixel's fill the same at every count that fills it, and composing is
        # per pixel: each count's bucket page is the largest set's, bare where that count has no
        # fill (one composition a page instead of one a count).
        filled_rgb = lightness_preserving_rgb(page, fill.ab())
        for count in hinted:
            given = len(sets[count].marks)
            ab = nearest[given]
            shown.append(Shown("nearest_hint", count, lightness_preserving_rgb(page, ab), ab))
            filled = (fill.owners_up_to(given) >= 0)[None, None]
            shown.append(
                Shown("paint_bucket", count, torch.where(filled, filled_rgb, bare), fill.ab(given))
            )
        return shown

    def _scores(
        self, truth: Truth, shown: list[Shown], masks: dict[int, torch.Tensor], ring: torch.Tensor
    ) -> dict[tuple[str, int | None], dict[str, float]]:
        """(method + scale, count) -> every metric at the sweep's scale."""
        empty = torch.zeros_like(ring)
        if self.scale:
            scored_truth = Truth.from_rgb(reading_scale(truth.rgb))
            ring = (reading_scale(ring) > 0.5).float()
        else:
            scored_truth = truth
        scores: dict[tuple[str, int | None], dict[str, float]] = {}
        for first in range(0, len(shown), _SCORED_TOGETHER):
            chunk = shown[first : first + _SCORED_TOGETHER]
            rgb = torch.cat([item.rgb for item in chunk])
            ab = torch.cat([item.ab for item in chunk])
            hinted = torch.cat(
                [masks[item.count] if item.count is not None else empty for item in chunk]
            )
            if (
                self.scale
            ):  # as eval scores every predictor at reading scale: the shrunk RGB back to Lab
                small = torch.cat(rgb_to_scaled_lab(reading_scale(rgb).clamp(0.0, 1.0)), dim=1)
                rgb, ab = scaled_lab_to_rgb(small[:, :1], small[:, 1:]), small[:, 1:]
                hinted = (reading_scale(hinted) >= 1.0 - 1e-6).float()
            regions = {"delta_e_2000_hinted": hinted, "delta_e_2000_ring": ring}
            columns = score_shown(scored_truth, rgb, ab, regions)  # the one page for all
            names = list(columns)
            values = torch.stack([columns[metric].float() for metric in names]).cpu().tolist()
            for position, item in enumerate(chunk):
                scores[(item.method + self.scale, item.count)] = {
                    metric: values[i][position] for i, metric in enumerate(names)
                }
        return scores
