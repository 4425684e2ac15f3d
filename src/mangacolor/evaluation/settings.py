"""mangacolor-eval's settings, checked at start, with the training's crop found beside the
checkpoint.

In `crop` mode the images are scored as validation scores them: the centre square window of
side min(window, height, width), resized to size x size. Left unset, size and window are the
training run's (`RUN/.hydra/config.yaml`, which Hydra writes beside `RUN/checkpoints/`), so an
evaluation compares like with like without the user retyping them. `page` mode scores what
mangacolor-colorize would write for each whole page: the generator works at `short_side` pixels
on the page's shorter side (by default the size it was trained at, as colourising does), and its
colours are composed with the page at full resolution as `compose` (and `descreen`) say, exactly
as mangacolor-colorize's settings of the same names (conf/colorize.yaml).
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from mangacolor.data.transforms import check_window
from mangacolor.evaluation.hint_baselines import BUCKET_TOLERANCE
from mangacolor.evaluation.scoring import RANKING_NAMES
from mangacolor.inference.compose import AUTO, check_composition
from mangacolor.inference.guided_upsample import UPSAMPLE_MODES
from mangacolor.runtime.config_errors import is_number, require
from mangacolor.runtime.devices import resolve_device, resolve_precision
from mangacolor.styles import STYLES

log = logging.getLogger(__name__)

MODES = ("crop", "page")


# Where the evaluation reads and writes: settings, but not recorded in metrics.json's "settings"
# (which names the checkpoint and the test folder in fields of its own).
NOT_RECORDED = {"recorded": False}


@dataclass(frozen=True)
class EvalSettings:
    ckpt_path: Path = field(metadata=NOT_RECORDED)
    test_dir: Path = field(metadata=NOT_RECORDED)
    train_dir: Path | None = field(metadata=NOT_RECORDED)  # None: no mean-ab baseline
    run_dir: Path = field(metadata=NOT_RECORDED)  # the output folder (paths.run_dir)
    mode: str  # crop | page
    size: int | None  # crop side the generator sees (crop mode, and the mean-ab baseline)
    window: int | None  # square window taken from the page before resizing to size
    batch_size: int
    num_workers: int
    max_pixels: int
    limit: int | None  # only the first N files (sorted by path; unreadable ones count)
    device: str  # resolved: cpu, cuda, cuda:1
    precision: str  # resolved: 32-true | bf16-mixed | 16-mixed
    rank_by: str  # metric that orders the best / worst grids
    grid_images: int  # k images in each of the best and worst grids
    grid_side: int  # page mode: each grid cell fits the page in this square
    short_side: (
        int | None
    )  # page mode: the working resolution's shorter side, as mangacolor-colorize's
    mean_ab_limit: int | None  # training pages read for the mean-ab baseline
    progress: bool
    tensorboard: bool
    compose: str = AUTO  # page mode: how the colour meets the page, as mangacolor-colorize's
    descreen: int = (
        0  # page mode: screentone period smoothed into tone first, as mangacolor-colorize's
    )
    chroma: float = 1.0  # page mode: colour strength, as mangacolor-colorize's
    input_style: str = (
        "plain"  # plain: the page's own L | screentone, lines, flat: the page printed in B&W first
    )
    printing: dict | None = (
        None  # the print synthesis settings (the training run's data.printing, else defaults)
    )
    hints: tuple[int, ...] | None = (
        None  # page mode: the hint counts swept (ascending); None: no sweep
    )
    bucket_tolerance: float = BUCKET_TOLERANCE  # the paint-bucket baseline's tolerance, CIE L units
    upsample: str = (
        "bilinear"  # page mode: how the prediction is enlarged, as PageColorizer's upsample
    )

    def as_dict(self) -> dict[str, Any]:
        """The settings metrics.json records."""
        recorded = {item.name for item in fields(self) if item.metadata.get("recorded", True)}
        return {key: value for key, value in asdict(self).items() if key in recorded}

    @classmethod
    def from_config(cls, cfg: Any) -> EvalSettings:
        """From the composed config (`ckpt_path`, `data.*`, `eval.*`, `paths.run_dir`, the precision
        group), checked; size and window from the training run when unset. What depends on the
        generator (crop against its multiple, page mode's default working size) is settled by
        `for_generator` once it is loaded."""
        return build_settings(cfg)

    def for_generator(self, multiple: int, training_size: int | None = None) -> EvalSettings:
        """These settings for the loaded generator (`generator.multiple`, `.training_size`): the
        crop checked against its multiple, page mode's working size chosen as
        mangacolor-colorize's."""
        if self.mode == "crop":
            check_crop(self.size, self.window, multiple, "in crop mode")
            return self
        return replace(self, short_side=page_short_side(self.short_side, training_size, multiple))


def training_config_path(ckpt_path: Path) -> Path | None:
    """RUN/.hydra/config.yaml for RUN/checkpoints/x.ckpt (or a checkpoint directly in RUN)."""
    for folder in (ckpt_path.parent.parent, ckpt_path.parent):
        candidate = folder / ".hydra" / "config.yaml"
        if candidate.is_file():
            return candidate
    return None


def training_crop(ckpt_path: Path) -> tuple[int | None, int | None, Path | None]:
    """(data.size, data.window) of the run that wrote the checkpoint, when its config is there."""
    found = training_config_path(ckpt_path)
    if found is None:
        return None, None, None
    try:
        data = OmegaConf.load(found).data
        return int(data.size), int(data.window), found
    except Exception as error:  # noqa: BLE001 - an unreadable config only loses the default
        log.warning("could not read data.size / data.window from %s: %s", found, error)
        return None, None, None


def check_crop(size: int | None, window: int | None, multiple: int, why: str) -> None:
    require(
        size is not None and window is not None,
        f"data.size and data.window are needed {why}, and no training config was found beside the "
        "checkpoint (RUN/.hydra/config.yaml): set them to the training values",
    )
    require(size > 0, f"data.size must be positive, got {size}")
    check_window(size, window)
    require(
        size % multiple == 0,
        f"data.size ({size}) must be a multiple of the generator's 2**depth ({multiple})",
    )


def check_options(eval_cfg: Any, batch_size: int, limit: int | None) -> None:
    require(
        eval_cfg.mode in MODES,
        f"eval.mode must be one of {', '.join(MODES)}, got {eval_cfg.mode!r}",
    )
    require(batch_size >= 1, f"data.batch_size must be >= 1, got {batch_size}")
    require(limit is None or limit >= 1, f"eval.limit must be >= 1 or null, got {limit}")
    require(
        eval_cfg.rank_by in RANKING_NAMES,
        f"eval.rank_by must be one of {', '.join(RANKING_NAMES)}, got {eval_cfg.rank_by!r}",
    )
    require(eval_cfg.grid_images >= 0, f"eval.grid_images must be >= 0, got {eval_cfg.grid_images}")
    require(eval_cfg.grid_side >= 8, f"eval.grid_side must be >= 8, got {eval_cfg.grid_side}")
    short_side = eval_cfg.get("short_side")
    require(
        short_side is None or (isinstance(short_side, int) and short_side >= 1),
        f"eval.short_side must be a positive whole number of pixels or null, got {short_side!r}",
    )
    input_style = eval_cfg.get("input_style", "plain")
    require(
        input_style in STYLES,
        f"eval.input_style must be one of {', '.join(STYLES)}, got {input_style!r}",
    )
    check_composition(
        "eval.",
        eval_cfg.get("compose", AUTO),
        eval_cfg.get("descreen", 0),
        eval_cfg.get("chroma", 1.0),
    )
    upsample = eval_cfg.get("upsample", "bilinear")
    require(
        upsample in UPSAMPLE_MODES,
        f"eval.upsample must be one of {', '.join(UPSAMPLE_MODES)}, got {upsample!r}",
    )
    tolerance = eval_cfg.get("bucket_tolerance", BUCKET_TOLERANCE)
    require(
        is_number(tolerance) and tolerance >= 0,
        f"eval.bucket_tolerance must be a number of CIE L units >= 0, got {tolerance!r}",
    )


def hint_counts(eval_cfg: Any) -> tuple[int, ...] | None:
    """eval.hints as the ascending counts to sweep, or None (no sweep), checked: whole numbers >= 0,
    page mode only (the hints are placed on whole pages, in their own pixels)."""
    counts = eval_cfg.get("hints")
    if counts is None:
        return None
    listed = OmegaConf.to_container(counts) if OmegaConf.is_config(counts) else counts
    require(
        isinstance(listed, (list, tuple))
        and len(listed) > 0
        and all(is_number(count, whole=True) and count >= 0 for count in listed),
        f"eval.hints must be null or a list of hint counts (whole numbers >= 0), e.g. "
        f"[0,1,2,5,10,20,50], got {listed!r}",
    )
    require(
        eval_cfg.mode == "page",
        "eval.hints: the hint sweep scores whole pages only: add eval.mode=page",
    )
    return tuple(sorted(set(int(count) for count in listed)))


def check_inputs(settings: EvalSettings) -> None:
    """The checkpoint and the folders exist: checked before the output folder is claimed or a model
    loaded."""
    require(
        settings.ckpt_path.is_file(), f"ckpt_path: checkpoint file not found: {settings.ckpt_path}"
    )
    require(settings.test_dir.is_dir(), f"data.test_dir: folder not found: {settings.test_dir}")
    if settings.train_dir is not None:
        require(
            settings.train_dir.is_dir(), f"data.train_dir: folder not found: {settings.train_dir}"
        )


def page_short_side(requested: int | None, training_size: int | None, multiple: int) -> int:
    """Page mode's working resolution: as asked, else mangacolor-colorize's default (the training
    size, or the generator's multiple when the checkpoint does not record it)."""
    return int(requested or training_size or multiple)


def build_settings(cfg: Any) -> EvalSettings:
    """EvalSettings from the composed config, checked; crop from the run if unset
    (`EvalSettings.from_config`)."""
    data, options = cfg.data, cfg.eval
    ckpt_path = Path(str(cfg.ckpt_path))
    train_dir = data.get("train_dir")
    device = resolve_device(options.device)
    # The precision group writes trainer.precision, as in training.
    precision = resolve_precision(
        OmegaConf.select(cfg, "trainer.precision", default="auto"), device
    )
    limit = options.get("limit")
    check_options(options, data.batch_size, limit)
    size, window = data.get("size"), data.get("window")
    if size is None or window is None:
        run_size, run_window, found = training_crop(ckpt_path)
        if found is not None:
            log.info(
                "crop size %s, window %s from the training config %s", run_size, run_window, found
            )
        size = size if size is not None else run_size
        window = window if window is not None else run_window
    if (
        options.mode != "crop" and train_dir
    ):  # crop mode's check needs the generator: `for_generator`
        check_crop(size, window, 1, "for the mean-ab baseline (computed over training crops)")
    short_side = (
        options.get("short_side") if options.mode == "page" else None
    )  # None: chosen by for_generator
    return EvalSettings(
        ckpt_path=ckpt_path,
        test_dir=Path(str(data.test_dir)),
        train_dir=Path(str(train_dir)) if train_dir else None,
        run_dir=Path(str(cfg.paths.run_dir)),
        mode=options.mode,
        size=size,
        window=window,
        batch_size=int(data.batch_size),
        num_workers=int(data.num_workers),
        max_pixels=int(data.max_pixels),
        limit=limit,
        device=str(device),
        precision=precision,
        rank_by=options.rank_by,
        grid_images=int(options.grid_images),
        grid_side=int(options.grid_side),
        short_side=short_side,
        mean_ab_limit=options.get("mean_ab_limit"),
        progress=bool(options.progress),
        tensorboard=bool(options.tensorboard),
        compose=options.get("compose", AUTO),
        descreen=int(options.get("descreen", 0)),
        chroma=float(options.get("chroma", 1.0)),
        input_style=options.get("input_style", "plain"),
        printing=training_printing(ckpt_path),
        hints=hint_counts(options),
        bucket_tolerance=float(options.get("bucket_tolerance", BUCKET_TOLERANCE)),
        upsample=options.get("upsample", "bilinear"),
    )


def training_printing(ckpt_path: Path) -> dict | None:
    """The training run's `data.printing` (how its B&W inputs were printed), when its config is
    there: eval's B&W pages are then made as that run's were."""
    found = training_config_path(ckpt_path)
    if found is None:
        return None
    try:
        printing = OmegaConf.select(OmegaConf.load(found), "data.printing")
    except Exception as error:  # noqa: BLE001 - an unreadable config only loses the run's settings
        log.warning("could not read data.printing from %s: %s", found, error)
        return None
    return OmegaConf.to_container(printing) if printing is not None else None
