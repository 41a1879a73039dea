"""Managed objects and external ids in SQL (group membership: membership.py)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from admittance.devices.inventory_model import ExternalId, InventoryFilter, ManagedObject
from admittance.identity.model import UserKind
from admittance.kernel.clock import to_millis
from admittance.kernel.paging import Page, PageRequest
from admittance.storage.database import Executor
from admittance.storage.dialect import Dialect
from admittance.storage.sql import rows
from admittance.storage.sql.membership import SqlMembershipStore
from admittance.storage.sql.paging import fetch_page

# The root and every child asset below it; UNION (not UNION ALL) also ends on a cycle.
_SUBTREE = (
    "WITH RECURSIVE tree(id) AS (SELECT CAST(:root AS BIGINT) UNION "
    "SELECT c.child_id FROM child_assets c JOIN tree ON c.parent_id = tree.id WHERE c.tenant_id = :tenant) "
)
# Case-insensitive substring (lower() on both sides: PostgreSQL folds all of Unicode, SQLite ASCII only).
_TEXT = (
    "(lower(m.name) LIKE lower(:text) ESCAPE '\\' OR lower(m.type) LIKE lower(:text) ESCAPE '\\' OR EXISTS "
    "(SELECT 1 FROM external_ids e WHERE e.managed_object_id = m.id AND lower(e.value) LIKE lower(:text) ESCAPE '\\'))"
)


def _filter(dialect: Dialect, tenant_id: str, filters: InventoryFilter) -> tuple[str, dict[str, Any]]:
    clauses: list[str] = ["m.tenant_id = :tenant"]
    params: dict[str, Any] = {"tenant": tenant_id}
    if filters.type is not None:
        clauses.append("m.type = :type")
        params["type"] = filters.type
    if filters.owner is not None:
        clauses.append("m.owner = :owner")
        params["owner"] = filters.owner
    if filters.fragment_type is not None:
        clauses.append(dialect.has_fragment("m.fragments", filters.fragment_type))
        params["fragment"] = filters.fragment_type
    if filters.ids is not None:
        clauses.append(f"m.id {dialect.id_list('ids')}")
        params["ids"] = rows.dumps(list(filters.ids))
    if filters.parent is not None:
        clauses.append(
            "EXISTS (SELECT 1 FROM child_assets c WHERE c.parent_id = :parent AND c.child_id = m.id "
            "AND c.tenant_id = :tenant)"
        )
        params["parent"] = filters.parent
    if filters.text is not None:
        clauses.append(_TEXT)
        escaped = rows.escape_like(filters.text)
        params["text"] = f"%{escaped}%"
    return " WHERE " + " AND ".join(clauses), params


class SqlInventoryStore(SqlMembershipStore):
    async def create_managed_object(
        self,
        tenant_id: str,
        owner: str,
        name: str | None,
        mo_type: str | None,
        fragments: dict[str, Any],
        now: datetime,
    ) -> ManagedObject:
        row = await self._db.fetch_one(
            "INSERT INTO managed_objects (tenant_id, owner, name, type, fragments, created_at, updated_at) "
            "VALUES (:tenant, :owner, :name, :type, :fragments, :now, :now) RETURNING *",
            {
                "tenant": tenant_id,
                "owner": owner,
                "name": name,
                "type": mo_type,
                "fragments": rows.dumps(fragments),
                "now": to_millis(now),
            },
        )
        assert row is not None
        return rows.managed_object(row)

    async def get_managed_object(self, tenant_id: str, mo_id: int, *, for_update: bool = False) -> ManagedObject | None:
        return await get_managed_object(self._db, tenant_id, mo_id, for_update=for_update)

    async def page_managed_objects(
        self, tenant_id: str, filters: InventoryFilter, page: PageRequest
    ) -> Page[ManagedObject]:
        where, params = _filter(self._db.dialect, tenant_id, filters)
        return await fetch_page(
            self._db,
            f"SELECT m.* FROM managed_objects m{where} ORDER BY m.id",
            f"SELECT count(*) AS n FROM managed_objects m{where}",
            params,
            page,
            rows.managed_object,
        )

    async def update_managed_object(self, mo: ManagedObject) -> bool:
        fields = {"name": mo.name, "type": mo.type, "fragments": rows.dumps(mo.fragments)}
        changed = await self._db.execute(
            "UPDATE managed_objects SET name = :name, type = :type, fragments = :fragments, updated_at = :now "
            "WHERE tenant_id = :tenant AND id = :id",
            {**fields, "now": to_millis(mo.updated_at), "tenant": mo.tenant_id, "id": mo.id},
        )
        return changed > 0

    async def delete_managed_objects(self, tenant_id: str, root_id: int, *, cascade: bool) -> list[ManagedObject]:
        # External ids and memberships go with their objects (ON DELETE CASCADE).
        scope = "IN (SELECT id FROM tree)" if cascade else "= :root"
        found = await self._db.fetch_all(
            f"{_SUBTREE if cascade else ''}DELETE FROM managed_objects WHERE tenant_id = :tenant AND id {scope} "
            "RETURNING *",
            {"tenant": tenant_id, "root": root_id},
        )
        return sorted((rows.managed_object(row) for row in found), key=lambda mo: (mo.id != root_id, mo.id))

    async def delete_device_user(self, tenant_id: str, username: str) -> bool:
        removed = await self._db.execute(
            "DELETE FROM users WHERE tenant_id = :tenant AND username = :username AND kind = :kind",
            {"tenant": tenant_id, "username": username, "kind": UserKind.DEVICE.value},
        )
        return removed > 0

    async def add_external_id(self, external_id: ExternalId) -> bool:
        row = await self._db.fetch_one(
            "INSERT INTO external_ids (tenant_id, type, value, managed_object_id) "
            "VALUES (:tenant, :type, :value, :mo) ON CONFLICT DO NOTHING RETURNING value",
            {
                "tenant": external_id.tenant_id,
                "type": external_id.type,
                "value": external_id.value,
                "mo": external_id.managed_object_id,
            },
        )
        return row is not None

    async def find_external_id(self, tenant_id: str, id_type: str, value: str) -> ExternalId | None:
        return await find_external_id(self._db, tenant_id, id_type, value)

    async def external_ids_of(self, tenant_id: str, mo_id: int) -> list[ExternalId]:
        found = await self._db.fetch_all(
            "SELECT * FROM external_ids WHERE tenant_id = :tenant AND managed_object_id = :mo ORDER BY type, value",
            {"tenant": tenant_id, "mo": mo_id},
        )
        return [rows.external_id(row) for row in found]

    async def delete_external_id(self, tenant_id: str, id_type: str, value: str) -> bool:
        removed = await self._db.execute(
            "DELETE FROM external_ids WHERE tenant_id = :tenant AND type = :type AND value = :value",
            {"tenant": tenant_id, "type": id_type, "value": value},
        )
        return removed > 0


async def get_managed_object(
    executor: Executor, tenant_id: str, mo_id: int, *, for_update: bool = False
) -> ManagedObject | None:
    lock = executor.dialect.for_update if for_update else ""
    row = await executor.fetch_one(
        f"SELECT * FROM managed_objects WHERE id = :id AND tenant_id = :tenant{lock}",
        {"id": mo_id, "tenant": tenant_id},
    )
    return rows.managed_object(row) if row else None


async def find_external_id(executor: Executor, tenant_id: str, id_type: str, value: str) -> ExternalId | None:
    row = await executor.fetch_one(
        "SELECT * FROM external_ids WHERE tenant_id = :tenant AND type = :type AND value = :value",
        {"tenant": tenant_id, "type": id_type, "value": value},
    )
    return rows.external_id(row) if row else None
