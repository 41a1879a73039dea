"""Where each subject was last seen, without a write per request.

Every door calls `LastSeenRecorder.seen(...)` after a successful authentication: a dictionary
assignment, nothing else. The latest contact of each subject is kept in memory and written in one
batch every `flush_seconds` (`run_forever`, started by `admittance serve`), and once more at shutdown.
A crash loses at most that many seconds of contacts, which the next contact records again; the
buffer is bounded (`max_pending`): when it is full, contacts of subjects not yet in it wait for the
next flush's room, so a flood of distinct names cannot grow memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from typing import Protocol

from admittance.identity.model import MAX_SEEN_ADDRESS_CHARS, Door, LastSeen, Sighting
from admittance.kernel.clock import Clock
from admittance.kernel.errors import AdmittanceError

log = logging.getLogger("admittance.last_seen")


class LastSeenStore(Protocol):
    async def record_seen(self, sightings: Sequence[Sighting]) -> None:
        """Upsert each subject's last contact, never moving one back in time."""
        ...

    async def last_seen(self, tenant_id: str, subjects: Sequence[str]) -> dict[str, LastSeen]:
        """The recorded last contacts of these subjects (those never seen are absent)."""
        ...


class LastSeenRecorder:
    def __init__(
        self, store: LastSeenStore, clock: Clock, *, flush_seconds: float = 5.0, max_pending: int = 200_000
    ) -> None:
        self._store = store
        self._clock = clock
        self.flush_seconds = flush_seconds
        self._max_pending = max_pending
        self._pending: dict[tuple[str, str], LastSeen] = {}
        self.dropped = 0  # contacts not buffered because the buffer was full (observable)

    def seen(self, tenant_id: str, subject: str, door: Door, address: str | None = None) -> None:
        """Remember a contact (the hot path: no I/O). An address the door does not give keeps the
        one an earlier contact through the same door gave in this interval."""
        key = (tenant_id, subject)
        earlier = self._pending.get(key)
        if earlier is None and len(self._pending) >= self._max_pending:
            self.dropped += 1
            return
        if address is not None:
            address = address[:MAX_SEEN_ADDRESS_CHARS] or None
        if address is None and earlier is not None and earlier.door is door:
            address = earlier.address
        self._pending[key] = LastSeen(self._clock.now(), door, address)

    @property
    def pending(self) -> int:
        return len(self._pending)

    async def flush(self) -> int:
        """Write what is buffered in one batch; on a database error, keep it for the next flush."""
        if not self._pending:
            return 0
        batch, self._pending = self._pending, {}
        sightings = [Sighting(tenant_id, subject, seen) for (tenant_id, subject), seen in batch.items()]
        try:
            await self._store.record_seen(sightings)
        except AdmittanceError as exc:
            log.warning("could not record %d last contacts (%s); kept for the next flush", len(batch), exc)
            for key, seen in batch.items():
                self._pending.setdefault(key, seen)
            return 0
        return len(sightings)

    async def last_seen(self, tenant_id: str, subjects: Sequence[str]) -> dict[str, LastSeen]:
        """Recorded contacts, with those not yet flushed on top (this process's newest)."""
        found = await self._store.last_seen(tenant_id, subjects) if subjects else {}
        for subject in subjects:
            buffered = self._pending.get((tenant_id, subject))
            if buffered is not None:
                found[subject] = buffered
        return found

    async def run_forever(self, stop: asyncio.Event) -> None:
        """Flush every `flush_seconds` until `stop` is set, then once more."""
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.flush_seconds)
            try:
                await self.flush()
            except Exception:  # the loop must outlive any one failure
                log.exception("flushing last contacts failed")
        await self.flush()
