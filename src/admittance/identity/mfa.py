"""TOTP multi-factor authentication (RFC 6238: SHA-1, 6 digits, 30 s, ±1 step) with backup codes.

- Secrets are sealed at rest (AES-GCM, kernel/sealing.py) with the user id as associated data.
- A code is accepted once: the last used step is stored and only a later step is accepted, settled
  by one conditional UPDATE (two concurrent logins with the same code: one wins).
- Backup codes: 12 codes of 12 characters from ABCDEFGHIJKLMNPQRSTUVWXYZ123456789 (about 61 bits
  each, as Keycloak's recovery codes), stored as keyed digests, each deleted by its use.
- Every code check is rate limited per account (otp lockout) and per source address, and a failure
  answers after the minimum delay. The MFA challenge of the login's first step is single use: any
  attempt consumes it, right or wrong.
"""

from __future__ import annotations

import logging
import secrets

from admittance.audit import AuditEvent, AuditTag
from admittance.identity.authentication import Authenticator
from admittance.identity.model import UserAuthRecord
from admittance.identity.sessions import CHALLENGE_PREFIX, LoginResult, SessionService
from admittance.identity.store import SessionStorage
from admittance.kernel import totp
from admittance.kernel.clock import Clock
from admittance.kernel.errors import (
    AdmittanceError,
    Conflict,
    InvalidInput,
    InvalidState,
    NotFound,
    PermissionDenied,
    Unauthenticated,
)
from admittance.kernel.principal import Principal
from admittance.kernel.sealing import Sealer, SealError
from admittance.kernel.secrets import Pepper

log = logging.getLogger("admittance.auth")

BACKUP_CODE_ALPHABET = "ABCDEFGHIJKLMNPQRSTUVWXYZ123456789"
BACKUP_CODE_COUNT = 12
BACKUP_CODE_LENGTH = 12
_MAX_CODE_CHARS = 64


def new_backup_codes() -> list[str]:
    return [
        "".join(secrets.choice(BACKUP_CODE_ALPHABET) for _ in range(BACKUP_CODE_LENGTH))
        for _ in range(BACKUP_CODE_COUNT)
    ]


def _normalized_backup_code(code: str) -> str:
    return code.replace("-", "").replace(" ", "").upper()


