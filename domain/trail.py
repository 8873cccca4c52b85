"""An audit trail kept short inside a workflow that continues as new: the latest events stay in
its state, the case store has them all, and the trail's numbering goes on from those dropped."""

from __future__ import annotations

from typing import Generic, TypeVar

from pydantic import BaseModel, Field

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


class Trail(BaseModel, Generic[E]):
    """A workflow's state with its audit trail: the events it keeps, and how many came before
    them (the case store has those; the trail's numbering goes on from them)."""

    events: list[E] = Field(default_factory=list)
    events_before: int = 0

    def keep_recent_events(self, stored: int | None = None) -> None:
        """Drop all but the latest events (before a continue-as-new), never one after event
        number `stored`, the last the case store has (None: it has them all)."""
        self.events, self.events_before = keep_recent(self.events, self.events_before, stored)

    @property
    def event_count(self) -> int:
        """How many events there have been in all: the last one's number in the trail."""
        return self.events_before + len(self.events)
