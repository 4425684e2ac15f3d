"""The input styles: the kinds of black-and-white page a generator is trained and scored on.

One tuple, imported by the rooms that need the names: data makes pages in these styles
(`data/print_styles.py`), the model sums its validation metrics per style (`models/validation.py`),
and evaluation and the bench choose among them. Its order is the order of the validation rows.
Names only: this module imports nothing.
"""

from __future__ import annotations

STYLES = ("plain", "screentone", "lines", "flat")
PLAIN = "plain"  # the page's own lightness, the seed's input; every other style is a B&W page
