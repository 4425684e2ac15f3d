"""mangacolor-colorize from the command line: paths as typed, one clear line on error. The library's
tests are in tests/colorize/."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers.cli import run_cli
from helpers.colorize_pages import files_under, page, strong_color_generator
from hydra import compose, initialize_config_dir

from mangacolor.commands.colorize import PATH_KEYS
from mangacolor.runtime import overrides
from mangacolor.runtime.bundled import config_dir


@pytest.fixture(scope="module")
def generator_path(tmp_path_factory) -> Path:
    return strong_color_generator(tmp_path_factory.mktemp("model"))


@pytest.mark.parametrize(
    "path",
    [
        "/pages/[Group] 漫画 (Vol 1), part 2.cbz",
        "it's here",
        "a=b/c",
        "${oops}",
        "back\\slash\\",
        "100% done",
    ],
)
def test_path_overrides_reach_the_config_unchanged(path):
    with initialize_config_dir(str(config_dir()), version_base="1.3"):
        quoted = overrides.quote_path_overrides(
            [f"input={path}", "output=o", "ckpt_path=m"], PATH_KEYS
        )
        cfg = compose("colorize", overrides=quoted)
        assert cfg.input == path


def test_the_console_script_colours_a_folder_from_another_working_folder(generator_path, tmp_path):
    page(tmp_path / "my pages (1)" / "a.png", 40, 30)
    page(tmp_path / "my pages (1)" / "b" / "c.jpg", 30, 40)
    work = tmp_path / "cwd"
    work.mkdir()
    result = run_cli(
        [
            "mangacolor-colorize",
            f"ckpt_path={generator_path}",
            f"input={tmp_path / 'my pages (1)'}",
            "output=coloured",
            "format=png",
        ],
        cwd=work,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    last = result.stdout.strip().splitlines()[-1]
    assert (
        last.startswith("mangacolor-colorize: 2 pages coloured, 0 skipped")
        and "Output folder coloured" in last
    )
    assert files_under(work) == ["coloured/a.png", "coloured/b/c.png"]  # nothing else left behind
    assert (
        "\r" not in result.stderr and "colouring: 2/2 (100%)" in result.stderr
    )  # a log gets lines, not a bar


def test_the_console_script_fails_with_one_clear_line(
    generator_path, tmp_path, monkeypatch, capsys
):
    from mangacolor.commands import colorize as entry_point

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(
        "sys.argv",
        ["mangacolor-colorize", f"ckpt_path={generator_path}", "input=missing", "output=o"],
    )
    with pytest.raises(SystemExit) as caught:
        entry_point.main()
    assert str(caught.value) == "mangacolor-colorize: error: input not found: missing"
    assert files_under(tmp_path) == []


def test_the_console_script_names_the_generator_that_cannot_do_ink(
    generator_path, tmp_path, monkeypatch
):
    from mangacolor.commands import colorize as entry_point

    page(tmp_path / "p.png", 20, 20)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(
        "sys.argv",
        [
            "mangacolor-colorize",
            f"ckpt_path={generator_path}",
            "input=p.png",
            "output=o",
            "compose=ink",
        ],
    )
    with pytest.raises(SystemExit) as caught:
        entry_point.main()
    message = str(caught.value)
    assert message.startswith(
        "mangacolor-colorize: error: compose=ink needs a full-colour generator"
    )
    assert str(generator_path) in message and "\n" not in message


def test_the_console_script_refuses_a_hints_folder_inside_the_input_in_one_line(
    generator_path, tmp_path, monkeypatch
):
    from mangacolor.commands import colorize as entry_point

    page(tmp_path / "pages" / "p.png", 20, 20)
    (tmp_path / "pages" / "my hints").mkdir()
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(
        "sys.argv",
        [
            "mangacolor-colorize",
            f"ckpt_path={generator_path}",
            "input=pages",
            "output=o",
            "hints=pages/my hints",
        ],
    )
    with pytest.raises(SystemExit) as caught:
        entry_point.main()
    message = str(caught.value)
    assert message.startswith(
        "mangacolor-colorize: error: hints folder pages/my hints is inside the input folder pages"
    )
    assert "\n" not in message and files_under(tmp_path) == ["pages/p.png"]
