"""The directory in SQL: users as /api shows them, stored roles and their permissions, certificates.

Built-in roles have rows in `roles` (builtin = TRUE, tenant_id NULL) but their permissions live in
code (kernel/access.py); stored roles keep theirs in `role_permissions`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import orjson

from admittance.identity.directory_model import (
    DEFAULT_GRANT_TYPES,
    Certificate,
    DirectoryUser,
    GrantMethod,
    GrantType,
    NewCertificate,
    Role,
    SessionToken,
    StoredPermission,
    builtin_role,
)
from admittance.identity.model import UserKind
from admittance.kernel.access import BUILTIN_ROLES, Context, Operation, Permission
from admittance.kernel.clock import Clock, from_millis, to_millis
from admittance.kernel.errors import Conflict
from admittance.kernel.principal import MANAGEMENT_TENANT
from admittance.storage.database import Executor, Row
from admittance.storage.sql import rows

_USER_COLUMNS = (
    "u.id, u.tenant_id, u.username, u.kind, u.auto_generated, u.mqtt_publish_prefix, u.identity_provider, "
    "u.grant_types, u.enforce_mfa_enrollment, u.mfa_secret IS NOT NULL AS mfa_enrolled, u.enabled"
)


def _text_list(executor: Executor, name: str) -> str:
    """`IN` the strings of the JSON array bound as `:name`."""
    if executor.dialect.name == "postgresql":
        return f"IN (SELECT jsonb_array_elements_text(CAST(:{name} AS jsonb)))"
    return f"IN (SELECT value FROM json_each(:{name}))"


def _json(values: Sequence[Any]) -> str:
    return orjson.dumps(list(values)).decode()


def grant_types_json(grant_types: Sequence[GrantType]) -> str:
    return rows.dumps([{"method": grant.method.value, "isRequired": grant.is_required} for grant in grant_types])


def grant_types_of(text: str | None) -> tuple[GrantType, ...]:
    try:
        document = orjson.loads(text or "[]")
        parsed = tuple(GrantType(GrantMethod(item["method"]), bool(item.get("isRequired"))) for item in document)
    except (orjson.JSONDecodeError, TypeError, KeyError, ValueError, AttributeError):
        return DEFAULT_GRANT_TYPES
    return parsed or DEFAULT_GRANT_TYPES


def permission_of(row: Row) -> Permission | None:
    try:
        return Permission(Context(row["context"]), Operation(row["operation"]), row["resource"])
    except ValueError:
        return None  # never written by us; ignored rather than granting something unknown


async def stored_permissions(executor: Executor, user_id: int, roles: frozenset[str]) -> frozenset[Permission]:
    """Permissions of the user's stored (custom and personal) roles. No query at all when the user
    holds built-in roles only: device and bootstrap authentication stays one round trip."""
    if all(role in BUILTIN_ROLES for role in roles):
        return frozenset()
    found = await executor.fetch_all(
        "SELECT rp.context, rp.operation, rp.resource FROM role_permissions rp "
        "JOIN user_roles ur ON ur.role_id = rp.role_id WHERE ur.user_id = :user_id",
        {"user_id": user_id},
    )
    return frozenset(grant for grant in (permission_of(row) for row in found) if grant is not None)


class SqlDirectoryStore:
    def __init__(self, executor: Executor, clock: Clock) -> None:
        self._db = executor
        self._clock = clock

    # -- users ------------------------------------------------------------------------------------

    async def create_user(
        self,
        tenant_id: str,
        username: str,
        password_hash: str,
        kind: UserKind,
        *,
        auto_generated: bool,
        mqtt_publish_prefix: str | None,
        identity_provider: str,
        grant_types: Sequence[GrantType],
        enforce_mfa_enrollment: bool,
    ) -> int:
        now = to_millis(self._clock.now())
        row = await self._db.fetch_one(
            "INSERT INTO users (tenant_id, username, password_hash, kind, enabled, created_at, password_changed_at, "
            "auto_generated, mqtt_publish_prefix, identity_provider, grant_types, enforce_mfa_enrollment) "
            "VALUES (:tenant, :username, :hash, :kind, :enabled, :now, :now, :auto, :prefix, :provider, :grants, "
            ":enforce) ON CONFLICT (tenant_id, username) DO NOTHING RETURNING id",
            {
                "tenant": tenant_id,
                "username": username,
                "hash": password_hash,
                "kind": kind.value,
                "enabled": True,
                "now": now,
                "auto": auto_generated,
                "prefix": mqtt_publish_prefix,
                "provider": identity_provider,
                "grants": grant_types_json(grant_types),
                "enforce": enforce_mfa_enrollment,
            },
        )
        if row is None:
            raise Conflict(f"The user {username} exists already.", entity="user")
        return int(row["id"])

    async def users(self, user_ids: Sequence[int], now: datetime) -> list[DirectoryUser]:
        if not user_ids:
            return []
        ids = _json(user_ids)
        found = await self._db.fetch_all(
            f"SELECT {_USER_COLUMNS} FROM users u WHERE u.id {self._db.dialect.id_list('ids')}", {"ids": ids}
        )
        grants = await self._db.fetch_all(
            "SELECT ur.user_id, r.id, r.tenant_id, r.name, r.is_shared, r.auto_generated, r.builtin "
            f"FROM user_roles ur JOIN roles r ON r.id = ur.role_id WHERE ur.user_id {self._db.dialect.id_list('ids')} "
            "ORDER BY r.name, r.id",
            {"ids": ids},
        )
        stored_ids = sorted({row["id"] for row in grants if not row["builtin"]})
        permissions = await self._permissions_of(stored_ids)
        roles_of: dict[int, list[Role]] = {}
        for row in grants:
            role = builtin_role(row["id"]) if row["builtin"] else None
            roles_of.setdefault(row["user_id"], []).append(role or _role(row, permissions.get(row["id"], ())))
        certificates: dict[int, list[Certificate]] = {}
        for row in await self._db.fetch_all(
            "SELECT user_id, fingerprint, created_at, expires_at FROM user_certificates "
            f"WHERE user_id {self._db.dialect.id_list('ids')} ORDER BY created_at, fingerprint",
            {"ids": ids},
        ):
            expires = from_millis(row["expires_at"]) if row["expires_at"] is not None else None
            certificates.setdefault(row["user_id"], []).append(
                Certificate(row["fingerprint"], from_millis(row["created_at"]), expires)
            )
        tokens: dict[int, list[SessionToken]] = {}
        for row in await self._db.fetch_all(
            "SELECT id, user_id, label, created_at, expires_at FROM api_tokens "
            f"WHERE user_id {self._db.dialect.id_list('ids')} AND kind = 'session' AND expires_at > :now "
            "ORDER BY created_at, id",
            {"ids": ids, "now": to_millis(now)},
        ):
            tokens.setdefault(row["user_id"], []).append(
                SessionToken(row["id"], from_millis(row["created_at"]), from_millis(row["expires_at"]), row["label"])
            )
        by_id = {
            row["id"]: DirectoryUser(
                id=row["id"],
                tenant_id=row["tenant_id"],
                username=row["username"],
                kind=UserKind(row["kind"]),
                auto_generated=bool(row["auto_generated"]),
                mqtt_publish_prefix=row["mqtt_publish_prefix"],
                identity_provider=row["identity_provider"],
                grant_types=grant_types_of(row["grant_types"]),
                enforce_mfa_enrollment=bool(row["enforce_mfa_enrollment"]),
                mfa_enrolled=bool(row["mfa_enrolled"]),
                roles=tuple(roles_of.get(row["id"], ())),
                certificates=tuple(certificates.get(row["id"], ())),
                tokens=tuple(tokens.get(row["id"], ())),
                enabled=bool(row["enabled"]),
            )
            for row in found
        }
        return [by_id[user_id] for user_id in user_ids if user_id in by_id]

    async def user_page(
        self,
        tenant_id: str | None,
        usernames: Sequence[str],
        exclude_auto_generated: bool,
        offset: int,
        limit: int,
        search: str = "",
    ) -> tuple[list[int], int]:
        conditions: list[str] = []
        params: dict[str, Any] = {}
        if tenant_id is not None:
            conditions.append("(u.tenant_id = :tenant OR (u.tenant_id = :management AND u.kind = :bootstrap))")
            params |= {"tenant": tenant_id, "management": MANAGEMENT_TENANT, "bootstrap": UserKind.BOOTSTRAP.value}
        if usernames:
            conditions.append(f"u.username {_text_list(self._db, 'usernames')}")
            params["usernames"] = _json(usernames)
        if search:
            escaped = rows.escape_like(search.lower())
            conditions.append("lower(u.username) LIKE :search ESCAPE '\\'")
            params["search"] = f"%{escaped}%"
        if exclude_auto_generated:
            conditions.append("u.auto_generated = :no AND u.kind = :human")
            params |= {"no": False, "human": UserKind.HUMAN.value}
        where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
        count = await self._db.fetch_one(f"SELECT count(*) AS n FROM users u{where}", params)
        found = await self._db.fetch_all(
            f"SELECT u.id FROM users u{where} ORDER BY u.username, u.tenant_id, u.id LIMIT :limit OFFSET :offset",
            {**params, "limit": limit, "offset": offset},
        )
        return [int(row["id"]) for row in found], int(count["n"]) if count else 0

    async def update_profile(
        self,
        user_id: int,
        *,
        username: str,
        mqtt_publish_prefix: str | None,
        identity_provider: str,
        grant_types: Sequence[GrantType],
        enforce_mfa_enrollment: bool,
    ) -> None:
        clash = await self._db.fetch_one(
            "SELECT 1 AS taken FROM users o JOIN users u ON u.tenant_id = o.tenant_id "
            "WHERE u.id = :id AND o.username = :username AND o.id <> :id",
            {"id": user_id, "username": username},
        )
        if clash is not None:
            raise Conflict(f"The user {username} exists already.", entity="user")
        await self._db.execute(
            "UPDATE users SET username = :username, mqtt_publish_prefix = :prefix, identity_provider = :provider, "
            "grant_types = :grants, enforce_mfa_enrollment = :enforce WHERE id = :id",
            {
                "id": user_id,
                "username": username,
                "prefix": mqtt_publish_prefix,
                "provider": identity_provider,
                "grants": grant_types_json(grant_types),
                "enforce": enforce_mfa_enrollment,
            },
        )

    async def set_password_hash(self, user_id: int, password_hash: str) -> None:
        await self._db.execute(
            "UPDATE users SET password_hash = :hash, password_changed_at = :now WHERE id = :id",
            {"hash": password_hash, "now": to_millis(self._clock.now()), "id": user_id},
        )

    async def set_enabled(self, user_id: int, enabled: bool) -> None:
        await self._db.execute(
            "UPDATE users SET enabled = :enabled WHERE id = :id", {"enabled": enabled, "id": user_id}
        )

    async def clear_mfa(self, user_id: int) -> None:
        await self._db.execute(
            "UPDATE users SET mfa_secret = NULL, mfa_pending_secret = NULL, mfa_last_step = NULL WHERE id = :id",
            {"id": user_id},
        )
        await self._db.execute("DELETE FROM mfa_backup_codes WHERE user_id = :id", {"id": user_id})
        # Pending second-factor challenges lead nowhere without a secret; do not leave them about.
        await self._db.execute("DELETE FROM api_tokens WHERE user_id = :id AND kind = 'mfa'", {"id": user_id})

    async def delete_user(self, user_id: int) -> None:
        await self._db.execute(
            "DELETE FROM last_seen WHERE EXISTS (SELECT 1 FROM users u WHERE u.id = :id "
            "AND u.tenant_id = last_seen.tenant_id AND u.username = last_seen.subject)",
            {"id": user_id},
        )
        for table in ("user_roles", "user_certificates", "api_tokens", "mfa_backup_codes"):
            await self._db.execute(f"DELETE FROM {table} WHERE user_id = :id", {"id": user_id})
        await self._db.execute("DELETE FROM users WHERE id = :id", {"id": user_id})

    async def grant_role(self, user_id: int, role_id: str) -> bool:
        row = await self._db.fetch_one(
            "INSERT INTO user_roles (user_id, role_id) VALUES (:user_id, :role) ON CONFLICT DO NOTHING "
            "RETURNING user_id",
            {"user_id": user_id, "role": role_id},
        )
        return row is not None

    async def revoke_role(self, user_id: int, role_id: str) -> bool:
        removed = await self._db.execute(
            "DELETE FROM user_roles WHERE user_id = :user_id AND role_id = :role", {"user_id": user_id, "role": role_id}
        )
        return removed > 0

    async def certificate_owner(self, fingerprint: str) -> int | None:
        row = await self._db.fetch_one(
            "SELECT user_id FROM user_certificates WHERE fingerprint = :fingerprint", {"fingerprint": fingerprint}
        )
        return int(row["user_id"]) if row else None

    async def add_certificate(self, user_id: int, certificate: NewCertificate, now: datetime) -> None:
        expires = to_millis(certificate.expires_at) if certificate.expires_at is not None else None
        await self._db.execute(
            "INSERT INTO user_certificates (user_id, fingerprint, created_at, expires_at) "
            "VALUES (:user_id, :fingerprint, :now, :expires) ON CONFLICT DO NOTHING",
            {"user_id": user_id, "fingerprint": certificate.fingerprint, "now": to_millis(now), "expires": expires},
        )

    async def remove_certificate(self, user_id: int, fingerprint: str) -> bool:
        removed = await self._db.execute(
            "DELETE FROM user_certificates WHERE user_id = :user_id AND fingerprint = :fingerprint",
            {"user_id": user_id, "fingerprint": fingerprint},
        )
        return removed > 0

    # -- roles ------------------------------------------------------------------------------------

    async def role(self, role_id: str) -> Role | None:
        row = await self._db.fetch_one(
            "SELECT id, tenant_id, name, is_shared, auto_generated, builtin FROM roles "
            "WHERE id = :id AND builtin = :no",
            {"id": role_id, "no": False},
        )
        if row is None:
            return None
        permissions = await self._permissions_of([role_id])
        return _role(row, permissions.get(role_id, ()))

    async def roles(self, tenant_id: str | None) -> list[Role]:
        scope = " AND tenant_id = :tenant" if tenant_id is not None else ""
        found = await self._db.fetch_all(
            "SELECT id, tenant_id, name, is_shared, auto_generated, builtin FROM roles "
            f"WHERE builtin = :no{scope} ORDER BY name, tenant_id, id",
            {"no": False, "tenant": tenant_id} if tenant_id is not None else {"no": False},
        )
        permissions = await self._permissions_of([row["id"] for row in found])
        return [_role(row, permissions.get(row["id"], ())) for row in found]

    async def create_role(self, role: Role, now: datetime) -> None:
        row = await self._db.fetch_one(
            "INSERT INTO roles (id, description, builtin, tenant_id, name, is_shared, auto_generated, created_at) "
            "VALUES (:id, :description, :builtin, :tenant, :name, :shared, :auto, :now) "
            "ON CONFLICT (tenant_id, name) DO NOTHING RETURNING id",
            {
                "id": role.id,
                "description": "",
                "builtin": False,
                "tenant": role.tenant_id,
                "name": role.name,
                "shared": role.is_shared,
                "auto": role.auto_generated,
                "now": to_millis(now),
            },
        )
        if row is None:
            raise Conflict(f"A role named {role.name} exists already.", entity="role")
        await self.replace_permissions(role.id, role.permissions)

    async def update_role(self, role_id: str, name: str, is_shared: bool) -> None:
        clash = await self._db.fetch_one(
            "SELECT 1 AS taken FROM roles o JOIN roles r ON r.tenant_id = o.tenant_id "
            "WHERE r.id = :id AND o.name = :name AND o.id <> :id",
            {"id": role_id, "name": name},
        )
        if clash is not None:
            raise Conflict(f"A role named {name} exists already.", entity="role")
        await self._db.execute(
            "UPDATE roles SET name = :name, is_shared = :shared WHERE id = :id",
            {"id": role_id, "name": name, "shared": is_shared},
        )

    async def delete_role(self, role_id: str) -> int:
        holders = await self._db.execute("DELETE FROM user_roles WHERE role_id = :id", {"id": role_id})
        await self._db.execute("DELETE FROM role_permissions WHERE role_id = :id", {"id": role_id})
        await self._db.execute("DELETE FROM roles WHERE id = :id AND builtin = :no", {"id": role_id, "no": False})
        return holders

    async def add_permission(self, role_id: str, permission: StoredPermission) -> None:
        grant = permission.permission
        row = await self._db.fetch_one(
            "INSERT INTO role_permissions (id, role_id, context, operation, resource) "
            "VALUES (:id, :role, :context, :operation, :resource) "
            "ON CONFLICT (role_id, context, resource, operation) DO NOTHING RETURNING id",
            {
                "id": permission.id,
                "role": role_id,
                "context": grant.context.value,
                "operation": grant.operation.value,
                "resource": grant.resource,
            },
        )
        if row is None:
            raise Conflict("The role grants this permission already.", entity="permission")

    async def update_permission(self, role_id: str, permission: StoredPermission) -> None:
        grant = permission.permission
        clash = await self._db.fetch_one(
            "SELECT 1 AS taken FROM role_permissions WHERE role_id = :role AND context = :context "
            "AND operation = :operation AND resource = :resource AND id <> :id",
            {
                "id": permission.id,
                "role": role_id,
                "context": grant.context.value,
                "operation": grant.operation.value,
                "resource": grant.resource,
            },
        )
        if clash is not None:
            raise Conflict("The role grants this permission already.", entity="permission")
        await self._db.execute(
            "UPDATE role_permissions SET context = :context, operation = :operation, resource = :resource "
            "WHERE id = :id AND role_id = :role",
            {
                "id": permission.id,
                "role": role_id,
                "context": grant.context.value,
                "operation": grant.operation.value,
                "resource": grant.resource,
            },
        )

    async def delete_permission(self, role_id: str, permission_id: str) -> bool:
        removed = await self._db.execute(
            "DELETE FROM role_permissions WHERE id = :id AND role_id = :role", {"id": permission_id, "role": role_id}
        )
        return removed > 0

    async def replace_permissions(self, role_id: str, permissions: Sequence[StoredPermission]) -> None:
        await self._db.execute("DELETE FROM role_permissions WHERE role_id = :role", {"role": role_id})
        await self._db.execute_many(
            "INSERT INTO role_permissions (id, role_id, context, operation, resource) "
            "VALUES (:id, :role, :context, :operation, :resource)",
            [
                {
                    "id": stored.id,
                    "role": role_id,
                    "context": stored.permission.context.value,
                    "operation": stored.permission.operation.value,
                    "resource": stored.permission.resource,
                }
                for stored in permissions
            ],
        )

    async def role_members(
        self, role_ids: Sequence[str], tenant_id: str | None, per_role: int
    ) -> dict[str, list[tuple[int, str]]]:
        if not role_ids:
            return {}
        scope = " AND u.tenant_id = :tenant" if tenant_id is not None else ""
        found = await self._db.fetch_all(
            "SELECT role_id, id, username FROM (SELECT ur.role_id, u.id, u.username, "
            "ROW_NUMBER() OVER (PARTITION BY ur.role_id ORDER BY u.username, u.id) AS n "
            f"FROM user_roles ur JOIN users u ON u.id = ur.user_id WHERE ur.role_id {_text_list(self._db, 'roles')}"
            f"{scope}) AS members WHERE n <= :per_role ORDER BY role_id, n",
            {"roles": _json(role_ids), "tenant": tenant_id, "per_role": per_role}
            if tenant_id is not None
            else {"roles": _json(role_ids), "per_role": per_role},
        )
        members: dict[str, list[tuple[int, str]]] = {}
        for row in found:
            members.setdefault(row["role_id"], []).append((int(row["id"]), row["username"]))
        return members

    async def usernames(self, user_ids: Sequence[int]) -> dict[int, str]:
        if not user_ids:
            return {}
        found = await self._db.fetch_all(
            f"SELECT id, username FROM users WHERE id {self._db.dialect.id_list('ids')}", {"ids": _json(user_ids)}
        )
        return {int(row["id"]): row["username"] for row in found}

    async def _permissions_of(self, role_ids: Sequence[str]) -> dict[str, list[StoredPermission]]:
        if not role_ids:
            return {}
        found = await self._db.fetch_all(
            "SELECT id, role_id, context, operation, resource FROM role_permissions "
            f"WHERE role_id {_text_list(self._db, 'roles')} ORDER BY context, resource, operation, id",
            {"roles": _json(role_ids)},
        )
        permissions: dict[str, list[StoredPermission]] = {}
        for row in found:
            grant = permission_of(row)
            if grant is not None:
                permissions.setdefault(row["role_id"], []).append(StoredPermission(row["id"], grant))
        return permissions


def _role(row: Row, permissions: Sequence[StoredPermission]) -> Role:
    return Role(
        id=row["id"],
        tenant_id=row["tenant_id"],
        name=row["name"],
        is_shared=bool(row["is_shared"]),
        auto_generated=bool(row["auto_generated"]),
        builtin=bool(row["builtin"]),
        permissions=tuple(permissions),
    )
