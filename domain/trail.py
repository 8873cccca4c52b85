"""An audit trail kept short inside a workflow that continues as new: the latest events stay in
its state, the case store has them all, and the trail's numbering goes on from those dropped."""

from __future__ import annotations

from typing import TypeVar

# Events kept in a workflow's state across a continue-as-new; all of them are in the case store.
EVENTS_KEPT = 50

E = TypeVar("E")


def keep_recent(events: list[E], before: int, stored: int | None = None) -> tuple[list[E], int]:
    """The latest `EVENTS_KEPT` of `events` (numbered on from `before`) and the new count of
    those dropped; never one after event number `stored`, the last the case store has (None: it
    has them all)."""
    dropped = max(0, len(events) - EVENTS_KEPT)
    if stored is not None:
        dropped = min(dropped, max(0, stored - before))
    return events[dropped:], before + dropped
