"""The client registry in SQL (tables client_registry_windows, client_registrations). One entry per
tenant and username, settled by the unique index (inserts that lose return False); a grant is a
conditional UPDATE from pending, so two operators granting at once cannot both win."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import orjson

from admittance.kernel.access import Permission, parse_permission
from admittance.kernel.clock import from_millis, to_millis
from admittance.registry.model import ClientRegistration, CredentialType, EntryStatus
from admittance.storage.database import Executor, Row

_COLUMNS = (
    "r.id, r.tenant_id, r.username, r.credential_type, r.password_digest, r.password_hash, r.csr_pem, "
    "r.public_key_sha256, r.roles, r.permissions, r.context, r.pairing_code, r.status, r.certificate_serial, "
    "r.user_id, r.source, r.created_at, r.updated_at, c.certificate_pem"
)
_FROM = "FROM client_registrations r LEFT JOIN issued_certificates c ON c.serial = r.certificate_serial"


def _permissions_json(permissions: Sequence[Permission]) -> str:
    return orjson.dumps(
        [{"context": p.context.value, "operation": p.operation.value, "resource": p.resource} for p in permissions]
    ).decode()


def _permissions_of(text: str) -> tuple[Permission, ...]:
    return tuple(parse_permission(item["context"], item["operation"], item["resource"]) for item in orjson.loads(text))


def _entry(row: Row) -> ClientRegistration:
    return ClientRegistration(
        id=row["id"],
        tenant_id=row["tenant_id"],
        username=row["username"],
        credential_type=CredentialType(row["credential_type"]),
        password_digest=row["password_digest"],
        password_hash=row["password_hash"],
        csr_pem=row["csr_pem"],
        public_key_sha256=row["public_key_sha256"],
        roles=tuple(orjson.loads(row["roles"])),
        permissions=_permissions_of(row["permissions"]),
        context=row["context"],
        pairing_code=row["pairing_code"],
        status=EntryStatus(row["status"]),
        certificate_serial=row["certificate_serial"],
        user_id=row["user_id"],
        source=row["source"],
        created_at=from_millis(row["created_at"]),
        updated_at=from_millis(row["updated_at"]),
        certificate_pem=row["certificate_pem"],
    )


class SqlClientRegistryStore:
    def __init__(self, executor: Executor) -> None:
        self._db = executor

    async def window(self, tenant_id: str) -> datetime | None:
        row = await self._db.fetch_one(
            "SELECT open_until FROM client_registry_windows WHERE tenant_id = :tenant", {"tenant": tenant_id}
        )
        return from_millis(row["open_until"]) if row is not None else None

    async def open_window(self, tenant_id: str, open_until: datetime, opened_by: str) -> None:
        await self._db.execute(
            "INSERT INTO client_registry_windows (tenant_id, open_until, opened_by) VALUES (:tenant, :until, :by) "
            "ON CONFLICT (tenant_id) DO UPDATE SET open_until = excluded.open_until, opened_by = excluded.opened_by",
            {"tenant": tenant_id, "until": to_millis(open_until), "by": opened_by},
        )

    async def close_window(self, tenant_id: str) -> bool:
        count = await self._db.execute(
            "DELETE FROM client_registry_windows WHERE tenant_id = :tenant", {"tenant": tenant_id}
        )
        return count > 0

    async def get(self, tenant_id: str, username: str) -> ClientRegistration | None:
        row = await self._db.fetch_one(
            f"SELECT {_COLUMNS} {_FROM} WHERE r.tenant_id = :tenant AND r.username = :username",
            {"tenant": tenant_id, "username": username},
        )
        return _entry(row) if row is not None else None

    async def entries(self, tenant_id: str | None) -> list[ClientRegistration]:
        if tenant_id is None:
            found = await self._db.fetch_all(f"SELECT {_COLUMNS} {_FROM} ORDER BY r.created_at, r.id")
        else:
            found = await self._db.fetch_all(
                f"SELECT {_COLUMNS} {_FROM} WHERE r.tenant_id = :tenant ORDER BY r.created_at, r.id",
                {"tenant": tenant_id},
            )
        return [_entry(row) for row in found]

    async def entries_by_status(
        self, tenant_id: str | None, status: EntryStatus, limit: int
    ) -> list[ClientRegistration]:
        order = "r.created_at, r.id" if status is EntryStatus.PENDING else "r.created_at DESC, r.id DESC"
        params: dict[str, object] = {"status": status.value, "limit": limit}
        where = "r.status = :status"
        if tenant_id is not None:
            where += " AND r.tenant_id = :tenant"
            params["tenant"] = tenant_id
        found = await self._db.fetch_all(
            f"SELECT {_COLUMNS} {_FROM} WHERE {where} ORDER BY {order} LIMIT :limit", params
        )
        return [_entry(row) for row in found]

    async def insert(self, entry: ClientRegistration) -> bool:
        row = await self._db.fetch_one(
            "INSERT INTO client_registrations (id, tenant_id, username, credential_type, password_digest, "
            "password_hash, csr_pem, public_key_sha256, roles, permissions, context, pairing_code, status, "
            "certificate_serial, user_id, source, created_at, updated_at) VALUES (:id, :tenant, :username, "
            ":credential_type, :digest, :hash, :csr, :key, :roles, :permissions, :context, :code, :status, "
            ":serial, :user_id, :source, :created, :updated) ON CONFLICT (tenant_id, username) DO NOTHING RETURNING id",
            {
                "id": entry.id,
                "tenant": entry.tenant_id,
                "username": entry.username,
                "credential_type": entry.credential_type.value,
                "digest": entry.password_digest,
                "hash": entry.password_hash,
                "csr": entry.csr_pem,
                "key": entry.public_key_sha256,
                "roles": orjson.dumps(list(entry.roles)).decode(),
                "permissions": _permissions_json(entry.permissions),
                "context": entry.context,
                "code": entry.pairing_code,
                "status": entry.status.value,
                "serial": entry.certificate_serial,
                "user_id": entry.user_id,
                "source": entry.source[:100],
                "created": to_millis(entry.created_at),
                "updated": to_millis(entry.updated_at),
            },
        )
        return row is not None

    async def refresh(
        self,
        entry_id: str,
        roles: Sequence[str],
        permissions: Sequence[Permission],
        context: str,
        source: str,
        now: datetime,
    ) -> None:
        await self._db.execute(
            "UPDATE client_registrations SET roles = :roles, permissions = :permissions, context = :context, "
            "source = :source, updated_at = :now WHERE id = :id AND status = :pending",
            {
                "id": entry_id,
                "roles": orjson.dumps(list(roles)).decode(),
                "permissions": _permissions_json(permissions),
                "context": context,
                "source": source[:100],
                "now": to_millis(now),
                "pending": EntryStatus.PENDING.value,
            },
        )

    async def mark_granted(self, entry_id: str, user_id: int, certificate_serial: str | None, now: datetime) -> bool:
        count = await self._db.execute(
            "UPDATE client_registrations SET status = :granted, user_id = :user_id, certificate_serial = :serial, "
            "updated_at = :now WHERE id = :id AND status = :pending",
            {
                "id": entry_id,
                "user_id": user_id,
                "serial": certificate_serial,
                "now": to_millis(now),
                "granted": EntryStatus.GRANTED.value,
                "pending": EntryStatus.PENDING.value,
            },
        )
        return count > 0

    async def delete(self, entry_id: str) -> bool:
        count = await self._db.execute("DELETE FROM client_registrations WHERE id = :id", {"id": entry_id})
        return count > 0
