"""Subjects' last contacts: one batch of upserts per flush, never moving a contact back in time."""

from __future__ import annotations

from collections.abc import Sequence

from admittance.identity.model import Door, LastSeen, Sighting
from admittance.kernel.clock import from_millis, to_millis
from admittance.storage.database import Database

_CHUNK = 500
_UPSERT = (
    "INSERT INTO last_seen (tenant_id, subject, at, door, address) "
    "SELECT :tenant, :subject, :at, :door, :address WHERE EXISTS (SELECT 1 FROM tenants WHERE id = :known) "
    "ON CONFLICT (tenant_id, subject) DO UPDATE SET at = excluded.at, door = excluded.door, "
    "address = excluded.address WHERE excluded.at >= last_seen.at"
)
_IN_LIST = 500


class SqlLastSeenStore:
    def __init__(self, database: Database) -> None:
        self._db = database

    async def record_seen(self, sightings: Sequence[Sighting]) -> None:
        for start in range(0, len(sightings), _CHUNK):
            chunk = sightings[start : start + _CHUNK]
            async with self._db.transaction() as executor:
                await executor.execute_many(
                    _UPSERT,
                    [
                        {
                            "tenant": item.tenant_id,
                            "known": item.tenant_id,
                            "subject": item.subject,
                            "at": to_millis(item.seen.at),
                            "door": item.seen.door.value,
                            "address": item.seen.address,
                        }
                        for item in chunk
                    ],
                )

    async def last_seen(self, tenant_id: str, subjects: Sequence[str]) -> dict[str, LastSeen]:
        found: dict[str, LastSeen] = {}
        unique = list(dict.fromkeys(subjects))
        async with self._db.read() as executor:
            for start in range(0, len(unique), _IN_LIST):
                chunk = unique[start : start + _IN_LIST]
                names = {f"s{index}": name for index, name in enumerate(chunk)}
                rows = await executor.fetch_all(
                    "SELECT subject, at, door, address FROM last_seen WHERE tenant_id = :tenant "
                    f"AND subject IN ({', '.join(':' + key for key in names)})",
                    {"tenant": tenant_id, **names},
                )
                for row in rows:
                    try:
                        door = Door(row["door"])
                    except ValueError:
                        continue  # written by a newer server: not shown rather than misread
                    found[row["subject"]] = LastSeen(from_millis(row["at"]), door, row["address"])
        return found
