"""What imports keep beside the job queue, in SQL: manifests staged for a preview (the console), and the
stored passwords that still wait for argon2id (the password-wrap job)."""

from __future__ import annotations

from admittance.devices.bulk.store import StagedImport
from admittance.kernel.clock import from_millis, to_millis
from admittance.kernel.passwords import PENDING_SCHEME
from admittance.storage.database import Executor


class SqlStagedImportStore:
    def __init__(self, executor: Executor) -> None:
        self._db = executor

    async def stage(self, staged: StagedImport, content: bytes) -> None:
        """Keep an uploaded manifest; the expired ones of every user go at the same time."""
        await self._db.execute(
            "DELETE FROM staged_imports WHERE expires_at < :now", {"now": to_millis(staged.created_at)}
        )
        await self._db.execute(
            "INSERT INTO staged_imports (id, tenant_id, user_id, filename, size, content, created_at, expires_at) "
            "VALUES (:id, :tenant, :user, :filename, :size, :content, :created, :expires)",
            {
                "id": staged.id,
                "tenant": staged.tenant_id,
                "user": staged.user_id,
                "filename": staged.filename,
                "size": staged.size,
                "content": content,
                "created": to_millis(staged.created_at),
                "expires": to_millis(staged.expires_at),
            },
        )

    async def get(self, staged_id: str) -> tuple[StagedImport, bytes] | None:
        row = await self._db.fetch_one(
            "SELECT id, tenant_id, user_id, filename, size, content, created_at, expires_at "
            "FROM staged_imports WHERE id = :id",
            {"id": staged_id},
        )
        if row is None:
            return None
        staged = StagedImport(
            id=row["id"],
            tenant_id=row["tenant_id"],
            user_id=int(row["user_id"]),
            filename=row["filename"],
            size=int(row["size"]),
            created_at=from_millis(row["created_at"]),
            expires_at=from_millis(row["expires_at"]),
        )
        return staged, bytes(row["content"])

    async def drop(self, staged_id: str) -> bool:
        """Remove a staged manifest; False when it was gone already (imported, discarded, expired)."""
        changed = await self._db.execute("DELETE FROM staged_imports WHERE id = :id", {"id": staged_id})
        return changed > 0


class SqlPendingPasswordStore:
    def __init__(self, executor: Executor) -> None:
        self._db = executor

    async def after(self, tenant_id: str, after_user_id: int, limit: int) -> list[tuple[int, str]]:
        found = await self._db.fetch_all(
            "SELECT id, password_hash FROM users WHERE tenant_id = :tenant AND id > :after "
            "AND password_hash LIKE :pending ORDER BY id LIMIT :limit",
            {"tenant": tenant_id, "after": after_user_id, "pending": PENDING_SCHEME + "$%", "limit": limit},
        )
        return [(row["id"], row["password_hash"]) for row in found]

    async def replace(self, user_id: int, expected: str, new: str) -> bool:
        changed = await self._db.execute(
            "UPDATE users SET password_hash = :new WHERE id = :id AND password_hash = :expected",
            {"id": user_id, "expected": expected, "new": new},
        )
        return changed > 0

    async def count(self, tenant_id: str) -> int:
        row = await self._db.fetch_one(
            "SELECT count(*) AS n FROM users WHERE tenant_id = :tenant AND password_hash LIKE :pending",
            {"tenant": tenant_id, "pending": PENDING_SCHEME + "$%"},
        )
        return int(row["n"]) if row else 0
