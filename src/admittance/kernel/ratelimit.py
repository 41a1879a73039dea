"""In-process limits on failed authentications: Keycloak-style temporary lockouts (`Lockout`), kept
per account name and per source address.

Per process on purpose: they bound the CPU an attacker can make us spend on slow hashes, which is a
per-process resource. Several processes each apply the same limit (docs/decisions/0003).
"""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass

from admittance.kernel.clock import Clock


@dataclass(slots=True)
class _Failures:
    count: int
    last: float
    locked_until: float


class Lockout:
    """Temporary lockout in the manner of Keycloak's brute-force detector ("multiple" strategy).

    Every `max_failures` failures of a key lock it for `wait_increment` more seconds (1x, 2x, ...),
    at most `max_wait`; a key without a failure for `reset_after` seconds starts again from zero.
    While a key is locked every attempt is refused without being checked, right or wrong, so the
    answer does not tell a right guess from a wrong one.
    """

    def __init__(
        self,
        clock: Clock,
        *,
        max_failures: int,
        wait_increment_seconds: float,
        max_wait_seconds: float,
        reset_after_seconds: float,
        max_keys: int = 50_000,
    ) -> None:
        if max_failures < 1:
            raise ValueError("max_failures must be at least 1")
        self._clock = clock
        self._max = max_failures
        self._increment = wait_increment_seconds
        self._max_wait = max_wait_seconds
        self._reset = reset_after_seconds
        self._max_keys = max_keys
        self._keys: OrderedDict[str, _Failures] = OrderedDict()

    def _current(self, key: str) -> _Failures | None:
        entry = self._keys.get(key)
        if entry is not None and self._clock.monotonic() - entry.last >= self._reset:
            del self._keys[key]
            return None
        return entry

    def retry_after(self, key: str) -> int:
        """Seconds until the key may try again; 0 when it is not locked."""
        entry = self._current(key)
        if entry is None:
            return 0
        remaining = entry.locked_until - self._clock.monotonic()
        return math.ceil(remaining) if remaining > 0 else 0

    def blocked(self, key: str) -> bool:
        return self.retry_after(key) > 0

    def record_failure(self, key: str) -> None:
        now = self._clock.monotonic()
        entry = self._current(key)
        if entry is None:
            entry = self._keys[key] = _Failures(0, now, now)
        entry.count += 1
        entry.last = now
        if entry.count >= self._max:
            wait = min(self._max_wait, self._increment * (entry.count // self._max))
            entry.locked_until = max(entry.locked_until, now + wait)
        self._keys.move_to_end(key)
        while len(self._keys) > self._max_keys:
            self._keys.popitem(last=False)

    def failures(self, key: str) -> int:
        entry = self._current(key)
        return entry.count if entry else 0

    def reset(self, key: str) -> None:
        self._keys.pop(key, None)
