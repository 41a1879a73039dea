"""Managed objects and external ids in SQL."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from admittance.devices.inventory_model import ExternalId, ManagedObject
from admittance.kernel.clock import to_millis
from admittance.storage.database import Executor
from admittance.storage.sql import rows


class SqlInventoryStore:
    def __init__(self, executor: Executor) -> None:
        self._db = executor

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

    async def get_managed_object(self, tenant_id: str, mo_id: int) -> ManagedObject | None:
        return await get_managed_object(self._db, tenant_id, mo_id)

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


async def get_managed_object(executor: Executor, tenant_id: str, mo_id: int) -> ManagedObject | None:
    row = await executor.fetch_one(
        "SELECT * FROM managed_objects WHERE id = :id AND tenant_id = :tenant", {"id": mo_id, "tenant": tenant_id}
    )
    return rows.managed_object(row) if row else None


async def find_external_id(executor: Executor, tenant_id: str, id_type: str, value: str) -> ExternalId | None:
    row = await executor.fetch_one(
        "SELECT * FROM external_ids WHERE tenant_id = :tenant AND type = :type AND value = :value",
        {"tenant": tenant_id, "type": id_type, "value": value},
    )
    return rows.external_id(row) if row else None
