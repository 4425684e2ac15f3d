"""mangacolor-eval: measure a trained colouriser on a held-out folder (see its issue)."""

from __future__ import annotations


def main() -> None:
    raise SystemExit("mangacolor-eval is not built yet")
