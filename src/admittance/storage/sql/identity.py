"""Tenants and users in SQL."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

from admittance.identity.model import SecurityTokenPolicy, Tenant, User, UserAuthRecord, UserKind
from admittance.kernel.clock import Clock, to_millis
from admittance.kernel.errors import Conflict
from admittance.storage.database import Executor
from admittance.storage.sql import rows
from admittance.storage.sql.directory import stored_permissions


class SqlTenantStore:
    def __init__(self, executor: Executor, clock: Clock) -> None:
        self._db = executor
        self._clock = clock

    async def create(self, tenant_id: str, policy: SecurityTokenPolicy, device_limit: int | None) -> Tenant:
        row = await self._db.fetch_one(
            "INSERT INTO tenants (id, security_token_policy, device_limit, created_at) "
            "VALUES (:id, :policy, :limit, :now) ON CONFLICT (id) DO NOTHING RETURNING *",
            {"id": tenant_id, "policy": policy.value, "limit": device_limit, "now": to_millis(self._clock.now())},
        )
        if row is None:
            raise Conflict(f"The tenant {tenant_id} exists already.", entity="tenant")
        return rows.tenant(row)

    async def get(self, tenant_id: str) -> Tenant | None:
        row = await self._db.fetch_one("SELECT * FROM tenants WHERE id = :id", {"id": tenant_id})
        return rows.tenant(row) if row else None

    async def all(self) -> list[Tenant]:
        return [rows.tenant(row) for row in await self._db.fetch_all("SELECT * FROM tenants ORDER BY id")]

    async def set_policy(self, tenant_id: str, policy: SecurityTokenPolicy) -> None:
        await self._db.execute(
            "UPDATE tenants SET security_token_policy = :policy WHERE id = :id",
            {"policy": policy.value, "id": tenant_id},
        )


_USER_COLUMNS = "u.id, u.tenant_id, u.username, u.password_hash, u.kind, u.enabled, u.created_at"


class SqlUserStore:
    def __init__(self, executor: Executor, clock: Clock) -> None:
        self._db = executor
        self._clock = clock

    async def create(
        self, tenant_id: str, username: str, password_hash: str, kind: UserKind, roles: Iterable[str]
    ) -> User:
        now = to_millis(self._clock.now())
        row = await self._db.fetch_one(
            "INSERT INTO users (tenant_id, username, password_hash, kind, enabled, created_at, password_changed_at) "
            "VALUES (:tenant, :username, :hash, :kind, :enabled, :now, :now) "
            "ON CONFLICT (tenant_id, username) DO NOTHING RETURNING id",
            {
                "tenant": tenant_id,
                "username": username,
                "hash": password_hash,
                "kind": kind.value,
                "enabled": True,
                "now": now,
            },
        )
        if row is None:
            raise Conflict(f"The user {username} exists already in tenant {tenant_id}.", entity="user")
        await self._grant(row["id"], roles)
        created = await self.get(tenant_id, username)
        assert created is not None
        return created

    async def upsert_device_user(self, tenant_id: str, username: str, password_hash: str, role: str) -> None:
        # One statement, so that issuing credentials costs few round trips: insert, or reset the
        # password of the existing device user; a person's account of that name is never touched.
        now = to_millis(self._clock.now())
        row = await self._db.fetch_one(
            "INSERT INTO users (tenant_id, username, password_hash, kind, enabled, created_at, password_changed_at) "
            "VALUES (:tenant, :username, :hash, :kind, :enabled, :now, :now) "
            "ON CONFLICT (tenant_id, username) DO UPDATE SET password_hash = excluded.password_hash, "
            "enabled = excluded.enabled, password_changed_at = excluded.password_changed_at "
            "WHERE users.kind = :kind RETURNING id",
            {
                "tenant": tenant_id,
                "username": username,
                "hash": password_hash,
                "kind": UserKind.DEVICE.value,
                "enabled": True,
                "now": now,
            },
        )
        if row is None:
            raise Conflict(f"The user name {username} belongs to a user who is not a device.", entity="user")
        await self._db.execute(
            "INSERT INTO user_roles (user_id, role_id) VALUES (:user_id, :role) ON CONFLICT DO NOTHING",
            {"user_id": row["id"], "role": role},
        )

    async def _grant(self, user_id: int, roles: Iterable[str]) -> None:
        await self._db.execute_many(
            "INSERT INTO user_roles (user_id, role_id) VALUES (:user_id, :role) ON CONFLICT DO NOTHING",
            [{"user_id": user_id, "role": role} for role in roles],
        )

    async def get(self, tenant_id: str, username: str) -> User | None:
        row = await self._db.fetch_one(
            f"SELECT {_USER_COLUMNS}, {self._db.dialect.role_list} AS roles FROM users u "
            "WHERE u.tenant_id = :tenant AND u.username = :username",
            {"tenant": tenant_id, "username": username},
        )
        return rows.user(row) if row else None

    async def auth_record(self, tenant_id: str, username: str) -> UserAuthRecord | None:
        return await auth_record(self._db, tenant_id, username)

    async def in_tenant(self, tenant_id: str) -> list[User]:
        found = await self._db.fetch_all(
            f"SELECT {_USER_COLUMNS}, {self._db.dialect.role_list} AS roles FROM users u "
            "WHERE u.tenant_id = :tenant ORDER BY u.username",
            {"tenant": tenant_id},
        )
        return [rows.user(row) for row in found]

    async def set_password_hash(self, tenant_id: str, username: str, password_hash: str) -> bool:
        changed = await self._db.execute(
            "UPDATE users SET password_hash = :hash, password_changed_at = :now "
            "WHERE tenant_id = :tenant AND username = :username",
            {"hash": password_hash, "now": to_millis(self._clock.now()), "tenant": tenant_id, "username": username},
        )
        return changed > 0

    async def count_devices(self, tenant_id: str) -> int:
        row = await self._db.fetch_one(
            "SELECT count(*) AS n FROM users WHERE tenant_id = :tenant AND kind = :kind",
            {"tenant": tenant_id, "kind": UserKind.DEVICE.value},
        )
        return int(row["n"]) if row else 0


async def auth_record(executor: Executor, tenant_id: str, username: str) -> UserAuthRecord | None:
    row = await executor.fetch_one(
        f"SELECT u.id, u.tenant_id, u.username, u.password_hash, u.enabled, {executor.dialect.role_list} AS roles, "
        "u.mfa_secret IS NOT NULL AS mfa_enrolled, u.enforce_mfa_enrollment "
        "FROM users u WHERE u.tenant_id = :tenant AND u.username = :username",
        {"tenant": tenant_id, "username": username},
    )
    if row is None:
        return None
    record = rows.auth_record(row)
    return replace(
        record,
        # Permissions of custom roles: a second query only for users who hold such a role.
        stored_permissions=await stored_permissions(executor, record.user_id, record.roles),
        mfa_enrolled=bool(row["mfa_enrolled"]),
        mfa_enforced=bool(row["enforce_mfa_enrollment"]),
    )
