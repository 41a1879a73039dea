"""A small in-process rate limiter for failed authentications (per source address and per user).

Per process on purpose: it bounds the CPU an attacker can make us spend on slow hashes, which is a
per-process resource. Several processes each apply the same limit.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

from admittance.kernel.clock import Clock


@dataclass(slots=True)
class _Window:
    started: float
    count: int


class FailureLimiter:
    """Counts failures per key in fixed windows; `blocked(key)` once a key exceeds its budget."""

    def __init__(self, clock: Clock, *, limit: int, window_seconds: float, max_keys: int = 50_000) -> None:
        self._clock = clock
        self._limit = limit
        self._window = window_seconds
        self._max_keys = max_keys
        self._windows: OrderedDict[str, _Window] = OrderedDict()

    def blocked(self, key: str) -> bool:
        window = self._windows.get(key)
        if window is None:
            return False
        if self._clock.monotonic() - window.started >= self._window:
            del self._windows[key]
            return False
        return window.count >= self._limit

    def retry_after(self, key: str) -> int:
        window = self._windows.get(key)
        if window is None:
            return 0
        return max(1, int(self._window - (self._clock.monotonic() - window.started)) + 1)

    def record_failure(self, key: str) -> None:
        now = self._clock.monotonic()
        window = self._windows.get(key)
        if window is None or now - window.started >= self._window:
            self._windows[key] = _Window(now, 1)
        else:
            window.count += 1
        self._windows.move_to_end(key)
        while len(self._windows) > self._max_keys:
            self._windows.popitem(last=False)

    def reset(self, key: str) -> None:
        self._windows.pop(key, None)
