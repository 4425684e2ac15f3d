"""mangacolor-bench: speed numbers.

from __future__ import annotations


def main() -> None:
    raise SystemExit("mangacolor-bench is not built yet")