class MfaService:
    def __init__(
        self,
        storage: SessionStorage,
        sessions: SessionService,
        authenticator: Authenticator,
        sealer: Sealer,
        pepper: Pepper,
        clock: Clock,
    ) -> None:
        self._storage = storage
        self._sessions = sessions
        self._authenticator = authenticator
        self._sealer = sealer
        self._pepper = pepper
        self._clock = clock

    # -- enrollment -----------------------------------------------------------------------------

    async def enable(self, caller: Principal) -> str:
        """Start enrollment: a new pending secret; the otpauth:// URI to show (as QR code)."""
        async with self._storage.transaction() as tx:
            state = await tx.sessions.mfa_state(caller.user_id)
            if state is None:
                raise NotFound("There is no such user", entity="user")
            if state.secret is not None:
                raise Conflict("MFA is already enabled for this user; disable it first", entity="mfa")
            secret = totp.new_secret()
            await tx.sessions.set_pending_secret(caller.user_id, self._seal(caller.user_id, secret))
            await tx.audit.record(self._event(AuditTag.MFA_ENROLLMENT_STARTED, caller))
        return totp.provisioning_uri(secret, caller.username, self._sessions.policy.mfa_issuer)

    async def pending_enrollment(self, caller: Principal) -> str:
        """The otpauth:// URI of the enrollment in progress, starting one when there is none: a page
        that shows the QR code again (reload, back button) must not replace the secret just scanned."""
        async with self._storage.read() as tx:
            state = await tx.sessions.mfa_state(caller.user_id)
        if state is not None and state.secret is None and state.pending_secret is not None:
            secret = self._open(caller.user_id, state.pending_secret)
            if secret:
                return totp.provisioning_uri(secret, caller.username, self._sessions.policy.mfa_issuer)
        return await self.enable(caller)

    async def validate(self, caller: Principal, otp: str, source: str) -> list[str]:
        """Finish enrollment with a first code of the pending secret: the backup codes, shown once."""
        started = self._authenticator.started()
        self._authenticator.check_otp(caller.tenant_id, caller.username, source)
        async with self._storage.read() as tx:
            state = await tx.sessions.mfa_state(caller.user_id)
        if state is None:
            raise NotFound("There is no such user", entity="user")
        if state.secret is not None:
            raise Conflict("MFA is already enabled for this user", entity="mfa")
        if state.pending_secret is None:
            raise InvalidState("There is no MFA enrollment in progress: call /api/mfa/enable first", entity="mfa")
        secret = self._open(caller.user_id, state.pending_secret)
        step = totp.matching_step(secret, otp, self._clock.now().timestamp()) if secret else None
        if step is None:
            await self._authenticator.fail_otp(
                caller.tenant_id,
                caller.username,
                source,
                started,
                "wrong code at MFA enrollment",
                InvalidInput("The one-time password is not valid", entity="mfa", field="otp"),
            )
        codes = new_backup_codes()
        async with self._storage.transaction() as tx:
            if not await tx.sessions.enroll(caller.user_id, state.pending_secret, step):
                raise Conflict("The MFA enrollment changed meanwhile: start it again", entity="mfa")
            await tx.sessions.replace_backup_codes(
                caller.user_id, [self._code_digest(caller.user_id, c) for c in codes]
            )
            await tx.audit.record(self._event(AuditTag.MFA_ENABLED, caller))
        self._authenticator.otp_succeeded(caller.tenant_id, caller.username)
        return codes

    # -- login, second step ---------------------------------------------------------------------

    async def login(
        self, tenant_id: str, username: str, challenge: str, otp: str | None, backup_code: str | None, source: str
    ) -> LoginResult:
        """The second step of a login: the challenge of the first step and a code; a session token."""
        started = self._authenticator.started()
        self._authenticator.check_otp(tenant_id, username, source)

        async def refuse(reason: str) -> LoginResult:
            await self._authenticator.fail_otp(
                tenant_id, username, source, started, reason, Unauthenticated(reason=reason)
            )

        if not challenge.startswith(CHALLENGE_PREFIX) or len(challenge) > 200 or not challenge.isascii():
            return await refuse("malformed MFA challenge")
        async with self._storage.transaction() as tx:
            found = await tx.sessions.consume_challenge(self._sessions.digest(challenge))
        if found is None or found.expires_at <= self._clock.now():
            return await refuse("unknown, used or expired MFA challenge")
        if (found.tenant_id, found.username.lower()) != (tenant_id, username.lower()):
            return await refuse("MFA challenge of another user")
        record = await self._storage.auth_record(found.tenant_id, found.username)
        if record is None or record.user_id != found.user_id or not record.enabled or not record.mfa_enrolled:
            return await refuse("user disabled or MFA no longer enrolled")
        error = Unauthenticated(reason="wrong code at MFA login")
        method = await self._check_second_factor(record, otp, backup_code, source, started, error)
        seconds = found.session_seconds or int(self._sessions.policy.token_expire_hours * 3600)
        return await self._sessions.issue(record.principal(), seconds, found.label, source, method=method)

    # -- management of one's own MFA ------------------------------------------------------------

    async def disable(self, caller: Principal, otp: str | None, backup_code: str | None, source: str) -> None:
        record = await self._enrolled(caller)
        started = self._authenticator.started()
        self._authenticator.check_otp(caller.tenant_id, caller.username, source)
        await self._check_second_factor(record, otp, backup_code, source, started, self._denied())
        async with self._storage.transaction() as tx:
            await tx.sessions.disable_mfa(caller.user_id)
            await tx.audit.record(self._event(AuditTag.MFA_DISABLED, caller))

    async def disable_for(self, actor: Principal, user_id: int) -> bool:
        """An administrator turns MFA off for a user (PUT /api/users/{id} disableMfa); the caller has
        checked the actor's permission and the user's visibility. False when nothing was enrolled."""
        async with self._storage.transaction() as tx:
            target = await tx.sessions.user_ref(user_id)
            if target is None:
                raise NotFound(f"There is no user {user_id}", entity="user")
            changed = await tx.sessions.disable_mfa(user_id)
            if changed:
                await tx.audit.record(self._event(AuditTag.MFA_DISABLED, actor, target.username, target.tenant_id))
        return changed

    async def regenerate_backup_codes(
        self, caller: Principal, otp: str | None, backup_code: str | None, source: str
    ) -> list[str]:
        record = await self._enrolled(caller)
        started = self._authenticator.started()
        self._authenticator.check_otp(caller.tenant_id, caller.username, source)
        await self._check_second_factor(record, otp, backup_code, source, started, self._denied())
        codes = new_backup_codes()
        async with self._storage.transaction() as tx:
            await tx.sessions.replace_backup_codes(
                caller.user_id, [self._code_digest(caller.user_id, c) for c in codes]
            )
            await tx.audit.record(self._event(AuditTag.MFA_BACKUP_CODES_REGENERATED, caller))
        return codes

    # -- helpers --------------------------------------------------------------------------------

    @staticmethod
    def _denied() -> PermissionDenied:
        return PermissionDenied("Invalid one-time password or backup code", entity="mfa")

    async def _enrolled(self, caller: Principal) -> UserAuthRecord:
        record = await self._storage.auth_record(caller.tenant_id, caller.username)
        if record is None or record.user_id != caller.user_id:
            raise NotFound("There is no such user", entity="user")
        if not record.mfa_enrolled:
            raise InvalidState("MFA is not enabled for this user", entity="mfa")
        return record

    async def _check_second_factor(
        self,
        record: UserAuthRecord,
        otp: str | None,
        backup_code: str | None,
        source: str,
        started: float,
        error: AdmittanceError,
    ) -> str:
        """Check a TOTP code (not used before) or a backup code (consumed); the method used."""
        tenant_id, username = record.tenant_id, record.username
        if otp:
            async with self._storage.read() as tx:
                state = await tx.sessions.mfa_state(record.user_id)
            secret = self._open(record.user_id, state.secret) if state and state.secret else None
            step = totp.matching_step(secret, otp, self._clock.now().timestamp()) if secret else None
            if step is None:
                await self._authenticator.fail_otp(
                    tenant_id, username, source, started, "wrong one-time password", error
                )
            async with self._storage.transaction() as tx:
                fresh = await tx.sessions.advance_step(record.user_id, step)
            if not fresh:
                await self._authenticator.fail_otp(
                    tenant_id, username, source, started, "one-time password reused", error
                )
            self._authenticator.otp_succeeded(tenant_id, username)
            return "totp"
        if backup_code:
            if len(backup_code) > _MAX_CODE_CHARS:
                await self._authenticator.fail_otp(tenant_id, username, source, started, "malformed backup code", error)
            digest = self._code_digest(record.user_id, _normalized_backup_code(backup_code))
            async with self._storage.transaction() as tx:
                used = await tx.sessions.use_backup_code(record.user_id, digest)
            if not used:
                await self._authenticator.fail_otp(tenant_id, username, source, started, "wrong backup code", error)
            self._authenticator.otp_succeeded(tenant_id, username)
            log.info("backup code used by %s/%s", tenant_id, username)
            return "backup-code"
        raise InvalidInput("otp or backupCode is required", entity="mfa", field="otp")

    def _seal(self, user_id: int, secret: str) -> str:
        return self._sealer.seal(secret, f"user:{user_id}")

    def _open(self, user_id: int, sealed: str) -> str | None:
        try:
            return self._sealer.open(sealed, f"user:{user_id}")
        except SealError:
            log.error("the TOTP secret of user %s cannot be opened (server key changed?)", user_id)
            return None

    def _code_digest(self, user_id: int, code: str) -> str:
        return self._pepper.digest(f"mfa-backup-code:{user_id}", code)

    def _event(
        self, tag: AuditTag, actor: Principal, subject: str | None = None, tenant_id: str | None = None
    ) -> AuditEvent:
        return AuditEvent(
            tag=tag,
            tenant_id=tenant_id or actor.tenant_id,
            actor=f"{actor.tenant_id}/{actor.username}",
            subject=subject or actor.username,
            at=self._clock.now(),
            detail={},
        )
