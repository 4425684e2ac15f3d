"""The README stays short, every relative link in the docs leads somewhere, and docs/architecture.md
shows the package as it is: every module in its tree, and the import rules of test_architecture."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from helpers.cli import REPO
from test_architecture import ALLOWED

README = REPO / "README.md"
PAGES = sorted((REPO / "docs").glob("*.md"))
PACKAGE = REPO / "src" / "mangacolor"

LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")


def prose(text: str) -> str:
    """The text without fenced code blocks and inline code, where `[x](y)` is not a link."""
    text = re.sub(r"^```.*?^```", "", text, flags=re.DOTALL | re.MULTILINE)
    return re.sub(r"`[^`\n]*`", "", text)


def relative_links(page: Path) -> list[str]:
    targets = LINK.findall(prose(page.read_text(encoding="utf-8")))
    return [t for t in targets if not re.match(r"^[a-z][a-z0-9+.-]*:", t) and not t.startswith("#")]


def test_readme_fits_on_a_screen():
    size = len(README.read_bytes())
    assert size < 8192, f"README.md is {size} bytes: move detail into a docs/ page and link it"


def test_the_link_finder_finds_links_and_ignores_code():
    page = "[a](docs/a.md) ![b](img/b.png \"title\") [c](https://x.org) [d](#top) `[e](nope.md)`\n```\n[f](no.md)\n```\n"
    assert LINK.findall(prose(page)) == ["docs/a.md", "img/b.png", "https://x.org", "#top"]


@pytest.mark.parametrize("page", [README, *PAGES], ids=lambda p: p.relative_to(REPO).as_posix())
def test_every_relative_link_points_to_a_file_that_exists(page):
    links = relative_links(page)
    missing = [t for t in links if not (page.parent / t.split("#", 1)[0]).exists()]
    assert not missing, f"{page.relative_to(REPO)} links to missing files: {missing}"


def test_the_readme_links_every_docs_page():
    linked = {(README.parent / t.split("#", 1)[0]).resolve() for t in relative_links(README)}
    unlinked = [p.name for p in PAGES if p.resolve() not in linked]
    assert not unlinked, f"README.md does not link {unlinked}"


# ---- docs/architecture.md ------------------------------------------------------------------------
ARCHITECTURE = REPO / "docs" / "architecture.md"


def documented_tree() -> set[str]:
    """Paths (relative to src/mangacolor/) named in the tree block: two spaces of indent per level."""
    text = ARCHITECTURE.read_text(encoding="utf-8")
    block = re.search(r"```\nsrc/mangacolor/\n(.*?)```", text, flags=re.DOTALL)
    assert block, "docs/architecture.md has no tree block starting with src/mangacolor/"
    paths, folders = set(), []
    for line in block.group(1).splitlines():
        if not line.strip():
            continue
        indent = len(line) - len(line.lstrip(" "))
        assert indent % 2 == 0 and indent >= 2, f"odd indent in the tree: {line!r}"
        depth = indent // 2 - 1
        name = line.split()[0]
        del folders[depth:]
        if name.endswith("/"):
            folders.append(name.rstrip("/"))
        else:
            paths.add("/".join([*folders, name]))
    return paths


def test_the_architecture_tree_names_every_module_and_no_other():
    actual = {p.relative_to(PACKAGE).as_posix() for p in PACKAGE.rglob("*.py")}
    actual = {p for p in actual if not (p.endswith("__init__.py") and p != "__init__.py")}
    documented = documented_tree()
    assert not actual - documented, f"add to docs/architecture.md's tree: {sorted(actual - documented)}"
    assert not documented - actual, f"docs/architecture.md names modules that do not exist: {sorted(documented - actual)}"


def test_the_architecture_page_states_the_import_rules_of_the_test():
    text = ARCHITECTURE.read_text(encoding="utf-8")
    rows = re.findall(r"^\| (`[^|]+) \| ([^|]+) \|$", text, flags=re.MULTILINE)
    documented = {}
    for rooms, allowed in rows:
        names = set(re.findall(r"`(\w+)`", allowed))
        if allowed.strip() == "every room":
            names = set(ALLOWED)
        for room in re.findall(r"`(\w+)`", rooms):
            documented[room] = names - {room}
    assert documented == ALLOWED
