"""Commands wire only (docs/architecture.md): a module in commands/ defines its Hydra `main` and
nothing else, so behaviour lives in the library rooms, where tests reach it without a subprocess.

Allowed at a command module's top level: its docstring, imports, constants (UPPER_CASE or dunder
names, such as the path keys its console script quotes), `def main`, and the
`if __name__ == "__main__":` guard. `user_errors.py`, the one way every command ends on a user's
mistake, is the one named exception.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from helpers.cli import REPO

COMMANDS = REPO / "src" / "mangacolor" / "commands"
EXCEPTIONS = {"user_errors.py"}  # the shared user-error wrapper, not a command


def is_constant_name(name: str) -> bool:
    return name.isupper() or (name.startswith("__") and name.endswith("__"))


def is_main_guard(node: ast.stmt) -> bool:
    """`if __name__ == "__main__":`"""
    test = getattr(node, "test", None)
    return (
        isinstance(node, ast.If)
        and isinstance(test, ast.Compare)
        and isinstance(test.left, ast.Name)
        and test.left.id == "__name__"
        and len(test.comparators) == 1
        and isinstance(test.comparators[0], ast.Constant)
        and test.comparators[0].value == "__main__"
        and not node.orelse
    )


def assigned_names(node: ast.stmt) -> list[str] | None:
    """The names a plain `NAME = ...` or `NAME: type = ...` binds; None for any other target."""
    targets = node.targets if isinstance(node, ast.Assign) else [node.target]
    if not all(isinstance(target, ast.Name) for target in targets):
        return None
    return [target.id for target in targets]


def beyond_wiring(path: Path) -> list[str]:
    """What `path` defines besides its docstring, imports, constants, `main` and the main guard."""
    body = ast.parse(path.read_text(), str(path)).body
    found = []
    for index, node in enumerate(body):
        if (
            index == 0
            and isinstance(node, ast.Expr)
            and isinstance(node.value, ast.Constant)
            and isinstance(node.value.value, str)
        ):
            continue  # the module docstring
        if isinstance(node, (ast.Import, ast.ImportFrom)) or is_main_guard(node):
            continue
        if isinstance(node, ast.FunctionDef) and node.name == "main":
            continue
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            found.append(f"function {node.name} (line {node.lineno})")
        elif isinstance(node, ast.ClassDef):
            found.append(f"class {node.name} (line {node.lineno})")
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            names = assigned_names(node)
            if names is None or not all(is_constant_name(name) for name in names):
                shown = ", ".join(names or ["?"])
                found.append(f"assignment {shown} (line {node.lineno}): not a constant")
        else:
            found.append(f"{type(node).__name__} statement (line {node.lineno})")
    return found


MODULES = sorted(p for p in COMMANDS.glob("*.py") if p.name not in EXCEPTIONS)


@pytest.mark.parametrize("path", MODULES, ids=[p.name for p in MODULES])
def test_a_command_module_defines_only_its_hydra_main(path):
    extra = beyond_wiring(path)
    assert not extra, (
        f"commands/{path.name} should define only main() (imports, a docstring and "
        f"constants allowed); move these into its library room: {'; '.join(extra)}"
    )


def test_every_command_has_a_main():
    for path in MODULES:
        if path.name == "__init__.py":
            continue
        names = {n.name for n in ast.parse(path.read_text()).body if isinstance(n, ast.FunctionDef)}
        assert "main" in names, f"commands/{path.name} has no main()"


def test_the_check_names_what_a_command_defines_beyond_wiring(tmp_path):
    module = tmp_path / "fake.py"
    module.write_text(
        '"""A command."""\nimport sys\n\nKEYS = ("a",)\n__all__ = ["main"]\n'
        "limit = 3\n\n\ndef helper():\n    pass\n\n\nclass Settings:\n    pass\n\n\n"
        'def main():\n    def _main():\n        pass\n\n\nprint("at import")\n\n\n'
        'if __name__ == "__main__":\n    main()\n'
    )
    assert beyond_wiring(module) == [
        "assignment limit (line 6): not a constant",
        "function helper (line 9)",
        "class Settings (line 13)",
        "Expr statement (line 22)",
    ]
