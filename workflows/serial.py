"""One change at a time: a record is checked only against a case whose last change has fully
taken effect.

A handler that applies a record then awaits its effects (the calendar activity's due dates, the
case-store projection). Without this, another update arriving in that window was validated
against the half-done case: after a crash during the third DSP decision, the decision was
applied but clock D's dates not yet counted, and the agency letters were accepted, then failed
for good ("the rapid review has not been decided yet"). Now every handler that changes the case
takes its turn (an `asyncio.Lock`, first come first served, deterministic in a workflow); a
validator that finds a change in progress checks only the message's shape, and its handler
checks the record again once it has its turn, refusing it then with the same error (the API
maps it the same way: the partner system waits a moment, and never sees a half-done case).

Patch "serial-changes" (`workflow.patched`), asked once at the start of a run: a workflow
started before keeps the old interleaving for its whole life, so its history replays.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

SERIAL_PATCH = "serial-changes"


class Serial:
    """The turn every change to a case takes (none while `on` is False: an older run)."""

    def __init__(self) -> None:
        self.on = False
        self._lock = asyncio.Lock()

    @property
    def busy(self) -> bool:
        """A change is taking effect: a validator checks only the message's shape."""
        return self.on and self._lock.locked()

    @asynccontextmanager
    async def turn(self) -> AsyncIterator[None]:
        """Hold the case until this change has fully taken effect."""
        if not self.on:
            yield
            return
        async with self._lock:
            yield
