"""Imports run one way (docs/architecture.md): a module importing against that direction fails here."""

from __future__ import annotations

import ast
from pathlib import Path

from helpers.cli import REPO

PACKAGE = REPO / "src" / "mangacolor"

# What each room may import from the package (besides itself). Read bottom-up: the pure colour
# maths, the style names and the runtime helpers know nothing else; the colour hints a user gives
# (and their one rasteriser) know only colour and runtime; data and models know only those; running
# a generator knows the networks; the commands' libraries sit on top; only commands wire them.
BOTTOM = frozenset({"color", "metrics", "styles", "runtime"})
BASE = BOTTOM | {"hints"}
ALLOWED: dict[str, set[str]] = {
    "color": set(),
    "metrics": set(),
    "styles": set(),
    "runtime": set(),
    "hints": {"color", "runtime"},
    "data": set(BASE),
    "models": set(BASE),
    "inference": BASE | {"models"},
    "callbacks": BASE | {"models", "inference"},
    "evaluation": BASE | {"data", "models", "inference"},
    "colorize": BASE | {"data", "models", "inference"},
    "benchmark": BASE | {"data", "models", "inference", "callbacks"},
    "export": BASE | {"models", "inference"},
    "training": BASE | {"data", "models", "inference", "callbacks"},
    # The studio: the local web page, on top of colorize's job and guards and inference.
    "studio": BASE | {"data", "models", "inference", "colorize"},
    "commands": BASE
    | {
        "data",
        "models",
        "inference",
        "callbacks",
        "evaluation",
        "colorize",
        "benchmark",
        "export",
        "training",
        "studio",
    },
}
# Third-party packages some rooms must not touch: the networks are plain torch, the maths is pure.
FORBIDDEN_LIBRARIES = {
    "models/components": {"lightning", "hydra", "omegaconf"},
    "color": {"lightning", "hydra", "omegaconf"},
    "metrics": {"lightning", "hydra", "omegaconf"},
    "styles": {"torch", "lightning", "hydra", "omegaconf"},
    "data": {"hydra"},
    "hints": {"lightning", "hydra", "omegaconf"},
}


def room_of(path: Path) -> str:
    relative = path.relative_to(PACKAGE)
    return relative.parts[0].removesuffix(".py")


def imported_modules(path: Path) -> list[str]:
    """Every module `path` imports, at the top or inside a function, as absolute dotted names."""
    names = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            assert node.level == 0, f"{path}: relative import; the package uses absolute ones"
            names += [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
    return names


def test_every_room_is_known():
    rooms = {
        room_of(p) for p in PACKAGE.rglob("*.py") if p.parent != PACKAGE or p.name != "__init__.py"
    }
    assert rooms <= set(ALLOWED), f"add {rooms - set(ALLOWED)} to ALLOWED and docs/architecture.md"


def test_imports_run_in_one_direction():
    wrong = []
    for path in PACKAGE.rglob("*.py"):
        if path.parent == PACKAGE and path.name == "__init__.py":
            continue
        room = room_of(path)
        for name in imported_modules(path):
            parts = name.split(".")
            if parts[0] != "mangacolor" or len(parts) < 2:
                continue
            target = parts[1]
            if target in ALLOWED and target != room and target not in ALLOWED[room]:
                wrong.append(
                    f"{path.relative_to(PACKAGE)} imports {name} ({room} may not import {target})"
                )
    assert not wrong, "\n".join(sorted(set(wrong)))


def test_rooms_that_stay_free_of_frameworks():
    wrong = []
    for prefix, libraries in FORBIDDEN_LIBRARIES.items():
        paths = (
            [PACKAGE / f"{prefix}.py"]
            if (PACKAGE / f"{prefix}.py").exists()
            else (PACKAGE / prefix).rglob("*.py")
        )
        for path in paths:
            for name in imported_modules(path):
                if name.split(".")[0] in libraries:
                    wrong.append(f"{path.relative_to(PACKAGE)} imports {name}")
    assert not wrong, "\n".join(sorted(set(wrong)))


def test_the_check_catches_a_wrong_import(tmp_path):
    """The direction test itself: a data module importing a model is reported."""
    fake = tmp_path / "mangacolor"
    (fake / "data").mkdir(parents=True)
    (fake / "data" / "bad.py").write_text("from mangacolor.models.pix2pix import Pix2Pix\n")
    globals()["PACKAGE"], saved = fake, PACKAGE
    try:
        try:
            test_imports_run_in_one_direction()
        except AssertionError as error:
            assert "data/bad.py imports mangacolor.models.pix2pix" in str(error)
        else:
            raise AssertionError("a data module importing a model was not reported")
    finally:
        globals()["PACKAGE"] = saved
