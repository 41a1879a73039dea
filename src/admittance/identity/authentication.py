"""Authentication of presented username and password: one answer and one timing for every failure.

Every failure raises the same Unauthenticated error after the same minimum delay, whatever the
cause (unknown user, wrong password, disabled user); the cause goes to the log and the audit log,
never the secret. Failures are rate-limited per source address and per user name.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import NoReturn

from admittance.identity.model import PresentedCredentials, UserAuthRecord
from admittance.kernel.clock import Clock
from admittance.kernel.errors import RateLimited, Unauthenticated
from admittance.kernel.passwords import CredentialVerifier
from admittance.kernel.principal import Principal
from admittance.kernel.ratelimit import FailureLimiter

log = logging.getLogger("admittance.auth")


@dataclass(frozen=True, slots=True)
class AuthPolicy:
    failure_delay_seconds: float = 0.3
    failures_per_source: int = 30
    failures_per_user: int = 10
    failure_window_seconds: float = 60.0


FailureRecorder = Callable[[str, str, str, str], Awaitable[None]]  # tenant, username, source, reason


class Authenticator:
    def __init__(
        self,
        verifier: CredentialVerifier,
        clock: Clock,
        policy: AuthPolicy,
        record_failure: FailureRecorder | None = None,
    ) -> None:
        self._record_failure = record_failure
        self._verifier = verifier
        self._clock = clock
        self._policy = policy
        self._by_source = FailureLimiter(
            clock, limit=policy.failures_per_source, window_seconds=policy.failure_window_seconds
        )
        self._by_user = FailureLimiter(
            clock, limit=policy.failures_per_user, window_seconds=policy.failure_window_seconds
        )

    async def verify(self, presented: PresentedCredentials, record: UserAuthRecord | None) -> Principal:
        """Check presented credentials against a freshly read user record (None: unknown user)."""
        started = self._clock.monotonic()
        user_key = f"{presented.tenant_id}/{presented.username}".lower()
        self._check_rate((self._by_source, presented.source), (self._by_user, user_key))
        if record is None:
            await self._verifier.verify_dummy(presented.password)
            return await self._fail(presented, user_key, started, "unknown user")
        ok = await self._verifier.verify(str(record.user_id), presented.password, record.password_hash)
        if not ok:
            return await self._fail(presented, user_key, started, "wrong password")
        if not record.enabled:
            return await self._fail(presented, user_key, started, "user disabled")
        return record.principal()

    async def reject_malformed(self, source: str, reason: str) -> NoReturn:
        """No usable credentials at all: the same answer and delay as any other failure."""
        started = self._clock.monotonic()
        self._check_rate((self._by_source, source))
        self._by_source.record_failure(source)
        log.warning("authentication failed from %s: %s", source, reason)
        await self._delay(started)
        raise Unauthenticated(reason=reason)

    @staticmethod
    def _check_rate(*limits: tuple[FailureLimiter, str]) -> None:
        for limiter, key in limits:
            if limiter.blocked(key):
                raise RateLimited(
                    "Too many failed authentication attempts, try again later",
                    retry_after_seconds=limiter.retry_after(key),
                )

    async def _fail(self, presented: PresentedCredentials, user_key: str, started: float, reason: str) -> Principal:
        self._by_source.record_failure(presented.source)
        self._by_user.record_failure(user_key)
        log.warning("authentication failed for %s from %s: %s", user_key, presented.source, reason)
        if self._record_failure is not None:
            await self._record_failure(presented.tenant_id, presented.username, presented.source, reason)
        await self._delay(started)
        raise Unauthenticated(reason=reason)

    async def _delay(self, started: float) -> None:
        remaining = self._policy.failure_delay_seconds - (self._clock.monotonic() - started)
        if remaining > 0:
            await asyncio.sleep(remaining)
