"""Password hashing and verification, with a verified-credential cache for the device path.

Human passwords are hashed with argon2id (about 100 ms of CPU each here). Devices poll many times a
second, so a successful slow verification is remembered for a short TTL, keyed by an HMAC (with a
per-process random key) of the user id, the presented password and the stored hash: a changed
password changes the stored hash and so misses the cache at once. Failures are never cached.
Concurrent misses for the same key share one verification (single-flight), and slow hashes run on
a small bounded thread pool, never on the event loop.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import os
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor

from argon2 import PasswordHasher as Argon2Hasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from admittance.kernel.clock import Clock
from admittance.kernel.secrets import HMAC_SCHEME, Pepper, is_random_enough

# A supplied secret that is not random enough, keyed by the pepper until the background job wraps it.
PENDING_SCHEME = "hmac-sha256-pending"
# argon2id over that keyed digest: the wrapping needs no plaintext, and a stolen database and pepper
# together still cost an argon2id per guess.
WRAPPED_SCHEME = "argon2id-hmac"
_FAST_PREFIXES = (HMAC_SCHEME + "$", PENDING_SCHEME + "$")
_SALT_BYTES = 8


class PasswordHasher:
    """Creates and checks stored password hashes of both schemes."""

    def __init__(self, pepper: Pepper, argon2: Argon2Hasher | None = None) -> None:
        self._pepper = pepper
        self._argon2 = argon2 or Argon2Hasher()
        # OWASP's minimum (19 MiB, t=2, p=1) for wrapping: one lane keeps the background job on one
        # core, and the input is already keyed by the pepper (ADR 0006). ~56/s per core here.
        self._wrapper = Argon2Hasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)
        # A real argon2id hash with the same parameters: unknown users are checked against it so
        # that a failure for an unknown name costs what a failure for a known name costs.
        self.dummy_hash = self._argon2.hash(os.urandom(16).hex())

    def hash_human(self, password: str) -> str:
        """argon2id, for anything a person chose. Slow by design: call it off the event loop."""
        return self._argon2.hash(password)

    def hash_generated(self, password: str) -> str:
        """Keyed HMAC, only for server-generated secrets of >= 128 bits."""
        return self._pepper.password_hash(password)

    def hash_supplied(self, password: str) -> str:
        """A password someone chose for a device in bulk (a manifest). Microseconds, so a 100,000-row
        import fits in a minute: the keyed HMAC now, final when the secret is random enough, else
        pending until `wrap_pending` (a background job) puts argon2id over it (ADR 0006). Salted per
        hash, so devices given the same password do not share a stored value.
        Stored as `<scheme>$<salt>$<hex>`; `hmac-sha256$<hex>` without a salt is a generated secret."""
        salt = os.urandom(_SALT_BYTES).hex()
        digest = self._salted_digest(salt, password)
        scheme = HMAC_SCHEME if is_random_enough(password) else PENDING_SCHEME
        return f"{scheme}${salt}${digest}"

    def wrap_pending(self, stored: str) -> str:
        """argon2id over a pending keyed digest. Slow by design: call it off the event loop."""
        scheme, _, rest = stored.partition("$")
        salt, _, digest = rest.partition("$")
        if scheme != PENDING_SCHEME or not digest:
            raise ValueError("only a pending keyed digest can be wrapped")
        return f"{WRAPPED_SCHEME}${salt}${self._wrapper.hash(digest)}"

    @staticmethod
    def is_slow(stored: str) -> bool:
        return not stored.startswith(_FAST_PREFIXES)

    def verify(self, password: str, stored: str) -> bool:
        scheme, _, rest = stored.partition("$")
        if scheme in (HMAC_SCHEME, PENDING_SCHEME) and "$" in rest:
            salt, _, digest = rest.partition("$")
            return hmac.compare_digest(self._salted_digest(salt, password).encode(), digest.encode())
        if scheme == HMAC_SCHEME:
            return self._pepper.verify_password_hash(password, stored)
        if scheme == WRAPPED_SCHEME:
            salt, _, encoded = rest.partition("$")
            return self._argon2_verify(encoded, self._salted_digest(salt, password))
        return self._argon2_verify(stored, password)

    def _salted_digest(self, salt: str, password: str) -> str:
        return self._pepper.digest("password:" + salt, password)

    def _argon2_verify(self, encoded: str, secret: str) -> bool:
        try:
            return self._argon2.verify(encoded, secret)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False


class CredentialVerifier:
    """Verifies passwords, with the cache and single-flight described in the module docstring."""

    def __init__(
        self,
        hasher: PasswordHasher,
        clock: Clock,
        *,
        ttl_seconds: float = 300.0,
        max_entries: int = 100_000,
        hash_threads: int | None = None,
    ) -> None:
        self._hasher = hasher
        self._clock = clock
        self._ttl = ttl_seconds
        self._max_entries = max_entries
        self._key = os.urandom(32)
        self._verified: OrderedDict[bytes, float] = OrderedDict()
        self._in_flight: dict[bytes, asyncio.Future[bool]] = {}
        self._pool = ThreadPoolExecutor(
            max_workers=hash_threads or max(1, os.cpu_count() or 1), thread_name_prefix="hash"
        )
        self.slow_verifications = 0  # observable for tests and metrics

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    async def run_blocking_hash(self, password: str) -> str:
        """argon2id hash of a human password on the bounded pool."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, self._hasher.hash_human, password)

    async def verify(self, user_key: str, password: str, stored: str) -> bool:
        if not self._hasher.is_slow(stored):
            return self._hasher.verify(password, stored)
        key = self._cache_key(user_key, password, stored)
        expires = self._verified.get(key)
        if expires is not None and expires > self._clock.monotonic():
            return True
        pending = self._in_flight.get(key)
        if pending is not None:
            return await asyncio.shield(pending)
        loop = asyncio.get_running_loop()
        future: asyncio.Future[bool] = loop.create_future()
        self._in_flight[key] = future
        try:
            self.slow_verifications += 1
            ok = await loop.run_in_executor(self._pool, self._hasher.verify, password, stored)
            if ok:
                self._remember(key)
            future.set_result(ok)
            return ok
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # mark retrieved: waiters re-raise it, nobody else must
            raise
        finally:
            del self._in_flight[key]

    async def verify_dummy(self, password: str) -> None:
        """Spend what a real slow verification spends, for unknown users."""
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._pool, self._hasher.verify, password, self._hasher.dummy_hash)

    def _cache_key(self, user_key: str, password: str, stored: str) -> bytes:
        material = "\0".join((user_key, password, stored)).encode()
        return hmac.new(self._key, material, hashlib.sha256).digest()

    def _remember(self, key: bytes) -> None:
        self._verified[key] = self._clock.monotonic() + self._ttl
        self._verified.move_to_end(key)
        while len(self._verified) > self._max_entries:
            self._verified.popitem(last=False)
