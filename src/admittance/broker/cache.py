"""The broker's verified-login cache: a reconnect storm is answered without argon2id per CONNECT.

A broker that restarts reconnects its whole fleet within a minute. Every device proved its password
before, so a successful check is remembered, keyed by an HMAC (with a per-process random key) of the
user id, the presented secret and the stored hash. Only the proof is cached, never the decision:
the subject is read fresh for every decision, so disabling a user, changing its roles, revoking its
certificate or deleting the device bites on the next question, in every server process; a new
password changes the stored hash and so misses at once. Failures are never cached. The cache is
bounded (least recently used out) and entries expire after `ttl_seconds`.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections import OrderedDict

from admittance.kernel.clock import Clock

DEFAULT_TTL_SECONDS = 24 * 3600.0
DEFAULT_MAX_ENTRIES = 200_000


class LoginCache:
    def __init__(
        self, clock: Clock, *, ttl_seconds: float = DEFAULT_TTL_SECONDS, max_entries: int = DEFAULT_MAX_ENTRIES
    ) -> None:
        self._clock = clock
        self._ttl = ttl_seconds
        self._max_entries = max_entries
        self._key = os.urandom(32)
        self._entries: OrderedDict[bytes, float] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def __repr__(self) -> str:
        return f"LoginCache(entries={len(self._entries)}, ttl={self._ttl})"

    def __len__(self) -> int:
        return len(self._entries)

    def verified(self, user_id: int, secret: str, stored_hash: str) -> bool:
        key = self._cache_key(user_id, secret, stored_hash)
        expires = self._entries.get(key)
        if expires is None or expires <= self._clock.monotonic():
            if expires is not None:
                del self._entries[key]
            self.misses += 1
            return False
        self._entries.move_to_end(key)
        self.hits += 1
        return True

    def remember(self, user_id: int, secret: str, stored_hash: str) -> None:
        if self._ttl <= 0 or self._max_entries <= 0:
            return
        key = self._cache_key(user_id, secret, stored_hash)
        self._entries[key] = self._clock.monotonic() + self._ttl
        self._entries.move_to_end(key)
        while len(self._entries) > self._max_entries:
            self._entries.popitem(last=False)

    def clear(self) -> None:
        self._entries.clear()

    def _cache_key(self, user_id: int, secret: str, stored_hash: str) -> bytes:
        material = "\0".join((str(user_id), secret, stored_hash)).encode()
        return hmac.new(self._key, material, hashlib.sha256).digest()
