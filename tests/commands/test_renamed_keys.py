"""Each console script given a renamed key the old way stops in one line naming the new key, before
Hydra reads the command line (so no run folder, no traceback)."""

from __future__ import annotations

import importlib
import sys

import pytest

from mangacolor.runtime.renamed_keys import RENAMED_KEYS

RENAMED = [
    (command, old, new) for command, keys in RENAMED_KEYS.items() for old, new in keys.items()
]


@pytest.mark.parametrize(("command", "old", "new"), RENAMED)
def test_the_command_names_the_new_key(command, old, new, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", [f"mangacolor-{command}", f"{old}=3"])
    main = importlib.import_module(f"mangacolor.commands.{command}").main
    with pytest.raises(SystemExit) as stopped:
        main()
    assert (
        str(stopped.value)
        == f"mangacolor-{command}: error: {old} is now {new}: give {new}=... instead"
    )
    assert list(tmp_path.iterdir()) == []  # stopped before Hydra made any folder
