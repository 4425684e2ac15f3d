"""Seeds for reproducible random streams: one per (run seed, stream, rank, step).

Seeding each step from a formula, rather than carrying one generator's state along, gives three
things at once: every DDP rank draws its own numbers (its own dropout masks), a resumed run draws
exactly what an uninterrupted run would have drawn without saving any generator state, and two
uses of randomness (say dropout and window sampling) never share one sequence.
"""

from __future__ import annotations

# Distinct streams; a new use of randomness gets a new number here.
WINDOWS_STREAM = 0  # the data module's crop windows, colourful draws and flips, per batch
DROPOUT_STREAM = 1  # the generator's dropout masks, per iteration
PRINT_STYLES_STREAM = (
    2  # which input style each training window gets, per batch (drawn on the host)
)
PRINT_STREAM = (
    3  # the draws of the black-and-white pages made from the windows, per batch (on the device)
)
HINTS_STREAM = (
    4  # the colour hints simulated from the windows (data.hints), per batch (on the device)
)


def step_seed(seed: int, rank: int, step: int, stream: int) -> int:
    """A seed for `stream` at `step` of `rank` in a run seeded with `seed`, in [0, 2**63).

    A plain formula rather than hash(): the same numbers on every Python and machine.
    """
    return (((seed * 1_000_003 + rank) * 1_000_000_007 + step) * 1_000_000_009 + stream) % 2**63
