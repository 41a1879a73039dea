"""A job submitted in this process wakes this process's worker at once, rather than at its next idle tick."""

from __future__ import annotations

import asyncio


class Wakeup:
    def __init__(self) -> None:
        self._event: asyncio.Event | None = None

    def notify(self) -> None:
        if self._event is not None:
            self._event.set()

    def listen(self) -> asyncio.Event:
        """The event the worker waits on (made in the worker's loop); notify() sets it."""
        self._event = asyncio.Event()
        return self._event
