"""Group membership in SQL: the child assets of managed objects (subgroups and devices of a group)."""

from __future__ import annotations

from collections.abc import Sequence

from admittance.devices.inventory_model import AssetReference, Relations
from admittance.kernel.paging import Page, PageRequest
from admittance.storage.database import Executor, Row
from admittance.storage.sql import rows
from admittance.storage.sql.paging import fetch_page

# Walks up from :candidate through the groups it sits in; :root is found when the candidate is
# the root or below it. Upwards is the short way: a device sits in few groups, a group holds many.
_IN_SUBTREE = (
    "WITH RECURSIVE up(id) AS (SELECT CAST(:candidate AS BIGINT) UNION "
    "SELECT c.parent_id FROM child_assets c JOIN up ON c.child_id = up.id WHERE c.tenant_id = :tenant) "
    "SELECT 1 AS found FROM up WHERE up.id = :root LIMIT 1"
)


def _relations_sql(executor: Executor) -> str:
    ids = executor.dialect.id_list("ids")
    return (
        "SELECT r.side, r.owner_id, r.ref_id, r.ref_name FROM ("
        "SELECT 'child' AS side, c.parent_id AS owner_id, c.child_id AS ref_id, m.name AS ref_name, "
        "ROW_NUMBER() OVER (PARTITION BY c.parent_id ORDER BY c.child_id) AS n "
        "FROM child_assets c JOIN managed_objects m ON m.id = c.child_id "
        f"WHERE c.tenant_id = :tenant AND c.parent_id {ids} "
        "UNION ALL "
        "SELECT 'parent' AS side, c.child_id AS owner_id, c.parent_id AS ref_id, m.name AS ref_name, "
        "ROW_NUMBER() OVER (PARTITION BY c.child_id ORDER BY c.parent_id) AS n "
        "FROM child_assets c JOIN managed_objects m ON m.id = c.parent_id "
        f"WHERE c.tenant_id = :tenant AND c.child_id {ids}"
        ") r WHERE r.n <= :limit ORDER BY r.owner_id, r.side, r.ref_id"
    )


def _reference(row: Row) -> AssetReference:
    return AssetReference(row["id"], row["name"])


class SqlMembershipStore:
    def __init__(self, executor: Executor) -> None:
        self._db = executor

    async def relations(self, tenant_id: str, mo_ids: Sequence[int], limit: int) -> dict[int, Relations]:
        if not mo_ids:
            return {}
        found = await self._db.fetch_all(
            _relations_sql(self._db), {"tenant": tenant_id, "ids": rows.dumps(list(mo_ids)), "limit": limit}
        )
        children: dict[int, list[AssetReference]] = {}
        parents: dict[int, list[AssetReference]] = {}
        for row in found:
            side = children if row["side"] == "child" else parents
            side.setdefault(row["owner_id"], []).append(AssetReference(row["ref_id"], row["ref_name"]))
        return {
            mo_id: Relations(tuple(children.get(mo_id, ())), tuple(parents.get(mo_id, ())))
            for mo_id in children.keys() | parents.keys()
        }

    async def page_child_assets(self, tenant_id: str, parent_id: int, page: PageRequest) -> Page[AssetReference]:
        where = "WHERE c.tenant_id = :tenant AND c.parent_id = :parent"
        return await fetch_page(
            self._db,
            f"SELECT m.id, m.name FROM child_assets c JOIN managed_objects m ON m.id = c.child_id {where} "
            "ORDER BY m.id",
            f"SELECT count(*) AS n FROM child_assets c {where}",
            {"tenant": tenant_id, "parent": parent_id},
            page,
            _reference,
        )

    async def lock_hierarchy(self, tenant_id: str) -> None:
        if self._db.dialect.advisory_lock:
            await self._db.fetch_one(self._db.dialect.advisory_lock, {"key": f"child_assets:{tenant_id}"})

    async def in_subtree(self, tenant_id: str, root_id: int, candidate_id: int) -> bool:
        row = await self._db.fetch_one(_IN_SUBTREE, {"tenant": tenant_id, "root": root_id, "candidate": candidate_id})
        return row is not None

    async def add_child_asset(self, tenant_id: str, parent_id: int, child_id: int) -> bool:
        row = await self._db.fetch_one(
            "INSERT INTO child_assets (parent_id, child_id, tenant_id) VALUES (:parent, :child, :tenant) "
            "ON CONFLICT DO NOTHING RETURNING child_id",
            {"parent": parent_id, "child": child_id, "tenant": tenant_id},
        )
        return row is not None

    async def remove_child_asset(self, tenant_id: str, parent_id: int, child_id: int) -> bool:
        removed = await self._db.execute(
            "DELETE FROM child_assets WHERE tenant_id = :tenant AND parent_id = :parent AND child_id = :child",
            {"tenant": tenant_id, "parent": parent_id, "child": child_id},
        )
        return removed > 0
