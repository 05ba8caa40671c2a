"""A reproduction run's states and the moves between them."""
from __future__ import annotations

QUEUED = "queued"
FETCHING = "fetching"
QUANTIZING = "quantizing"
MEASURING = "measuring"
DONE = "done"
FAILED = "failed"

ALL_STATES = (QUEUED, FETCHING, QUANTIZING, MEASURING, DONE, FAILED)
PHASES = (FETCHING, QUANTIZING, MEASURING)
FINAL_STATES = frozenset({DONE, FAILED})
ACTIVE_STATES = frozenset(PHASES)

# A worker that dies mid-run leaves the run in a phase; it goes back to QUEUED and starts over.
ALLOWED = {
    QUEUED: {FETCHING, FAILED},
    FETCHING: {QUANTIZING, FAILED, QUEUED},
    QUANTIZING: {MEASURING, FAILED, QUEUED},
    MEASURING: {DONE, FAILED, QUEUED},
    DONE: set(),
    FAILED: set(),
}


def can_move(current: str, new: str) -> bool:
    return new in ALLOWED.get(current, set())


def next_phase(current: str) -> str:
    """The phase after `current` on the happy path (QUEUED -> FETCHING -> ... -> DONE)."""
    order = (QUEUED,) + PHASES + (DONE,)
    return order[order.index(current) + 1]
