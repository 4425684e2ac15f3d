"""Every option the docs' tables list works as written there (issue 14).

The option tables of docs/colorize.md, docs/evaluation.md, docs/training.md and docs/benchmarks.md
are read here, and each option is given, exactly as written, with its documented default and each
documented value, to that command's real Hydra config (the same config name and the same path
quoting its console script uses). It must be accepted and land where the command reads it:
through `ColorizeSettings.from_config` for colorize, through eval's settings builder for eval, at
its config key after the command's own checks for train and bench. A row the parser cannot read
fails, so a newly documented option cannot slip past.

The tables' shape, for whoever edits the docs:
  | option | default | values | meaning |   one backticked key per row, as typed after the command;
                                            default: one backticked value, or `required`;
                                            values: every backticked value in the cell is tested
  | group | options | what it sets |        one backticked group (`+debug` where it needs the +);
                                            options: every backticked option is tested
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml
from helpers.cli import REPO, TINY, run_cli
from helpers.pages import make_pages
from hydra import compose, initialize_config_dir
from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import DictConfig, ListConfig, OmegaConf

from mangacolor.benchmark.settings import BenchSettings
from mangacolor.colorize.settings import ColorizeSettings
from mangacolor.commands import colorize as colorize_command
from mangacolor.commands import eval as eval_command
from mangacolor.evaluation.settings import EvalSettings
from mangacolor.inference.generator_file import export_generator
from mangacolor.models.components.unet import UNetGenerator
from mangacolor.runtime import overrides
from mangacolor.runtime.bundled import config_dir, register_resolvers
from mangacolor.runtime.config_errors import ConfigError
from mangacolor.training.checks import check_train_config

DOCS = REPO / "docs"
OPTION_HEADER = "| option | default | values | meaning |"
GROUP_HEADER = "| group | options | what it sets |"

# command -> (its docs page, its config name, the quoting its console script applies to argv)
COMMANDS = {
    "colorize": (
        "colorize.md",
        "colorize",
        lambda args: overrides.quote_path_overrides(args, colorize_command.PATH_KEYS),
    ),
    "eval": (
        "evaluation.md",
        "eval",
        lambda args: overrides.quote_path_overrides(args, eval_command.PATH_KEYS),
    ),
    "train": ("training.md", "train", list),
    "bench": ("benchmarks.md", "bench", list),
}
# The precision group writes trainer.precision; every other documented key is where it is typed.
CONFIG_PATH = {"precision": "trainer.precision"}


@dataclass(frozen=True)
class Option:
    command: str
    where: str  # page:line, for messages
    key: str  # as typed: `precision`, `data.size`, `+debug` (groups)
    default: str | None  # the documented default as written; None: required
    values: tuple[str, ...]  # every value to try, as written (the default first)
    group: bool = False


def split_row(line: str) -> list[str]:
    """The cells of a markdown table row; `\\|` inside a cell is a literal bar."""
    cells = re.split(r"(?<!\\)\|", line.strip())
    return [cell.strip().replace("\\|", "|") for cell in cells[1:-1]]


def backticked(cell: str) -> list[str]:
    return re.findall(r"`([^`]+)`", cell)


def read_tables(command: str, text: str, page: str) -> tuple[list[Option], list[str]]:
    """(options, problems): every row of the page's option and group tables, or why it cannot be
    read."""
    options, problems = [], []
    lines = text.splitlines()
    header = None
    for number, line in enumerate(lines, 1):
        where = f"docs/{page}:{number}"
        if not line.startswith("|"):
            header = None
            continue
        first = split_row(line)[0] if split_row(line) else ""
        if header is None:
            if first in ("option", "group"):
                if line.strip() not in (OPTION_HEADER, GROUP_HEADER):
                    problems.append(
                        f"{where}: an option table must start {OPTION_HEADER} or {GROUP_HEADER}, "
                        f"got {line!r}"
                    )
                    header = "unreadable"
                else:
                    header = first
            else:
                header = "other"  # some other table (metrics, experiments...)
            continue
        if header in ("other", "unreadable") or set(line.replace("|", "").strip()) <= set("-: "):
            continue
        cells = split_row(line)
        if len(cells) != (4 if header == "option" else 3):
            problems.append(
                f"{where}: expected {4 if header == 'option' else 3} cells, got {line!r}"
            )
            continue
        key = re.fullmatch(r"`(\+?[\w./-]+)`", cells[0])
        if not key:
            problems.append(f"{where}: the first cell must be one backticked key, got {cells[0]!r}")
            continue
        if header == "group":
            choices = backticked(cells[1])
            if not choices:
                problems.append(f"{where}: no backticked option in {cells[1]!r}")
                continue
            options.append(Option(command, where, key.group(1), None, tuple(choices), group=True))
            continue
        default_cell = cells[1]
        if default_cell == "required":
            default = None
        elif re.fullmatch(r"`[^`]+`", default_cell):
            default = default_cell[1:-1]
        else:
            problems.append(
                f"{where}: the default must be one backticked value or 'required', got "
                f"{default_cell!r}"
            )
            continue
        values = tuple(
            dict.fromkeys([*([default] if default is not None else []), *backticked(cells[2])])
        )
        if not values:
            problems.append(
                f"{where}: {key.group(1)} is required and names no example value to try"
            )
            continue
        options.append(Option(command, where, key.group(1), default, values))
    return options, problems


def documented() -> tuple[list[Option], list[str]]:
    options, problems = [], []
    for command, (page, _, _) in COMMANDS.items():
        found, wrong = read_tables(command, (DOCS / page).read_text(encoding="utf-8"), page)
        options += found
        problems += wrong
    return options, problems


OPTIONS, PROBLEMS = documented()
CASES = [(option, value) for option in OPTIONS for value in option.values]


def case_id(case) -> str:
    option, value = case if isinstance(case, tuple) else (case, None)
    return (
        f"{option.command}:{option.key}={value}"
        if value is not None
        else f"{option.command}:{option.key}"
    )


# ---- the parser itself ---------------------------------------------------------------------------
def test_every_table_row_of_the_docs_is_readable():
    assert not PROBLEMS, "\n".join(PROBLEMS)


def test_every_command_has_its_documented_options():
    counts = {command: sum(o.command == command for o in OPTIONS) for command in COMMANDS}
    assert all(count >= 10 for count in counts.values()), counts
    assert any(
        o.key == "precision" for o in OPTIONS if o.command == "colorize"
    )  # issue 14's option


def test_the_parser_refuses_rows_it_cannot_read():
    page = "\n".join(
        [
            OPTION_HEADER,
            "| --- | --- | --- | --- |",
            "| `size` | `null` | e.g. `512` | fine |",
            "| size | `null` | | no backticks round the key |",
            "| `tile` | 1024 | | the default is not backticked |",
            "| `ckpt_path` | required | a path | required but no example |",
            "| `a`, `b` | `1`, `2` | | two keys in one row |",
            "| `x` | `1` | | too | many |",
            "",
            "| option | default | meaning |",
            "| `y` | `1` | an old-style table |",
        ]
    )
    options, problems = read_tables("colorize", page, "x.md")
    assert [(o.key, o.values) for o in options] == [("size", ("null", "512"))]
    assert len(problems) == 6, problems


def test_every_colorize_config_key_is_documented():
    keys = {o.key for o in OPTIONS if o.command == "colorize"}
    raw = yaml.safe_load((config_dir() / "colorize.yaml").read_text())
    config_keys = {k for k in raw if k not in ("defaults", "hydra", "archive")} | {
        f"archive.{k}" for k in raw["archive"]
    }
    assert config_keys | {"precision"} == keys


# ---- composing each documented option ------------------------------------------------------------
def compose_command(command: str, args: list[str], hydra_config: bool = False) -> DictConfig:
    _, name, quote = COMMANDS[command]
    register_resolvers()
    with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
        return compose(name, overrides=quote(args), return_hydra_config=hydra_config)


def raw_value(cfg: DictConfig, dotted: str) -> Any:
    """The value at `dotted` as composed, interpolations left as written (`${data.size}`)."""
    node: Any = OmegaConf.to_container(cfg, resolve=False)
    for part in dotted.split("."):
        assert isinstance(node, dict) and part in node, f"{dotted} is not in the composed config"
        node = node[part]
    return node


def plain(value: Any) -> Any:
    if isinstance(value, (DictConfig, ListConfig)):
        return OmegaConf.to_container(value, resolve=False)
    if isinstance(value, tuple):  # a settings field holding a list as a tuple (eval.hints)
        return list(value)
    return str(value) if isinstance(value, Path) else value


def parsed(key: str, value: str) -> Any:
    """What Hydra makes of `key=value` typed on the command line."""
    return OverridesParser.create().parse_override(f"{key}={value}").value()


def needs_cuda(value: Any) -> bool:
    return (
        isinstance(value, str)
        and (value in ("cuda", "gpu") or value.startswith("cuda:"))
        and not torch.cuda.is_available()
    )


# Base arguments each command needs to compose, and where a key is read only in some mode.
COLORIZE_BASE = {"ckpt_path": "generator.pt", "input": "pages", "output": "coloured"}
# paths.run_dir stands for the folder Hydra makes for the console script
# (${hydra:runtime.output_dir}, unresolvable outside a Hydra run); the settings record it.
EVAL_BASE = {
    "ckpt_path": "run/checkpoints/last.ckpt",
    "data.test_dir": "held-out",
    "paths.run_dir": "eval",
}
EVAL_CONTEXT = {
    "eval.short_side": {"eval.mode": "page"},
    "eval.hints": {"eval.mode": "page"},
}  # page mode only
RUN_SIZE, RUN_WINDOW, MULTIPLE = 256, 512, 32
# eval's nulls are filled in: the crop from the training run's config, page mode's side from the
# training size
EVAL_NULLS = {"data.size": RUN_SIZE, "data.window": RUN_WINDOW, "eval.short_side": RUN_SIZE}
# eval's keys read from the config itself rather than through the settings builder
EVAL_FROM_CONFIG = ("ckpt_path", "data.test_dir", "data.train_dir", "eval.device", "precision")


@pytest.fixture
def training_run(tmp_path, monkeypatch) -> Path:
    """A run folder whose config gives eval its crop, as RUN/.hydra/config.yaml does; cwd beside
    it."""
    hydra_dir = tmp_path / "run" / ".hydra"
    hydra_dir.mkdir(parents=True)
    (hydra_dir / "config.yaml").write_text(f"data:\n  size: {RUN_SIZE}\n  window: {RUN_WINDOW}\n")
    monkeypatch.chdir(tmp_path)
    return tmp_path / "run"


def arguments(
    base: dict[str, str], key: str, value: str, context: dict[str, dict[str, str]] | None = None
) -> list[str]:
    args = {**base, **(context or {}).get(key, {})}
    args.pop(key, None)
    return [*(f"{k}={v}" for k, v in args.items()), f"{key}={value}"]


@pytest.mark.parametrize("option, value", CASES, ids=[case_id(c) for c in CASES])
def test_documented_option_is_accepted_and_lands_where_the_command_reads_it(
    option, value, training_run
):
    expected = parsed(option.key.lstrip("+"), value)
    if option.group:
        check_group(option, value)
    elif option.command == "colorize":
        check_colorize(option.key, value, expected)
    elif option.command == "eval":
        check_eval(option.key, value, expected)
    else:
        args = [f"{option.key}={value}"]
        cfg = compose_command(option.command, args)
        assert plain(raw_value(cfg, CONFIG_PATH.get(option.key, option.key))) == expected
        check_train_config(cfg)
        if option.command == "bench":
            BenchSettings.from_config(cfg)


def check_group(option: Option, value: str) -> None:
    cfg = compose_command(option.command, [f"{option.key}={value}"], hydra_config=True)
    group = option.key.lstrip("+")
    assert cfg.hydra.runtime.choices[group] == value
    if group == "precision":
        assert cfg.trainer.precision == value
    check_train_config(cfg)


def check_colorize(key: str, value: str, expected: Any) -> None:
    cfg = compose_command("colorize", arguments(COLORIZE_BASE, key, value))
    assert plain(raw_value(cfg, CONFIG_PATH.get(key, key))) == expected
    if needs_cuda(expected):
        with pytest.raises(ConfigError, match="no CUDA GPU"):
            ColorizeSettings.from_config(cfg)
        return
    settings = ColorizeSettings.from_config(cfg)
    if key.startswith("archive."):
        landed = getattr(settings.archive_limits, key.removeprefix("archive."))
    else:
        landed = getattr(settings, key)
    assert plain(landed) == expected


def check_eval(key: str, value: str, expected: Any) -> None:
    cfg = compose_command("eval", arguments(EVAL_BASE, key, value, EVAL_CONTEXT))
    assert plain(raw_value(cfg, CONFIG_PATH.get(key, key))) == expected
    # What mangacolor-eval builds: the settings from the config (the device and the precision
    # resolved there), then settled for the loaded generator.
    if needs_cuda(cfg.eval.device):
        with pytest.raises(ValueError, match="no CUDA GPU"):
            EvalSettings.from_config(cfg)
        return
    settings = EvalSettings.from_config(cfg).for_generator(MULTIPLE, RUN_SIZE)
    if key in EVAL_FROM_CONFIG:
        # Read from the config itself, checked above; the settings built from it all the same.
        return
    landed = getattr(settings, key.split(".")[-1])
    assert plain(landed) == (
        EVAL_NULLS.get(key) if expected is None and key in EVAL_NULLS else expected
    )


@functools.cache
def composed_defaults(command: str) -> DictConfig:
    base = {"colorize": COLORIZE_BASE, "eval": EVAL_BASE}.get(command, {})
    return compose_command(command, [f"{k}={v}" for k, v in base.items()])


@pytest.mark.parametrize("option", [o for o in OPTIONS if o.default is not None], ids=case_id)
def test_documented_default_is_the_configs_default(option):
    cfg = composed_defaults(option.command)
    assert plain(raw_value(cfg, CONFIG_PATH.get(option.key, option.key))) == parsed(
        option.key, option.default
    )


# ---- one real console-script call per command, with a documented option --------------------------
@pytest.fixture(scope="module")
def generator_file(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    config = {"depth": 4, "width": 8, "max_width": 16}
    return export_generator(
        UNetGenerator(**config),
        config,
        tmp_path_factory.mktemp("model") / "generator.pt",
        training_size=32,
    )


def test_colorize_console_script_takes_precision_as_documented(generator_file, tmp_path):
    pages, out = tmp_path / "my pages", tmp_path / "coloured"
    make_pages(pages, 2, (40, 48))
    result = run_cli(
        [
            "mangacolor-colorize",
            f"ckpt_path={generator_file}",
            f"input={pages}",
            f"output={out}",
            "precision=bf16-mixed",
            "device=cpu",
            "num_workers=0",
            "progress=false",
            "recolor_color_pages=true",
        ],
        cwd=tmp_path,
    )  # make_pages draws colour pages
    assert result.returncode == 0, result.stderr[-3000:]
    assert "2 pages coloured" in result.stdout and "on cpu (bf16-mixed" in result.stdout, (
        result.stdout
    )
    assert sorted(p.name for p in out.iterdir()) == ["page_000.png", "page_001.png"]


def test_eval_console_script_takes_precision_and_mode_as_documented(generator_file, tmp_path):
    pages, out = tmp_path / "held-out", tmp_path / "out"
    make_pages(pages, 2, (40, 48))
    result = run_cli(
        [
            "mangacolor-eval",
            f"ckpt_path={generator_file}",
            f"data.test_dir={pages}",
            "eval.mode=page",
            "precision=bf16-mixed",
            "eval.device=cpu",
            "data.num_workers=0",
            "eval.progress=false",
            f"paths.output_dir={out}",
        ],
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    (metrics,) = out.glob("evals/*/metrics.json")
    settings = json.loads(metrics.read_text())["settings"]
    assert (settings["mode"], settings["precision"], settings["short_side"]) == (
        "page",
        "bf16-mixed",
        32,
    )


@pytest.mark.slow
def test_train_console_script_takes_documented_options(tmp_path):
    train, val, out = tmp_path / "train", tmp_path / "val", tmp_path / "out"
    make_pages(train, 4)
    make_pages(val, 2, seed=1)
    result = run_cli(
        [
            "mangacolor-train",
            *TINY,
            f"data.train_dir={train}",
            f"data.val_dir={val}",
            f"paths.output_dir={out}",
            "precision=32-true",
            "model.gan_mode=lsgan",
            "logger=csv",
        ],
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "mangacolor-train: 4 iterations" in result.stdout, result.stdout[-2000:]
    (config,) = out.glob("runs/*/.hydra/config.yaml")
    composed = yaml.safe_load(config.read_text())
    assert (composed["trainer"]["precision"], composed["model"]["gan_mode"]) == ("32-true", "lsgan")
    assert list(out.glob("runs/*/csv/metrics.csv"))


def test_bench_console_script_takes_documented_options(tmp_path):
    # +debug=tiny sets float32 itself, after the precision group: bench.precisions asks for bf16
    # here.
    result = run_cli(
        [
            "mangacolor-bench",
            "+debug=tiny",
            "bench.tasks=[colourise]",
            "bench.precisions=[bf16-mixed]",
            "bench.colourise.page_height=48",
            "bench.colourise.page_width=40",
            "bench.colourise.calls=1",
            "bench.colourise.pages_per_call=1",
            "bench.markdown=false",
            f"paths.output_dir={tmp_path}",
        ],
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    (report,) = tmp_path.glob("bench/*/bench.json")
    (row,) = json.loads(report.read_text())["rows"]
    assert row["task"] == "colourise" and row["settings"]["precision"] == "bf16-mixed"
    assert not list(tmp_path.glob("bench/*/bench.md"))
