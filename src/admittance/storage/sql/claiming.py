"""Claimed devices, their tags and the tenants' tag definitions in SQL."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from admittance.claiming.model import ClaimedDevice, DeviceFilter, DevicePage, DeviceStatus, Tag, TagKind
from admittance.kernel.clock import from_millis, to_millis
from admittance.storage.database import Executor, Row


def _device(row: Row, tags: Sequence[str]) -> ClaimedDevice:
    return ClaimedDevice(
        id=row["id"],
        tenant_id=row["tenant_id"],
        device_type=int(row["device_type"]),
        firmware_id=row["firmware_id"],
        imei=row["imei"],
        ownership_status=row["ownership_status"],
        status=DeviceStatus(row["status"]),
        claimed_by=row["claimed_by"],
        restricted=bool(row["restricted"]),
        identity_key_pem=row["identity_key_pem"],
        managed_object_id=row["managed_object_id"],
        claimed_at=from_millis(row["claimed_at"]),
        updated_at=from_millis(row["updated_at"]),
        tags=tuple(tags),
    )


def _tag(row: Row) -> Tag:
    return Tag(
        row["id"],
        row["tenant_id"],
        TagKind(row["kind"]),
        row["tag"],
        row["description"],
        from_millis(row["created_at"]),
    )


class SqlClaimedDeviceStore:
    def __init__(self, executor: Executor) -> None:
        self._db = executor

    async def _tags_of(self, device_ids: Sequence[str]) -> dict[str, list[str]]:
        if not device_ids:
            return {}
        names = {f"d{i}": device_id for i, device_id in enumerate(device_ids)}
        found = await self._db.fetch_all(
            f"SELECT device_id, tag FROM claimed_device_tags WHERE device_id IN ({', '.join(':' + n for n in names)}) "
            "ORDER BY device_id, tag",
            names,
        )
        tags: dict[str, list[str]] = {}
        for row in found:
            tags.setdefault(row["device_id"], []).append(row["tag"])
        return tags

    async def insert(self, device: ClaimedDevice) -> bool:
        taken = await self._db.fetch_one("SELECT 1 AS present FROM claimed_devices WHERE id = :id", {"id": device.id})
        if taken is not None:
            return False
        inserted = await self._db.execute(
            "INSERT INTO claimed_devices (id, tenant_id, device_type, firmware_id, imei, ownership_status, status, "
            "claimed_by, restricted, identity_key_pem, managed_object_id, claimed_at, updated_at) VALUES "
            "(:id, :tenant, :device_type, :firmware_id, :imei, :ownership, :status, :claimed_by, :restricted, "
            ":pem, :mo, :claimed_at, :updated_at) ON CONFLICT DO NOTHING",
            {
                "id": device.id,
                "tenant": device.tenant_id,
                "device_type": device.device_type,
                "firmware_id": device.firmware_id,
                "imei": device.imei,
                "ownership": device.ownership_status,
                "status": device.status.value,
                "claimed_by": device.claimed_by,
                "restricted": device.restricted,
                "pem": device.identity_key_pem,
                "mo": device.managed_object_id,
                "claimed_at": to_millis(device.claimed_at),
                "updated_at": to_millis(device.updated_at),
            },
        )
        if not inserted:
            return False
        await self._insert_tags(device.id, device.tags)
        return True

    async def _insert_tags(self, device_id: str, tags: Sequence[str]) -> None:
        if tags:
            await self._db.execute_many(
                "INSERT INTO claimed_device_tags (device_id, tag) VALUES (:device, :tag)",
                [{"device": device_id, "tag": tag} for tag in tags],
            )

    async def get(self, device_id: str, *, for_update: bool = False) -> ClaimedDevice | None:
        lock = self._db.dialect.for_update if for_update else ""
        row = await self._db.fetch_one(f"SELECT * FROM claimed_devices WHERE id = :id{lock}", {"id": device_id})
        if row is None:
            return None
        return _device(row, (await self._tags_of([device_id])).get(device_id, []))

    async def page(
        self, tenant_id: str, filters: DeviceFilter, after: tuple[int, str] | None, limit: int
    ) -> DevicePage:
        clauses: list[str] = ["c.tenant_id = :tenant"]
        params: dict[str, Any] = {"tenant": tenant_id}
        if not filters.include_restricted:
            clauses.append("c.restricted = :restricted")
            params["restricted"] = False
        if filters.status is not None:
            clauses.append("c.status = :status")
            params["status"] = filters.status.value
        if filters.device_type is not None:
            clauses.append("c.device_type = :device_type")
            params["device_type"] = filters.device_type
        if filters.tags:
            names = {f"t{i}": tag for i, tag in enumerate(filters.tags)}
            params.update(names)
            clauses.append(
                "EXISTS (SELECT 1 FROM claimed_device_tags g WHERE g.device_id = c.id "
                f"AND g.tag IN ({', '.join(':' + n for n in names)}))"
            )
        where = " WHERE " + " AND ".join(clauses)
        count = await self._db.fetch_one(f"SELECT COUNT(*) AS n FROM claimed_devices c{where}", params)
        total = int(count["n"]) if count else 0
        page_where = where
        page_params: dict[str, Any] = dict(params)
        if after is not None:
            page_where += " AND (c.claimed_at > :after_at OR (c.claimed_at = :after_at AND c.id > :after_id))"
            page_params.update(after_at=after[0], after_id=after[1])
        page_params["limit"] = limit + 1
        found = await self._db.fetch_all(
            f"SELECT * FROM claimed_devices c{page_where} ORDER BY c.claimed_at, c.id LIMIT :limit", page_params
        )
        more = len(found) > limit
        found = found[:limit]
        tags = await self._tags_of([row["id"] for row in found])
        items = [_device(row, tags.get(row["id"], [])) for row in found]
        next_after = (to_millis(items[-1].claimed_at), items[-1].id) if more and items else None
        return DevicePage(items, total, next_after)

    async def delete(self, tenant_id: str, device_id: str) -> bool:
        # Its tags and provisioning commands go with it (ON DELETE CASCADE; explicit for SQLite safety).
        await self._db.execute("DELETE FROM claimed_device_tags WHERE device_id = :id", {"id": device_id})
        await self._db.execute("DELETE FROM provisioning_commands WHERE device_id = :id", {"id": device_id})
        deleted = await self._db.execute(
            "DELETE FROM claimed_devices WHERE id = :id AND tenant_id = :tenant", {"id": device_id, "tenant": tenant_id}
        )
        return deleted > 0

    async def set_status(self, tenant_id: str, device_id: str, status: DeviceStatus, now: datetime) -> bool:
        changed = await self._db.execute(
            "UPDATE claimed_devices SET status = :status, updated_at = :now WHERE id = :id AND tenant_id = :tenant",
            {"status": status.value, "now": to_millis(now), "id": device_id, "tenant": tenant_id},
        )
        return changed > 0

    async def set_tags(self, tenant_id: str, device_id: str, tags: Sequence[str], now: datetime) -> None:
        await self._db.execute("DELETE FROM claimed_device_tags WHERE device_id = :id", {"id": device_id})
        await self._insert_tags(device_id, tags)
        await self._db.execute(
            "UPDATE claimed_devices SET updated_at = :now WHERE id = :id AND tenant_id = :tenant",
            {"now": to_millis(now), "id": device_id, "tenant": tenant_id},
        )

    async def insert_tag(self, tag: Tag) -> bool:
        return (
            await self._db.execute(
                "INSERT INTO nrf_tags (id, tenant_id, kind, tag, description, created_at) "
                "VALUES (:id, :tenant, :kind, :tag, :description, :created_at) ON CONFLICT DO NOTHING",
                {
                    "id": tag.id,
                    "tenant": tag.tenant_id,
                    "kind": tag.kind.value,
                    "tag": tag.tag,
                    "description": tag.description,
                    "created_at": to_millis(tag.created_at),
                },
            )
            > 0
        )

    async def get_tag(self, tenant_id: str, kind: TagKind, tag_id: str) -> Tag | None:
        row = await self._db.fetch_one(
            "SELECT * FROM nrf_tags WHERE id = :id AND tenant_id = :tenant AND kind = :kind",
            {"id": tag_id, "tenant": tenant_id, "kind": kind.value},
        )
        return _tag(row) if row else None

    async def list_tags(self, tenant_id: str, kind: TagKind) -> list[Tag]:
        found = await self._db.fetch_all(
            "SELECT * FROM nrf_tags WHERE tenant_id = :tenant AND kind = :kind ORDER BY tag",
            {"tenant": tenant_id, "kind": kind.value},
        )
        return [_tag(row) for row in found]

    async def update_tag(self, tag: Tag, old_name: str, *, on_devices: bool) -> bool:
        if tag.tag != old_name:
            taken = await self._db.fetch_one(
                "SELECT 1 AS present FROM nrf_tags WHERE tenant_id = :tenant AND kind = :kind AND tag = :tag",
                {"tenant": tag.tenant_id, "kind": tag.kind.value, "tag": tag.tag},
            )
            if taken is not None:
                return False
        await self._db.execute(
            "UPDATE nrf_tags SET tag = :tag, description = :description WHERE id = :id AND tenant_id = :tenant",
            {"tag": tag.tag, "description": tag.description, "id": tag.id, "tenant": tag.tenant_id},
        )
        if on_devices and tag.tag != old_name:
            # Devices that carry both names keep one.
            await self._db.execute(
                "DELETE FROM claimed_device_tags WHERE tag = :old AND device_id IN (SELECT device_id FROM "
                "claimed_device_tags WHERE tag = :new) AND device_id IN "
                "(SELECT id FROM claimed_devices WHERE tenant_id = :tenant)",
                {"old": old_name, "new": tag.tag, "tenant": tag.tenant_id},
            )
            await self._db.execute(
                "UPDATE claimed_device_tags SET tag = :new WHERE tag = :old AND device_id IN "
                "(SELECT id FROM claimed_devices WHERE tenant_id = :tenant)",
                {"old": old_name, "new": tag.tag, "tenant": tag.tenant_id},
            )
        return True

    async def delete_tag(self, tag: Tag, *, on_devices: bool) -> list[str]:
        await self._db.execute("DELETE FROM nrf_tags WHERE id = :id", {"id": tag.id})
        if not on_devices:
            return []
        params = {"tag": tag.tag, "tenant": tag.tenant_id}
        devices = [
            row["device_id"]
            for row in await self._db.fetch_all(
                "SELECT device_id FROM claimed_device_tags WHERE tag = :tag AND device_id IN "
                "(SELECT id FROM claimed_devices WHERE tenant_id = :tenant) ORDER BY device_id",
                params,
            )
        ]
        await self._db.execute(
            "DELETE FROM claimed_device_tags WHERE tag = :tag AND device_id IN "
            "(SELECT id FROM claimed_devices WHERE tenant_id = :tenant)",
            params,
        )
        return devices
