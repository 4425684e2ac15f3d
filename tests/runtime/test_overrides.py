"""mangacolor.runtime.overrides: what the console scripts do to their arguments before Hydra parses them."""

from __future__ import annotations

import pytest
from hydra import compose, initialize_config_dir

from mangacolor.runtime.bundled import config_dir, register_resolvers
from mangacolor.runtime.overrides import quote_path_overrides

AWKWARD = [
    "/pages/[Group] 漫画 (Vol 1), part 2.cbz",
    "it's here",
    "a=b/c",
    "${oops}",
    "back\\slash\\",
    "100% done",
]


def test_only_the_named_keys_are_quoted_and_quoted_values_are_left_alone():
    args = ["a.b=[x] y", "other=[1,2]", "a.b", "c='[q] r'", "c=", "+a.b=z"]
    assert quote_path_overrides(args, ["a.b", "c"]) == [
        "a.b='[x] y'",
        "other=[1,2]",
        "a.b",
        "c='[q] r'",
        "c=",
        "+a.b=z",
    ]
    assert quote_path_overrides(args, []) == args


def test_a_bare_null_stays_hydras_null():
    from mangacolor.commands.eval import PATH_KEYS

    assert quote_path_overrides(["data.train_dir=null", "data.test_dir=./null"], PATH_KEYS) == [
        "data.train_dir=null",
        "data.test_dir='./null'",
    ]
    register_resolvers()
    with initialize_config_dir(str(config_dir()), version_base="1.3"):
        cfg = compose(
            "eval",
            overrides=quote_path_overrides(
                ["ckpt_path=m", "data.test_dir=t", "data.train_dir=null"], PATH_KEYS
            ),
        )
    assert cfg.data.train_dir is None


@pytest.mark.parametrize("path", AWKWARD)
def test_eval_path_overrides_reach_the_config_unchanged(path):
    from mangacolor.commands.eval import PATH_KEYS

    register_resolvers()
    overrides = quote_path_overrides(
        [f"ckpt_path={path}", f"data.test_dir={path}", f"data.train_dir={path}"], PATH_KEYS
    )
    with initialize_config_dir(str(config_dir()), version_base="1.3"):
        cfg = compose("eval", overrides=overrides)
    assert cfg.ckpt_path == cfg.data.test_dir == cfg.data.train_dir == path


@pytest.mark.parametrize("path", AWKWARD)
def test_colorize_path_overrides_reach_the_config_unchanged(path):
    from mangacolor.commands.colorize import PATH_KEYS

    overrides = quote_path_overrides(
        [f"input={path}", f"output={path}", f"ckpt_path={path}"], PATH_KEYS
    )
    with initialize_config_dir(str(config_dir()), version_base="1.3"):
        cfg = compose("colorize", overrides=overrides)
    assert cfg.input == cfg.output == cfg.ckpt_path == path
