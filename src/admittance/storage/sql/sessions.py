"""API tokens, MFA challenges, TOTP state and backup codes in SQL (tables api_tokens, users.mfa_*,
mfa_backup_codes). Single use and no code reuse are settled by the database: conditional UPDATEs and
DELETEs whose row counts say who won."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from admittance.identity.model import MfaState, NewToken, TokenInfo, TokenRecord, UserRef
from admittance.identity.sessions import CHALLENGE_KIND, SESSION_KIND
from admittance.kernel.clock import Clock, from_millis, to_millis
from admittance.storage.database import Executor, Row

_SELECTED = "t.id, t.user_id, t.kind, t.label, t.created_at, t.expires_at, t.session_seconds, u.tenant_id, u.username"


def _token(row: Row) -> TokenRecord:
    return TokenRecord(
        id=row["id"],
        user_id=row["user_id"],
        tenant_id=row["tenant_id"],
        username=row["username"],
        kind=row["kind"],
        label=row["label"],
        created_at=from_millis(row["created_at"]),
        expires_at=from_millis(row["expires_at"]),
        session_seconds=row["session_seconds"],
    )


class SqlSessionStore:
    def __init__(self, executor: Executor, clock: Clock) -> None:
        self._db = executor
        self._clock = clock

    async def create_token(self, token: NewToken) -> None:
        await self._db.execute(
            "INSERT INTO api_tokens (id, user_id, digest, kind, label, created_at, expires_at, session_seconds) "
            "VALUES (:id, :user_id, :digest, :kind, :label, :created_at, :expires_at, :session_seconds)",
            {
                "id": token.id,
                "user_id": token.user_id,
                "digest": token.digest,
                "kind": token.kind,
                "label": token.label,
                "created_at": to_millis(token.created_at),
                "expires_at": to_millis(token.expires_at),
                "session_seconds": token.session_seconds,
            },
        )

    async def token_by_digest(self, digest: str) -> TokenRecord | None:
        row = await self._db.fetch_one(
            f"SELECT {_SELECTED} FROM api_tokens t JOIN users u ON u.id = t.user_id WHERE t.digest = :digest",
            {"digest": digest},
        )
        return _token(row) if row else None

    async def consume_challenge(self, digest: str) -> TokenRecord | None:
        row = await self._db.fetch_one(
            "DELETE FROM api_tokens WHERE digest = :digest AND kind = :kind "
            "RETURNING id, user_id, kind, label, created_at, expires_at, session_seconds",
            {"digest": digest, "kind": CHALLENGE_KIND},
        )
        if row is None:
            return None
        user = await self.user_ref(row["user_id"])
        if user is None:
            return None
        return TokenRecord(
            id=row["id"],
            user_id=row["user_id"],
            tenant_id=user.tenant_id,
            username=user.username,
            kind=row["kind"],
            label=row["label"],
            created_at=from_millis(row["created_at"]),
            expires_at=from_millis(row["expires_at"]),
            session_seconds=row["session_seconds"],
        )

    async def tokens_of(self, user_id: int, now: datetime) -> list[TokenInfo]:
        found = await self._db.fetch_all(
            "SELECT id, created_at, expires_at, label FROM api_tokens "
            "WHERE user_id = :user_id AND kind = :kind AND expires_at > :now ORDER BY created_at, id",
            {"user_id": user_id, "kind": SESSION_KIND, "now": to_millis(now)},
        )
        return [
            TokenInfo(row["id"], from_millis(row["created_at"]), from_millis(row["expires_at"]), row["label"])
            for row in found
        ]

    async def revoke(self, user_id: int, token_id: str | None, keep: str | None) -> int:
        if token_id is not None:
            return await self._db.execute(
                "DELETE FROM api_tokens WHERE user_id = :user_id AND id = :id", {"user_id": user_id, "id": token_id}
            )
        return await self._db.execute(
            "DELETE FROM api_tokens WHERE user_id = :user_id AND id <> :keep",
            {"user_id": user_id, "keep": keep or ""},
        )

    async def delete_expired(self, user_id: int, now: datetime) -> None:
        await self._db.execute(
            "DELETE FROM api_tokens WHERE user_id = :user_id AND expires_at <= :now",
            {"user_id": user_id, "now": to_millis(now)},
        )

    async def user_ref(self, user_id: int) -> UserRef | None:
        row = await self._db.fetch_one("SELECT id, tenant_id, username FROM users WHERE id = :id", {"id": user_id})
        return UserRef(row["id"], row["tenant_id"], row["username"]) if row else None

    async def mfa_state(self, user_id: int) -> MfaState | None:
        row = await self._db.fetch_one(
            "SELECT id, mfa_secret, mfa_pending_secret, mfa_last_step FROM users WHERE id = :id", {"id": user_id}
        )
        if row is None:
            return None
        return MfaState(row["id"], row["mfa_secret"], row["mfa_pending_secret"], row["mfa_last_step"])

    async def set_pending_secret(self, user_id: int, sealed: str) -> None:
        await self._db.execute(
            "UPDATE users SET mfa_pending_secret = :sealed WHERE id = :id", {"sealed": sealed, "id": user_id}
        )

    async def enroll(self, user_id: int, pending: str, step: int) -> bool:
        changed = await self._db.execute(
            "UPDATE users SET mfa_secret = mfa_pending_secret, mfa_pending_secret = NULL, mfa_last_step = :step "
            "WHERE id = :id AND mfa_secret IS NULL AND mfa_pending_secret = :pending",
            {"step": step, "id": user_id, "pending": pending},
        )
        return changed == 1

    async def advance_step(self, user_id: int, step: int) -> bool:
        changed = await self._db.execute(
            "UPDATE users SET mfa_last_step = :step "
            "WHERE id = :id AND mfa_secret IS NOT NULL AND (mfa_last_step IS NULL OR mfa_last_step < :step)",
            {"step": step, "id": user_id},
        )
        return changed == 1

    async def replace_backup_codes(self, user_id: int, digests: Sequence[str]) -> None:
        await self._db.execute("DELETE FROM mfa_backup_codes WHERE user_id = :user_id", {"user_id": user_id})
        await self._db.execute_many(
            "INSERT INTO mfa_backup_codes (user_id, digest) VALUES (:user_id, :digest)",
            [{"user_id": user_id, "digest": digest} for digest in digests],
        )

    async def use_backup_code(self, user_id: int, digest: str) -> bool:
        deleted = await self._db.execute(
            "DELETE FROM mfa_backup_codes WHERE user_id = :user_id AND digest = :digest",
            {"user_id": user_id, "digest": digest},
        )
        return deleted == 1

    async def disable_mfa(self, user_id: int) -> bool:
        changed = await self._db.execute(
            "UPDATE users SET mfa_secret = NULL, mfa_pending_secret = NULL, mfa_last_step = NULL "
            "WHERE id = :id AND (mfa_secret IS NOT NULL OR mfa_pending_secret IS NOT NULL)",
            {"id": user_id},
        )
        await self._db.execute("DELETE FROM mfa_backup_codes WHERE user_id = :user_id", {"user_id": user_id})
        await self._db.execute(
            "DELETE FROM api_tokens WHERE user_id = :user_id AND kind = :kind",
            {"user_id": user_id, "kind": CHALLENGE_KIND},
        )
        return changed == 1
