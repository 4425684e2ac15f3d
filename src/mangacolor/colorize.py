"""mangacolor-colorize: colour your own pages.

from __future__ import annotations


def main() -> None:
    raise SystemExit("mangacolor-colorize is not built yet")
