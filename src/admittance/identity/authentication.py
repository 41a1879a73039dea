"""Authentication of presented secrets: one answer and one timing for every failure, and brute-force
protection on every password and one-time-password check.

Every failure raises the same Unauthenticated error after the same minimum delay, whatever the
cause (unknown user, wrong password, disabled user, a password alone for an account with MFA, an
unknown or expired token); the cause goes to the log and the audit log, never the secret.

Brute force (docs/decisions/0003, in the manner of Keycloak's temporary lockout): failures are
counted per account name (`tenant/username`, lower case, known or not: unknown names are counted
exactly like known ones) and per source address. Every `failures_per_user` failures lock the account
name for one more `lockout_wait_seconds` (at most `lockout_max_wait_seconds`); every
`failures_per_source` failures do the same to the address; counters start again after
`failure_reset_seconds` without a failure. A locked name or address gets 429 with Retry-After
before anything is checked. A successful password check resets the account's counter (not the
address's). Bad one-time passwords have a lockout of their own per account
(`otp_failures_per_user`, `otp_ban_seconds`), like Connectware's CYBUS_MFA_MAX_INVALID_OTPS_PER_USER.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import NoReturn, Protocol

from admittance.audit import AuditEvent, AuditStore, AuditTag
from admittance.identity.model import PresentedCredentials, UserAuthRecord
from admittance.kernel.clock import Clock
from admittance.kernel.errors import AdmittanceError, RateLimited, Unauthenticated, Unavailable
from admittance.kernel.passwords import CredentialVerifier
from admittance.kernel.principal import Principal
from admittance.kernel.ratelimit import Lockout
from admittance.kernel.storage import Storage

log = logging.getLogger("admittance.auth")


@dataclass(frozen=True, slots=True)
class AuthPolicy:
    failure_delay_seconds: float = 0.3
    failures_per_source: int = 30
    failures_per_user: int = 10
    lockout_wait_seconds: float = 60.0
    lockout_max_wait_seconds: float = 900.0
    failure_reset_seconds: float = 12 * 3600.0
    otp_failures_per_user: int = 5
    otp_ban_seconds: float = 900.0
    verified_cache_seconds: float = 300.0  # how long a verified slow hash is remembered (the verifier's TTL)


FailureRecorder = Callable[[str, str, str, str], Awaitable[None]]  # tenant, username, source, reason


class AuditTransaction(Protocol):
    @property
    def audit(self) -> AuditStore: ...


class FailureAudit:
    """A FailureRecorder: each failure becomes an audit event (the cause and the source, never the
    presented secret). The answer must not change because the audit log is unreachable: the log has it."""

    def __init__(self, storage: Storage[AuditTransaction], clock: Clock) -> None:
        self._storage = storage
        self._clock = clock

    async def __call__(self, tenant_id: str, username: str, source: str, reason: str) -> None:
        event = AuditEvent(
            AuditTag.AUTH_FAILED,
            tenant_id,
            f"{tenant_id}/{username}",
            username,
            self._clock.now(),
            {"source": source, "reason": reason},
        )
        try:
            async with self._storage.transaction() as tx:
                await tx.audit.record(event)
        except Unavailable:
            log.exception("could not record an authentication failure in the audit log")


def account_key(tenant_id: str, username: str) -> str:
    return f"{tenant_id}/{username}".lower()


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

        def lockout(max_failures: int) -> Lockout:
            return Lockout(
                clock,
                max_failures=max_failures,
                wait_increment_seconds=policy.lockout_wait_seconds,
                max_wait_seconds=policy.lockout_max_wait_seconds,
                reset_after_seconds=policy.failure_reset_seconds,
            )

        self._by_source = lockout(policy.failures_per_source)
        self._by_user = lockout(policy.failures_per_user)
        self._otp_by_user = Lockout(
            clock,
            max_failures=policy.otp_failures_per_user,
            wait_increment_seconds=policy.otp_ban_seconds,
            max_wait_seconds=policy.otp_ban_seconds,
            reset_after_seconds=policy.failure_reset_seconds,
        )

    def started(self) -> float:
        """The start of a check, for `delay_since`: failures answer no sooner than the policy's delay."""
        return self._clock.monotonic()

    async def verify(
        self, presented: PresentedCredentials, record: UserAuthRecord | None, *, second_factor_follows: bool = False
    ) -> Principal:
        """Check presented credentials against a freshly read user record (None: unknown user).

        An account with MFA enrolled is not authenticated by its password alone unless
        `second_factor_follows` (the first step of a login, which then asks for the code)."""
        started = self._clock.monotonic()
        user_key = account_key(presented.tenant_id, presented.username)
        self._check_rate((self._by_source, presented.source), (self._by_user, user_key))
        if record is None:
            await self._verifier.verify_dummy(presented.password)
            await self.reject(presented, started, "unknown user")
        ok = await self._verifier.verify(str(record.user_id), presented.password, record.password_hash)
        if not ok:
            await self.reject(presented, started, "wrong password")
        if not record.enabled:
            await self.reject(presented, started, "user disabled")
        self._by_user.reset(user_key)
        if record.mfa_enrolled and not second_factor_follows:
            # The password was right: not a guess, so not counted; but a password alone is not enough.
            log.warning(
                "authentication refused for %s from %s: MFA enrolled, password only", user_key, presented.source
            )
            await self.delay_since(started)
            raise Unauthenticated(reason="MFA enrolled: password alone refused")
        return record.principal()

    async def reject_malformed(self, source: str, reason: str) -> NoReturn:
        """No usable credentials at all: the same answer and delay as any other failure."""
        started = self._clock.monotonic()
        self._check_rate((self._by_source, source))
        self._by_source.record_failure(source)
        log.warning("authentication failed from %s: %s", source, reason)
        await self.delay_since(started)
        raise Unauthenticated(reason=reason)

    def check_account(self, tenant_id: str, username: str, source: str) -> None:
        """Raise RateLimited when the account name or the address is locked (before any check)."""
        self._check_rate((self._by_source, source), (self._by_user, account_key(tenant_id, username)))

    async def reject(
        self, presented: PresentedCredentials, started: float, reason: str, error: AdmittanceError | None = None
    ) -> NoReturn:
        """Presented credentials that do not match (a login, or the client registry's polls): counted
        against the account name and the address, audited, delayed; then `error` (default: the
        uniform Unauthenticated)."""
        user_key = account_key(presented.tenant_id, presented.username)
        self._by_source.record_failure(presented.source)
        self._by_user.record_failure(user_key)
        log.warning("authentication failed for %s from %s: %s", user_key, presented.source, reason)
        if self._record_failure is not None:
            await self._record_failure(presented.tenant_id, presented.username, presented.source, reason)
        await self.delay_since(started)
        raise error or Unauthenticated(reason=reason)

    def check_source(self, source: str) -> None:
        """Raise RateLimited when the address is locked (before any check of what it presents)."""
        self._check_rate((self._by_source, source))

    async def reject_token(self, source: str, started: float, reason: str) -> NoReturn:
        """An unknown, expired or revoked token: counted against the address, the uniform answer."""
        self._by_source.record_failure(source)
        log.warning("authentication failed from %s: %s", source, reason)
        await self.delay_since(started)
        raise Unauthenticated(reason=reason)

    def check_otp(self, tenant_id: str, username: str, source: str) -> None:
        """Raise RateLimited when one-time passwords of this account (or anything from this address)
        are locked out. Unknown names are checked exactly like known ones."""
        key = account_key(tenant_id, username)
        self._check_rate((self._by_source, source), (self._otp_by_user, key))

    async def fail_otp(
        self, tenant_id: str, username: str, source: str, started: float, reason: str, error: AdmittanceError
    ) -> NoReturn:
        """A bad one-time password, backup code or MFA challenge: counted, delayed, then `error`."""
        key = account_key(tenant_id, username)
        self._by_source.record_failure(source)
        self._otp_by_user.record_failure(key)
        log.warning("one-time password check failed for %s from %s: %s", key, source, reason)
        if self._record_failure is not None:
            await self._record_failure(tenant_id, username, source, reason)
        await self.delay_since(started)
        raise error

    def otp_succeeded(self, tenant_id: str, username: str) -> None:
        self._otp_by_user.reset(account_key(tenant_id, username))

    @staticmethod
    def _check_rate(*limits: tuple[Lockout, str]) -> None:
        for limiter, key in limits:
            wait = limiter.retry_after(key)
            if wait > 0:
                raise RateLimited("Too many failed authentication attempts, try again later", retry_after_seconds=wait)

    async def delay_since(self, started: float) -> None:
        remaining = self._policy.failure_delay_seconds - (self._clock.monotonic() - started)
        if remaining > 0:
            await asyncio.sleep(remaining)
