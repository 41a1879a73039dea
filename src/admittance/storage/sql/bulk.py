"""Bulk import in SQL: a chunk's reads in a handful of IN-list queries and its writes as multi-row
INSERTs (with RETURNING, on both databases) and executemany batches. Every statement runs inside
the caller's transaction."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import orjson

from admittance.audit import AuditEvent
from admittance.devices.bulk.store import (
    ExistingObject,
    ExistingRequest,
    ExistingUser,
    GroupPath,
    RegistryDump,
    Snapshot,
    StoredObject,
    WritePlan,
)
from admittance.devices.model import RegistrationStatus
from admittance.identity.model import UserKind
from admittance.kernel.clock import to_millis
from admittance.kernel.principal import Role
from admittance.storage.database import Executor
from admittance.storage.sql import rows
from admittance.storage.sql.audit import SqlAuditStore
from admittance.storage.sql.batch import insert_rows
from admittance.storage.sql.registrations import INSERT as INSERT_REQUEST
from admittance.storage.sql.registrations import request_params

GROUP_TYPE = "c8y_DeviceGroup"
# c8y-api (Cumulocity's own Python client) creates and selects subgroups by this type; groups
# written with the other spelling seen in the wild are found too.
SUBGROUP_TYPE = "c8y_DeviceSubGroup"
_SUBGROUP_SPELLINGS = (SUBGROUP_TYPE, "c8y_DeviceSubgroup")
GROUP_FRAGMENTS = rows.dumps({"c8y_IsDeviceGroup": {}})
_IN_LIST_MAX = 500  # parameters per IN list; a chunk's lists are split to stay below it


def _one_of(dialect: str, column: str, prefix: str, values: Sequence[Any], params: dict[str, Any]) -> str:
    """`column` is one of `values`: `= ANY(array)` on PostgreSQL (one parameter, planned once and
    cached; an IN list of 500 constants cost ~120 ms of planning per statement there), an IN list
    on SQLite."""
    if dialect == "postgresql":
        params[prefix] = list(values)
        return f"{column} = ANY(:{prefix})"
    names = []
    for index, value in enumerate(values):
        name = f"{prefix}{index}"
        params[name] = value
        names.append(f":{name}")
    return f"{column} IN ({', '.join(names)})"


def _slices(values: Sequence[Any]) -> list[Sequence[Any]]:
    return [values[start : start + _IN_LIST_MAX] for start in range(0, len(values), _IN_LIST_MAX)]


class SqlBulkStore:
    def __init__(self, executor: Executor) -> None:
        self._db = executor

    async def snapshot(
        self,
        tenant_id: str,
        usernames: Sequence[str],
        external_ids: Sequence[tuple[str, str]],
        request_ids: Sequence[str],
        owners: Sequence[str] = (),
    ) -> Snapshot:
        if self._db.dialect.name == "postgresql":
            # Two imports at once would collide on the users and external ids a chunk inserts (and a
            # row settled again after that collision could collide again with the other's next
            # chunk). One chunk at a time, as SQLite's single writer does anyway: taken before the
            # reads, so a chunk sees every chunk committed before it.
            await self._db.execute("SELECT pg_advisory_xact_lock(:key)", {"key": _lock_key("bulk", "chunks")})
            # asyncpg re-runs prepared statements, and after five runs PostgreSQL may switch to a
            # generic plan; for `= ANY(:array)` lookups that plan took 160 ms where the custom one
            # takes 3-5 ms (measured at 10,000 devices). Planning each time costs ~0.3 ms.
            await self._db.execute("SET LOCAL plan_cache_mode = force_custom_plan")
        tenant = await self._db.fetch_one("SELECT device_limit FROM tenants WHERE id = :tenant", {"tenant": tenant_id})
        limit = tenant["device_limit"] if tenant else None
        count = 0
        if limit is not None:
            counted = await self._db.fetch_one(
                "SELECT count(*) AS n FROM users WHERE tenant_id = :tenant AND kind = :kind",
                {"tenant": tenant_id, "kind": UserKind.DEVICE.value},
            )
            count = int(counted["n"]) if counted else 0
        users = await self._users(tenant_id, usernames)
        mapping = await self._external_ids(tenant_id, external_ids)
        objects = await self._objects(tenant_id, "id", sorted(set(mapping.values())))
        owned: dict[str, int] = {}
        for device in (await self._objects(tenant_id, "owner", owners)).values():
            if "c8y_IsDevice" in device.fragments and device.owner not in owned:
                owned[device.owner] = device.id
                objects[device.id] = device
        requests = await self._requests(request_ids)
        if self._db.dialect.name == "postgresql":
            await self._db.execute("SET LOCAL plan_cache_mode = auto")  # the writes reuse generic plans well
        return Snapshot(
            tenant_exists=tenant is not None,
            device_limit=limit,
            device_count=count,
            users=users,
            external_ids=mapping,
            objects=objects,
            owned_devices=owned,
            requests=requests,
        )

    async def _users(self, tenant_id: str, usernames: Sequence[str]) -> dict[str, ExistingUser]:
        found: dict[str, ExistingUser] = {}
        for part in _slices(usernames):
            params: dict[str, Any] = {"tenant": tenant_id}
            condition = _one_of(self._db.dialect.name, "username", "u", part, params)
            for row in await self._db.fetch_all(
                f"SELECT id, username, kind FROM users WHERE tenant_id = :tenant AND {condition}", params
            ):
                found[row["username"]] = ExistingUser(row["id"], UserKind(row["kind"]))
        return found

    async def _external_ids(self, tenant_id: str, pairs: Sequence[tuple[str, str]]) -> dict[tuple[str, str], int]:
        """By type, then `value IN (...)`: an index range on the primary key (tenant, type, value)
        whatever the planner's statistics say. (A row-value `(type, value) IN (VALUES ...)` was
        planned on PostgreSQL as a nested loop over the whole table while its statistics were
        those of an empty table: 1.3 s per chunk at 6,000 devices.)"""
        by_type: dict[str, list[str]] = {}
        for id_type, value in pairs:
            by_type.setdefault(id_type, []).append(value)
        found: dict[tuple[str, str], int] = {}
        for id_type, values in by_type.items():
            for part in _slices(values):
                params: dict[str, Any] = {"tenant": tenant_id, "type": id_type}
                condition = _one_of(self._db.dialect.name, "value", "v", part, params)
                for row in await self._db.fetch_all(
                    f"SELECT value, managed_object_id FROM external_ids WHERE tenant_id = :tenant AND type = :type "
                    f"AND {condition}",
                    params,
                ):
                    found[(id_type, row["value"])] = row["managed_object_id"]
        return found

    async def _objects(self, tenant_id: str, column: str, keys: Sequence[Any]) -> dict[int, ExistingObject]:
        """Managed objects by id or by owner, in id order."""
        found: dict[int, ExistingObject] = {}
        for part in _slices(keys):
            params: dict[str, Any] = {"tenant": tenant_id}
            condition = _one_of(self._db.dialect.name, column, "m", part, params)
            for row in await self._db.fetch_all(
                "SELECT id, owner, name, type, fragments FROM managed_objects "
                f"WHERE tenant_id = :tenant AND {condition} ORDER BY id",
                params,
            ):
                found[row["id"]] = ExistingObject(
                    row["id"], row["owner"], row["name"], row["type"], orjson.loads(row["fragments"])
                )
        return found

    async def _requests(self, request_ids: Sequence[str]) -> dict[str, ExistingRequest]:
        found: dict[str, ExistingRequest] = {}
        for part in _slices(request_ids):
            params: dict[str, Any] = {}
            condition = _one_of(self._db.dialect.name, "id", "r", part, params)
            for row in await self._db.fetch_all(
                f"SELECT id, tenant_id, status FROM registration_requests WHERE {condition}", params
            ):
                found[row["id"]] = ExistingRequest(row["tenant_id"], RegistrationStatus(row["status"]))
        return found

    async def group_path(self, tenant_id: str, owner: str, path: Sequence[str], now: datetime) -> GroupPath:
        parent: int | None = None
        created: list[int] = []
        locked = False
        for name in path:
            found = await self._find_group(tenant_id, parent, name)
            if found is None and not locked and self._db.dialect.name == "postgresql":
                # Two imports creating the same group at once would make two; one waits for the other.
                await self._db.execute("SELECT pg_advisory_xact_lock(:key)", {"key": _lock_key("groups", tenant_id)})
                locked = True
                found = await self._find_group(tenant_id, parent, name)
            if found is None:
                found = await self._create_group(tenant_id, owner, parent, name, now)
                created.append(found)
            parent = found
        assert parent is not None
        return GroupPath(parent, created)

    async def _find_group(self, tenant_id: str, parent: int | None, name: str) -> int | None:
        if parent is None:
            row = await self._db.fetch_one(
                "SELECT id FROM managed_objects WHERE tenant_id = :tenant AND type = :type AND name = :name "
                "ORDER BY id LIMIT 1",
                {"tenant": tenant_id, "type": GROUP_TYPE, "name": name},
            )
        else:
            row = await self._db.fetch_one(
                "SELECT mo.id FROM child_assets c JOIN managed_objects mo ON mo.id = c.child_id "
                "WHERE c.parent_id = :parent AND mo.type IN (:type, :other) AND mo.name = :name ORDER BY mo.id LIMIT 1",
                {"parent": parent, "type": _SUBGROUP_SPELLINGS[0], "other": _SUBGROUP_SPELLINGS[1], "name": name},
            )
        return int(row["id"]) if row else None

    async def _create_group(self, tenant_id: str, owner: str, parent: int | None, name: str, now: datetime) -> int:
        row = await self._db.fetch_one(
            "INSERT INTO managed_objects (tenant_id, owner, name, type, fragments, created_at, updated_at) "
            "VALUES (:tenant, :owner, :name, :type, :fragments, :now, :now) RETURNING id",
            {
                "tenant": tenant_id,
                "owner": owner,
                "name": name,
                "type": GROUP_TYPE if parent is None else SUBGROUP_TYPE,
                "fragments": GROUP_FRAGMENTS,
                "now": to_millis(now),
            },
        )
        assert row is not None
        if parent is not None:
            await self._db.execute(
                "INSERT INTO child_assets (parent_id, child_id, tenant_id) VALUES (:parent, :child, :tenant)",
                {"parent": parent, "child": row["id"], "tenant": tenant_id},
            )
        return int(row["id"])

    async def write(self, plan: WritePlan, now: datetime) -> None:
        at = to_millis(now)
        tenant = plan.tenant_id
        user_ids = [user_id for user_id, _ in plan.password_updates]
        user_ids += await self._insert_users(tenant, plan.new_users, at)
        await self._db.execute_many(
            "UPDATE users SET password_hash = :hash, password_changed_at = :now WHERE id = :id",
            [{"id": user_id, "hash": password_hash, "now": at} for user_id, password_hash in plan.password_updates],
        )
        await insert_rows(
            self._db,
            "user_roles",
            [("user_id", "bigint"), ("role_id", "text")],
            [(user_id, Role.DEVICE.value) for user_id in user_ids],
            suffix="ON CONFLICT DO NOTHING",
        )
        await self._write_devices(plan, at)
        await self._db.execute_many(
            "DELETE FROM registration_requests WHERE id = :id AND tenant_id = :tenant",
            [{"id": request_id, "tenant": tenant} for request_id in plan.deleted_requests],
        )
        await self._db.execute_many(
            "UPDATE registration_requests SET status = :status, enrollment_token_digest = :digest, "
            "token_failures = 0, updated_at = :now WHERE id = :id AND tenant_id = :tenant",
            [
                {"id": request_id, "digest": digest, "tenant": tenant, "now": at, "status": "ACCEPTED"}
                for request_id, digest in plan.accepted_requests
            ],
        )
        # No ON CONFLICT: a request created meanwhile is a Conflict, and the chunk is settled row by row.
        await self._db.execute_many(INSERT_REQUEST, [request_params(request) for request in plan.new_requests])
        await self.record_audit(plan.audit)

    async def _insert_users(self, tenant: str, new_users: list[tuple[str, str]], at: int) -> list[int]:
        device = UserKind.DEVICE.value
        found = await insert_rows(
            self._db,
            "users",
            [
                ("tenant_id", "text"),
                ("username", "text"),
                ("password_hash", "text"),
                ("kind", "text"),
                ("enabled", "boolean"),
                ("created_at", "bigint"),
                ("password_changed_at", "bigint"),
            ],
            [(tenant, username, password_hash, device, True, at, at) for username, password_hash in new_users],
            suffix="RETURNING id",
        )
        return [row["id"] for row in found]

    async def _write_devices(self, plan: WritePlan, at: int) -> None:
        created = [device for device in plan.devices if device.object_id is None]
        updated = [device for device in plan.devices if device.object_id is not None]
        found = await insert_rows(
            self._db,
            "managed_objects",
            [
                ("tenant_id", "text"),
                ("owner", "text"),
                ("name", "text"),
                ("type", "text"),
                ("fragments", "text"),
                ("created_at", "bigint"),
                ("updated_at", "bigint"),
            ],
            [(plan.tenant_id, d.owner, d.name, d.type, rows.dumps(d.fragments), at, at) for d in created],
            suffix="RETURNING id, owner",
        )
        ids = {row["owner"]: row["id"] for row in found}  # owners (device users) are unique in a chunk
        for device in created:
            device.object_id = ids[device.owner]
        await self._db.execute_many(
            "UPDATE managed_objects SET name = :name, type = :type, fragments = :fragments, updated_at = :now "
            "WHERE id = :id",
            [
                {"id": d.object_id, "name": d.name, "type": d.type, "fragments": rows.dumps(d.fragments), "now": at}
                for d in updated
            ],
        )
        # No ON CONFLICT: an external id taken meanwhile is a Conflict, and the chunk is settled row by row.
        await insert_rows(
            self._db,
            "external_ids",
            [("tenant_id", "text"), ("type", "text"), ("value", "text"), ("managed_object_id", "bigint")],
            [
                (plan.tenant_id, id_type, value, device.object_id)
                for device in plan.devices
                for id_type, value in device.new_external_ids
            ],
        )
        await insert_rows(
            self._db,
            "child_assets",
            [("parent_id", "bigint"), ("child_id", "bigint"), ("tenant_id", "text")],
            [(d.group_id, d.object_id, plan.tenant_id) for d in plan.devices if d.group_id is not None],
            suffix="ON CONFLICT DO NOTHING",
        )

    async def registry_dump(self, tenant_id: str) -> RegistryDump:
        params = {"tenant": tenant_id, "device": UserKind.DEVICE.value}
        objects = [
            StoredObject(
                row["id"],
                row["owner"],
                row["owner_kind"] == UserKind.DEVICE.value,
                row["name"],
                row["type"],
                orjson.loads(row["fragments"]),
            )
            for row in await self._db.fetch_all(
                "SELECT mo.id, mo.owner, mo.name, mo.type, mo.fragments, u.kind AS owner_kind FROM managed_objects mo "
                "LEFT JOIN users u ON u.tenant_id = mo.tenant_id AND u.username = mo.owner "
                "WHERE mo.tenant_id = :tenant ORDER BY mo.id",
                params,
            )
        ]
        external_ids = [
            (row["managed_object_id"], row["type"], row["value"])
            for row in await self._db.fetch_all(
                "SELECT managed_object_id, type, value FROM external_ids WHERE tenant_id = :tenant", params
            )
        ]
        memberships = [
            (row["parent_id"], row["child_id"])
            for row in await self._db.fetch_all(
                "SELECT parent_id, child_id FROM child_assets WHERE tenant_id = :tenant", params
            )
        ]
        return RegistryDump(objects, external_ids, memberships)

    async def record_audit(self, events: list[AuditEvent]) -> None:
        await SqlAuditStore(self._db).record_many(events)


def _lock_key(scope: str, name: str) -> int:
    """A stable signed 64-bit advisory lock key."""
    return int.from_bytes(hashlib.sha256(f"{scope}:{name}".encode()).digest()[:8], "big", signed=True)
