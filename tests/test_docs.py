"""The README stays short, every relative link in the docs leads somewhere, and docs/architecture.md
shows the package as it is: every module in its tree, and the import rules of test_architecture."""

from __future__ import annotations

import re
from collections import Counter
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
    page = '[a](docs/a.md) ![b](img/b.png "title") [c](https://x.org) [d](#top) `[e](nope.md)`\n```\n[f](no.md)\n```\n'
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


def documented_tree() -> list[str]:
    """Paths (relative to src/mangacolor/) named in the tree block, in order and with repeats: two
    spaces of indent per level."""
    text = ARCHITECTURE.read_text(encoding="utf-8")
    block = re.search(r"```\nsrc/mangacolor/\n(.*?)```", text, flags=re.DOTALL)
    assert block, "docs/architecture.md has no tree block starting with src/mangacolor/"
    paths: list[str] = []
    folders: list[str] = []
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
            paths.append("/".join([*folders, name]))
    return paths


def package_modules() -> list[str]:
    """Every module of the package, relative to src/mangacolor/ (a subpackage's __init__.py aside)."""
    found = sorted(p.relative_to(PACKAGE).as_posix() for p in PACKAGE.rglob("*.py"))
    return [p for p in found if not (p.endswith("__init__.py") and p != "__init__.py")]


def tree_mismatches(documented: list[str], actual: list[str]) -> list[str]:
    """What keeps the documented tree from naming each module exactly once."""
    counts = Counter(documented)
    problems = [f"listed {counts[p]} times: {p}" for p in sorted(counts) if counts[p] > 1]
    problems += [f"missing from the tree: {p}" for p in sorted(set(actual) - set(documented))]
    problems += [f"listed but does not exist: {p}" for p in sorted(set(documented) - set(actual))]
    return problems


def test_the_architecture_tree_names_every_module_once_and_no_other():
    problems = tree_mismatches(documented_tree(), package_modules())
    assert not problems, "docs/architecture.md's tree:\n" + "\n".join(problems)


def test_the_tree_check_rejects_a_module_listed_twice_one_missing_and_one_made_up():
    actual = ["color.py", "runtime/atomic.py", "runtime/resume.py"]
    documented = ["color.py", "runtime/atomic.py", "runtime/atomic.py", "runtime/ghost.py"]
    assert tree_mismatches(documented, actual) == [
        "listed 2 times: runtime/atomic.py",
        "missing from the tree: runtime/resume.py",
        "listed but does not exist: runtime/ghost.py",
    ]
    assert tree_mismatches(actual, actual) == []


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
