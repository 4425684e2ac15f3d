"""PagesDataModule: folders of colour pages -> batches of (L, ab) on the device.

Workers only decode files (see `files.py`); the crop, resize, flip and RGB -> Lab happen on the
device in `on_after_batch_transfer`, batched. The training stream is endless and resumable: its
randomness is a pure function of (seed, rank, batch number), and the number of batches consumed
is saved in the checkpoint, so a resumed run sees exactly the pages and windows an
uninterrupted run would have seen.

With `input_styles` other than plain, each window is also made into a black-and-white page the way
it would be printed and scanned (`print_styles.py`), at the page's own resolution before the shrink:
the batch's "input" is what the networks see, "L" and "ab" stay the colour window's. Which style
and which draw are functions of (seed, rank, batch number) in training, and of the page alone in
validation, so resuming stays exact and every validation pass sees the same pages.

With `decode_on_device`, the workers of the training and the validation loader leave plain JPEG
pages encoded, and `to_lab_batch` decodes them on the device first (`device_decode.py`), giving
the same batches. Eval's `page_loader` (evaluation/) always decodes in workers.

With `hints` enabled, the batch also holds colour hints simulated from the colour window
(`hint_simulation.py`): "hint_color" and "hint_mask", the generator's hint inputs. Drawn from (seed,
rank, batch number) in training and from the page alone in validation, like the print styles.
`window_inputs.py` makes both the printed inputs and the hints from the batch's colour windows.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path

import lightning as L
import torch
from torch.utils.data import DataLoader

from mangacolor.color import rgb_to_scaled_lab
from mangacolor.data.device_decode import finish_on_device
from mangacolor.data.files import DEFAULT_MAX_PIXELS, UnreadableImage, printable
from mangacolor.data.hint_simulation import HintSimulationSettings
from mangacolor.data.page_folders import check_page_folders, list_pages, require_readable
from mangacolor.data.pages import (
    PageDataset,
    ShardedStreamSampler,
    collate_pages,
    shard,
)
from mangacolor.data.print_settings import PrintSettings, style_probabilities
from mangacolor.data.print_styles import choose_styles, device_index, page_style
from mangacolor.data.transforms import NativeWindows, PageCropper
from mangacolor.data.window_inputs import printed_inputs, simulated_hints
from mangacolor.runtime.seeding import (
    HINTS_STREAM,
    PRINT_STREAM,
    PRINT_STYLES_STREAM,
    WINDOWS_STREAM,
    step_seed,
)

log = logging.getLogger(__name__)


class PagesDataModule(L.LightningDataModule):
    def __init__(
        self,
        train_dir: str | None = None,
        val_dir: str | None = None,
        data_dir: str | None = None,
        val_fraction: float = 0.05,
        size: int = 512,
        window: int = 1024,
        hflip: bool = True,
        colourful_draws: int = 1,
        batch_size: int = 1,
        val_batch_size: int | None = None,
        val_limit: int | None = None,
        num_workers: int = 2,
        prefetch_factor: int = 4,
        pin_memory: bool = True,
        max_pixels: int = DEFAULT_MAX_PIXELS,
        decode_on_device: bool = False,
        input_styles: Mapping[str, float] | None = None,
        printing: Mapping | None = None,
        hints: Mapping | None = None,
        seed: int = 0,
    ):
        super().__init__()
        # Plain dicts and lists, not the config's DictConfig: checkpoints load with
        # weights_only=True.
        input_styles, printing, hints = (
            plain_data(input_styles),
            plain_data(printing),
            plain_data(hints),
        )
        # In checkpoints, so a generator knows the crop size it learnt at. The hint simulation's
        # settings stay out: Lightning merges these with the model's for the loggers, and the
        # model's `hints` (whether G takes hints) would clash with them; the run's config keeps
        # them.
        self.save_hyperparameters(ignore=["hints"])
        check_page_folders(train_dir, data_dir)
        if batch_size < 1:
            raise ValueError(f"data.batch_size must be >= 1, got {batch_size}")
        self.train_dir, self.val_dir, self.data_dir = train_dir, val_dir, data_dir
        self.val_fraction, self.val_limit = val_fraction, val_limit
        self.batch_size = batch_size
        self.val_batch_size = val_batch_size or batch_size
        self.num_workers, self.prefetch_factor = num_workers, prefetch_factor
        self.pin_memory = pin_memory
        self.max_pixels, self.seed = max_pixels, seed
        self.decode_on_device = decode_on_device
        self.cropper = PageCropper(size, window, hflip, colourful_draws)
        # None: plain only, the seed's input
        self.style_probabilities = style_probabilities(input_styles)
        self.print_settings = PrintSettings.from_config(printing)
        self.prints = any(style != "plain" for style in self.style_probabilities)
        self.hint_settings = HintSimulationSettings.from_config(hints)
        # validation pages' styles and draws hash their path from here
        self._val_root: str | None = None
        self._start_empty()

    def _start_empty(self) -> None:
        """The state a run builds up: no pages found yet, no batch consumed, no generator made."""
        self.train_paths: list[Path] = []
        self.val_paths: list[Path] = []
        self.train_batches_consumed = 0
        self.unreadable: dict[str, str] = {}  # path -> reason, each logged once
        self._generator: torch.Generator | None = None
        self._stream_generators: dict[int, torch.Generator] = {}  # training's print and hints
        self._substitutes: PageDataset | None = None  # decode_on_device: replaces damaged JPEGs

    # ---- files -------------------------------------------------------------------------
    def setup(self, stage: str | None = None) -> None:
        if self.train_paths or self.val_paths:
            return
        unlisted: dict[str, str] = {}  # directories named x.jpg, pipes, symlinks leaving the folder
        self.train_paths, self.val_paths = list_pages(
            self.train_dir, self.val_dir, self.data_dir, self.val_fraction, unlisted
        )
        self._val_root = self.data_dir or self.val_dir
        self.note_unreadable(list(unlisted.items()))
        if self.val_limit:
            self.val_paths = self.val_paths[: self.val_limit]
        where = self.data_dir or self.train_dir
        if stage in (None, "fit"):
            require_readable(self.train_paths, where, self.max_pixels)
        log.info(
            "pages: %d for training, %d for validation", len(self.train_paths), len(self.val_paths)
        )

    def _rank_and_world(self) -> tuple[int, int]:
        trainer = self.trainer
        return (trainer.global_rank, trainer.world_size) if trainer is not None else (0, 1)

    def _loader(self, dataset, sampler, batch_size: int) -> DataLoader:
        workers = self.num_workers
        return DataLoader(
            dataset,
            batch_size=batch_size,
            sampler=sampler,
            num_workers=workers,
            collate_fn=collate_pages,
            pin_memory=self.pin_memory and torch.cuda.is_available(),
            persistent_workers=workers > 0,
            prefetch_factor=self.prefetch_factor if workers > 0 else None,
            # Own generator: creating a loader iterator must not consume the global RNG, or a
            # resumed run would drift from an uninterrupted one.
            generator=torch.Generator().manual_seed(self.seed),
        )

    def train_dataloader(self) -> DataLoader:
        rank, world = self._rank_and_world()
        sampler = ShardedStreamSampler(
            len(self.train_paths),
            self.seed,
            rank,
            world,
            start=self.train_batches_consumed * self.batch_size,
        )
        dataset = PageDataset(
            self.train_paths,
            replace_unreadable=True,
            max_pixels=self.max_pixels,
            leave_jpegs_encoded=self.decode_on_device,
        )
        return self._loader(dataset, sampler, self.batch_size)

    def val_dataloader(self) -> DataLoader | list:
        if not self.val_paths:
            return []
        rank, world = self._rank_and_world()
        if len(self.val_paths) < world:
            # A rank with no validation page would skip validation while the others wait for it.
            raise ValueError(
                f"{len(self.val_paths)} validation pages for {world} processes: give each at least "
                f"one (more pages in data.val_dir, or a larger data.val_limit)"
            )
        dataset = PageDataset(
            self.val_paths,
            replace_unreadable=False,
            max_pixels=self.max_pixels,
            leave_jpegs_encoded=self.decode_on_device,
        )
        return self._loader(
            dataset, shard(range(len(self.val_paths)), rank, world), self.val_batch_size
        )

    # ---- device side -------------------------------------------------------------------
    def _batch_generator(self, device: torch.device, batch_number: int) -> torch.Generator:
        if self._generator is None or self._generator.device != device:
            self._generator = torch.Generator(device=device)
        rank, _ = self._rank_and_world()
        return self._generator.manual_seed(step_seed(self.seed, rank, batch_number, WINDOWS_STREAM))

    def page_key(self, path: str) -> str:
        """What a validation page's style and draw are hashed from: its path within its folder, so
        they stay the page's own wherever the folder is and whichever rank reads it."""
        if self._val_root is not None:
            try:
                return Path(path).relative_to(self._val_root).as_posix()
            except ValueError:
                pass
        return Path(path).as_posix()

    def input_styles_for(self, paths: Sequence[str], train: bool, batch_number: int) -> list[str]:
        """Each window's input style: drawn from (seed, rank, batch number) in training, the page's
        own in validation."""
        if not self.prints:
            return ["plain"] * len(paths)
        if not train:
            return [page_style(self.style_probabilities, self.page_key(path)) for path in paths]
        rank, _ = self._rank_and_world()
        generator = torch.Generator().manual_seed(
            step_seed(self.seed, rank, batch_number, PRINT_STYLES_STREAM)
        )
        return choose_styles(self.style_probabilities, len(paths), generator)

    def _train_generator(
        self, device: torch.device, batch_number: int, stream: int
    ) -> torch.Generator:
        """The generator of a training batch's print or hint `stream` on `device`, seeded from
        (seed, rank, batch number); each stream keeps its own, made again only for a new device."""
        generator = self._stream_generators.get(stream)
        if generator is None or generator.device != device:
            generator = self._stream_generators[stream] = torch.Generator(device=device)
        rank, _ = self._rank_and_world()
        return generator.manual_seed(step_seed(self.seed, rank, batch_number, stream))

    def note_unreadable(self, pages: list[tuple[str, str]]) -> None:
        for path, reason in pages:
            if path not in self.unreadable:
                self.unreadable[path] = reason
                log.warning("skipped unreadable page %s: %s", printable(path), reason)

    def to_lab_batch(self, batch: dict, train: bool, batch_number: int = 0) -> dict:
        """Padded uint8 pages on the device -> windows scaled to [-1, 1]: {"L" (B, 1, S, S), "ab"
        (B, 2, S, S) of the colour window; "input" (B, 1, S, S), the page the networks see, scaled
        like L (L itself for plain); "style": B style names; "paths"}; with data.hints enabled also
        "hint_color" (B, C, S, S) and "hint_mask" (B, 1, S, S), the generator's hint inputs.

        JPEG pages the workers left encoded (decode_on_device) are decoded here first, so that
        whoever moves a batch to the device and calls this (Lightning, mangacolor-bench) gets them.
        """
        batch = self.decode_pending_pages(batch, train)
        pages, paths = batch["pages"], batch["paths"]
        if pages.shape[0] == 0:  # every page of this batch was unreadable
            empty = {"L": None, "ab": None, "input": None, "style": [], "paths": []}
            return (
                {**empty, "hint_color": None, "hint_mask": None}
                if self.hint_settings.enabled
                else empty
            )
        generator = self._batch_generator(pages.device, batch_number) if train else None
        sizes = batch["sizes"].to(pages.device)
        styles = self.input_styles_for(paths, train, batch_number)
        if not self.prints:  # the seed's path, unchanged
            rgb = self.cropper(pages, sizes, generator, train=train)
            lightness, ab = rgb_to_scaled_lab(rgb)
            out = {"L": lightness, "ab": ab, "input": lightness, "style": styles, "paths": paths}
            return self._with_hints(out, rgb, sizes, pages.shape, train, batch_number)
        windows = self.cropper.native(pages, sizes, generator, train=train)
        rgb = windows.shrink(windows.rgb).clamp_(0.0, 1.0)
        lightness, ab = rgb_to_scaled_lab(rgb)
        printed = [i for i, style in enumerate(styles) if style != "plain"]
        inputs = lightness
        if printed:
            index = device_index(printed, pages.device)
            generator = (
                self._train_generator(windows.rgb.device, batch_number, PRINT_STREAM)
                if train
                else None
            )
            shrunk = printed_inputs(
                windows,
                sizes,
                printed,
                index,
                styles,
                self.print_settings,
                pages.shape,
                generator,
                paths,
                self.page_key,
            )
            inputs = lightness.index_copy(0, index, shrunk.clamp_(-1.0, 1.0))
        out = {"L": lightness, "ab": ab, "input": inputs, "style": styles, "paths": paths}
        return self._with_hints(out, rgb, sizes, pages.shape, train, batch_number, windows)

    def _with_hints(
        self,
        out: dict,
        rgb: torch.Tensor,
        sizes: torch.Tensor,
        padded_shape: torch.Size,
        train: bool,
        batch_number: int,
        windows: NativeWindows | None = None,
    ) -> dict:
        """`out` with the hints simulated from its colour windows `rgb` where data.hints is
        enabled: drawn on the `windows` at their pages' own resolution where the batch has them
        (the printed path), else on `rgb` at the training size."""
        settings = self.hint_settings
        if not settings.enabled:
            return out
        generator = self._train_generator(rgb.device, batch_number, HINTS_STREAM) if train else None
        color, mask = simulated_hints(
            out,
            rgb,
            sizes,
            padded_shape,
            settings,
            self.cropper.size,
            self.cropper.window,
            self.print_settings.scan_short_side,
            generator,
            self.page_key,
            windows,
        )
        return {**out, "hint_color": color, "hint_mask": mask}

    def decode_pending_pages(self, batch: dict, train: bool = False) -> dict:
        """The batch with its still-encoded JPEG pages decoded on its device. The unreadable ones
        are reported like a worker's and, in training, replaced as a worker replaces them, so a
        training batch never shrinks or empties (under DDP a rank without a batch would leave the
        others waiting); in validation they are dropped."""
        batch, unreadable = finish_on_device(
            batch, self.max_pixels, self._substitute_page if train else None
        )
        self.note_unreadable(unreadable)
        return batch

    def _substitute_page(self, unreadable: UnreadableImage) -> tuple[str, torch.Tensor]:
        """The next readable training page after an unreadable one, decoded on the CPU by the
        workers' own replacement (`PageDataset(replace_unreadable=True)`). Rare: a JPEG damaged past
        its header."""
        self.note_unreadable([(unreadable.path, unreadable.reason)])
        if self._substitutes is None:  # kept: it remembers the pages it found unreadable
            self._substitutes = PageDataset(
                self.train_paths, replace_unreadable=True, max_pixels=self.max_pixels
            )
        paths = self._substitutes.paths
        start = paths.index(unreadable.path) if unreadable.path in paths else -1
        item = self._substitutes[(start + 1) % len(paths)]
        self.note_unreadable(item["unreadable"])
        return item["path"], item["image"]

    def on_after_batch_transfer(self, batch: dict, dataloader_idx: int) -> dict:
        self.note_unreadable(batch["unreadable"])
        training = self.trainer is not None and self.trainer.training
        if training:
            self.train_batches_consumed += 1
        return self.to_lab_batch(batch, train=training, batch_number=self.train_batches_consumed)

    def state_dict(self) -> dict:
        return {
            "train_batches_consumed": self.train_batches_consumed,
            "bad_files": dict(self.unreadable),
        }

    def load_state_dict(self, state_dict: dict) -> None:
        self.train_batches_consumed = int(state_dict.get("train_batches_consumed", 0))
        self.unreadable = dict(state_dict.get("bad_files", {}))


def plain_data(value):
    """A (nested) mapping or list, such as a config node, as plain dicts and lists."""
    if isinstance(value, Mapping):
        return {str(key): plain_data(item) for key, item in value.items()}
    if isinstance(value, Sequence) and not isinstance(value, (str, bytes)):
        return [plain_data(item) for item in value]
    return value
