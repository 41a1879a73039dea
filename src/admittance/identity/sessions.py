"""Sessions: login with a password, API tokens (random, prefixed, stored as keyed digests, expiring,
revocable at once), token authentication for every surface, and changing one's own password.

A token is `adm_` + 256 random bits (base64url). Only HMAC(server key, token) is stored, with a
random public id (the `fingerprint` of the API) for listing and revocation. Every request with a
token reads the token row and the user row fresh: revocation, disabling and role changes take
effect on the next request, in every process. MFA challenges (`admfa_...`, kind `mfa`) are stored
the same way, live five minutes and are consumed by their first use.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from admittance.audit import AuditEvent, AuditTag
from admittance.identity.authentication import Authenticator
from admittance.identity.model import NewToken, PasswordPolicy, PresentedCredentials, TokenInfo, UserRef
from admittance.identity.store import SessionStorage
from admittance.kernel.clock import Clock
from admittance.kernel.errors import InvalidInput, NotFound, PermissionDenied, Unauthenticated
from admittance.kernel.passwords import CredentialVerifier
from admittance.kernel.principal import Principal
from admittance.kernel.secrets import Pepper, random_token

log = logging.getLogger("admittance.auth")

TOKEN_PREFIX = "adm_"  # noqa: S105 - the public prefix of tokens, not a secret
CHALLENGE_PREFIX = "admfa_"
SESSION_KIND = "session"
CHALLENGE_KIND = "mfa"
_TOKEN_PURPOSE = "api-token"  # noqa: S105 - a digest purpose label
_MAX_TOKEN_CHARS = 200
_MAX_LABEL_CHARS = 200


@dataclass(frozen=True, slots=True)
class SessionPolicy:
    token_expire_hours: float = 12.0  # default lifetime, and the most a token without a label may have
    token_max_hours: float = 8760.0  # the most a labelled (long-lived) token may have
    mfa_challenge_seconds: float = 300.0
    mfa_issuer: str = "Admittance"


@dataclass(frozen=True, slots=True)
class LoginResult:
    """The answer to a login: a session token, or (MFA enrolled) a challenge for the second step."""

    token: str | None
    expires_at: datetime | None
    principal: Principal | None  # None while the second factor is outstanding
    needs_mfa: bool
    challenge: str | None
    enforce_mfa_enrollment: bool

    def __repr__(self) -> str:  # tokens and challenges never reach a log line
        return f"LoginResult(needs_mfa={self.needs_mfa}, expires_at={self.expires_at})"


@dataclass(frozen=True, slots=True)
class TokenSession:
    """A request authenticated by a token."""

    principal: Principal
    token_id: str
    expires_at: datetime
    label: str | None


def looks_like_token(value: str) -> bool:
    return value.startswith(TOKEN_PREFIX)


class SessionService:
    def __init__(
        self,
        storage: SessionStorage,
        authenticator: Authenticator,
        verifier: CredentialVerifier,
        pepper: Pepper,
        clock: Clock,
        policy: SessionPolicy,
        password_policy: PasswordPolicy,
    ) -> None:
        self._storage = storage
        self._authenticator = authenticator
        self._verifier = verifier
        self._pepper = pepper
        self._clock = clock
        self.policy = policy
        self._password_policy = password_policy

    # -- login ---------------------------------------------------------------------------------

    def lifetime_seconds(self, expire_hours: object, label: str | None) -> int:
        """The requested lifetime, checked: at most token_expire_hours, or token_max_hours with a label."""
        if expire_hours is None:
            return int(self.policy.token_expire_hours * 3600)
        if isinstance(expire_hours, bool) or not isinstance(expire_hours, (int, float)) or expire_hours <= 0:
            raise InvalidInput("expireTimeInHours must be a positive number", field="expireTimeInHours")
        limit = self.policy.token_max_hours if label else self.policy.token_expire_hours
        if expire_hours > limit:
            hint = "" if label else " (longer-lived tokens need a label)"
            raise InvalidInput(f"expireTimeInHours must be at most {limit:g}{hint}", field="expireTimeInHours")
        return max(1, int(expire_hours * 3600))

    @staticmethod
    def check_label(label: object) -> str | None:
        if label is None or label == "":
            return None
        if not isinstance(label, str) or len(label) > _MAX_LABEL_CHARS or any(ord(c) < 32 for c in label):
            raise InvalidInput(
                f"label must be a string of at most {_MAX_LABEL_CHARS} printable characters", field="label"
            )
        return label

    async def login(self, presented: PresentedCredentials, expire_hours: object, label: object) -> LoginResult:
        checked_label = self.check_label(label)
        seconds = self.lifetime_seconds(expire_hours, checked_label)
        record = await self._storage.auth_record(presented.tenant_id, presented.username)
        principal = await self._authenticator.verify(presented, record, second_factor_follows=True)
        assert record is not None  # verify refuses unknown users
        if record.mfa_enrolled:
            challenge = random_token(CHALLENGE_PREFIX.rstrip("_"))
            now = self._clock.now()
            async with self._storage.transaction() as tx:
                await tx.sessions.delete_expired(record.user_id, now)
                await tx.sessions.create_token(
                    NewToken(
                        id=secrets.token_hex(8),
                        user_id=record.user_id,
                        digest=self.digest(challenge),
                        kind=CHALLENGE_KIND,
                        label=checked_label,
                        created_at=now,
                        expires_at=now + timedelta(seconds=self.policy.mfa_challenge_seconds),
                        session_seconds=seconds,
                    )
                )
            log.info("login of %s/%s: password accepted, MFA code required", record.tenant_id, record.username)
            return LoginResult(None, None, None, True, challenge, False)
        return await self.issue(principal, seconds, checked_label, presented.source, method="password")

    async def issue(
        self, principal: Principal, seconds: int, label: str | None, source: str, *, method: str
    ) -> LoginResult:
        """A new session token for an authenticated principal (after its password, and code if any)."""
        token = random_token(TOKEN_PREFIX.rstrip("_"))
        now = self._clock.now()
        new = NewToken(
            id=secrets.token_hex(8),
            user_id=principal.user_id,
            digest=self.digest(token),
            kind=SESSION_KIND,
            label=label,
            created_at=now,
            expires_at=now + timedelta(seconds=seconds),
            session_seconds=seconds,
        )
        async with self._storage.transaction() as tx:
            await tx.sessions.delete_expired(principal.user_id, now)
            await tx.sessions.create_token(new)
            await tx.audit.record(
                self._event(
                    AuditTag.SESSION_CREATED,
                    principal,
                    principal.username,
                    fingerprint=new.id,
                    label=label,
                    expiresAt=new.expires_at.isoformat(),
                    method=method,
                    source=source,
                )
            )
        return LoginResult(token, new.expires_at, principal, False, None, principal.mfa_enrollment_pending)

    def digest(self, token: str) -> str:
        return self._pepper.digest(_TOKEN_PURPOSE, token)

    # -- token authentication -------------------------------------------------------------------

    async def session_for_token(self, token: str, source: str) -> TokenSession:
        """The session of a presented token, with its user read fresh; the uniform Unauthenticated
        (after the minimum delay) when the token is unknown, expired, revoked, or its user disabled."""
        started = self._authenticator.started()
        self._authenticator.check_source(source)
        if not looks_like_token(token) or len(token) > _MAX_TOKEN_CHARS or not token.isascii():
            await self._authenticator.reject_token(source, started, "malformed token")
        async with self._storage.read() as tx:
            found = await tx.sessions.token_by_digest(self.digest(token))
        if found is None or found.kind != SESSION_KIND:
            await self._authenticator.reject_token(source, started, "unknown or revoked token")
        if found.expires_at <= self._clock.now():
            await self._authenticator.reject_token(source, started, f"expired token {found.id}")
        record = await self._storage.auth_record(found.tenant_id, found.username)
        if record is None or record.user_id != found.user_id or not record.enabled:
            await self._authenticator.reject_token(source, started, f"token {found.id} of a disabled user")
        return TokenSession(record.principal(), found.id, found.expires_at, found.label)

    async def principal_for_token(self, token: str, source: str) -> Principal:
        """The principal of a presented token (for the broker hooks and other surfaces that cannot
        show the MFA enrollment restriction: a principal with enrollment pending is refused)."""
        session = await self.session_for_token(token, source)
        if session.principal.mfa_enrollment_pending:
            started = self._authenticator.started()
            await self._authenticator.reject_token(source, started, f"token {session.token_id}: MFA enrollment pending")
        return session.principal

    async def mfa_status(self, caller: Principal) -> tuple[bool, bool]:
        """(enrolled, enforced) for the caller, read fresh."""
        record = await self._storage.auth_record(caller.tenant_id, caller.username)
        if record is None or record.user_id != caller.user_id:
            return False, False
        return record.mfa_enrolled, record.mfa_enforced

    # -- tokens of a user -----------------------------------------------------------------------

    async def target_user(self, caller: Principal, user_id: int) -> UserRef:
        """A user the caller may see (404 otherwise, whether it exists or not)."""
        async with self._storage.read() as tx:
            found = await tx.sessions.user_ref(user_id)
        if found is None or not caller.can_see_tenant(found.tenant_id):
            raise NotFound(f"There is no user {user_id}", entity="user")
        return found

    async def list_tokens(self, caller: Principal, user_id: int) -> list[TokenInfo]:
        target = await self.target_user(caller, user_id)
        async with self._storage.read() as tx:
            return await tx.sessions.tokens_of(target.user_id, self._clock.now())

    async def revoke_tokens(self, caller: Principal, user_id: int, token_id: str | None) -> int:
        target = await self.target_user(caller, user_id)
        async with self._storage.transaction() as tx:
            count = await tx.sessions.revoke(target.user_id, token_id, None)
            await tx.audit.record(
                self._event(
                    AuditTag.SESSIONS_REVOKED,
                    caller,
                    target.username,
                    tenant_id=target.tenant_id,
                    fingerprint=token_id,
                    revoked=count,
                )
            )
        return count

    # -- own password ---------------------------------------------------------------------------

    async def change_password(
        self, caller: Principal, current_token: str | None, source: str, password: str, new_password: str
    ) -> int:
        """Change the caller's own password after checking the current one (with the brute-force
        rules of every password check). Every other token of the caller is revoked; the one in use
        (if any) stays valid. Returns how many tokens were revoked."""
        presented = PresentedCredentials(caller.tenant_id, caller.username, password, source)
        record = await self._storage.auth_record(caller.tenant_id, caller.username)
        if record is None or record.user_id != caller.user_id:
            raise NotFound("There is no such user", entity="user")
        try:
            await self._authenticator.verify(presented, record, second_factor_follows=True)
        except Unauthenticated as exc:
            raise PermissionDenied("The current password is not correct", field="password") from exc
        self._password_policy.check(new_password, caller.username)
        password_hash = await self._verifier.run_blocking_hash(new_password)
        async with self._storage.transaction() as tx:
            if not await tx.users.set_password_hash(caller.tenant_id, caller.username, password_hash):
                raise NotFound("There is no such user", entity="user")
            revoked = await tx.sessions.revoke(caller.user_id, None, current_token)
            await tx.audit.record(
                self._event(AuditTag.USER_PASSWORD_CHANGED, caller, caller.username, revokedTokens=revoked)
            )
        return revoked

    def _event(
        self, tag: AuditTag, actor: Principal, subject: str, *, tenant_id: str | None = None, **detail: object
    ) -> AuditEvent:
        return AuditEvent(
            tag=tag,
            tenant_id=tenant_id or actor.tenant_id,
            actor=f"{actor.tenant_id}/{actor.username}",
            subject=subject,
            at=self._clock.now(),
            detail=dict(detail),
        )
