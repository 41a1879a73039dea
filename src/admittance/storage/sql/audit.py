"""The audit log in SQL."""

from __future__ import annotations

import orjson

from admittance.audit import AuditEvent, AuditTag
from admittance.kernel.clock import from_millis, to_millis
from admittance.storage.database import Executor, Row
from admittance.storage.sql import rows
from admittance.storage.sql.batch import insert_rows

_INSERT = (
    "INSERT INTO audit_events (tenant_id, at, actor, tag, subject, detail) "
    "VALUES (:tenant, :at, :actor, :tag, :subject, :detail)"
)


def _params(event: AuditEvent) -> dict[str, object]:
    return {
        "tenant": event.tenant_id,
        "at": to_millis(event.at),
        "actor": event.actor,
        "tag": event.tag.value,
        "subject": event.subject,
        "detail": rows.dumps(event.detail),
    }


class SqlAuditStore:
    def __init__(self, executor: Executor) -> None:
        self._db = executor

    async def record(self, event: AuditEvent) -> None:
        await self._db.execute(_INSERT, _params(event))

    async def record_many(self, events: list[AuditEvent]) -> None:
        await insert_rows(
            self._db,
            "audit_events",
            [
                ("tenant_id", "text"),
                ("at", "bigint"),
                ("actor", "text"),
                ("tag", "text"),
                ("subject", "text"),
                ("detail", "text"),
            ],
            [(e.tenant_id, to_millis(e.at), e.actor, e.tag.value, e.subject, rows.dumps(e.detail)) for e in events],
        )

    async def list_for_subject(self, tenant_id: str, subject: str, limit: int = 100) -> list[AuditEvent]:
        found = await self._db.fetch_all(
            "SELECT * FROM audit_events WHERE tenant_id = :tenant AND subject = :subject ORDER BY at, id LIMIT :limit",
            {"tenant": tenant_id, "subject": subject, "limit": limit},
        )
        return [_event(row) for row in found]

    async def recent_for_subjects(self, tenant_id: str, subjects: list[str], limit: int = 50) -> list[AuditEvent]:
        # One indexed read per subject (tenant, subject, at), merged: each stays cheap however long the log.
        merged: list[tuple[int, AuditEvent]] = []
        for subject in dict.fromkeys(subjects):
            found = await self._db.fetch_all(
                "SELECT * FROM audit_events WHERE tenant_id = :tenant AND subject = :subject "
                "ORDER BY at DESC, id DESC LIMIT :limit",
                {"tenant": tenant_id, "subject": subject, "limit": limit},
            )
            merged.extend((row["id"], _event(row)) for row in found)
        merged.sort(key=lambda pair: (pair[1].at, pair[0]), reverse=True)
        return [event for _, event in merged[:limit]]


def _event(row: Row) -> AuditEvent:
    return AuditEvent(
        AuditTag(row["tag"]),
        row["tenant_id"],
        row["actor"],
        row["subject"],
        from_millis(row["at"]),
        orjson.loads(row["detail"]),
    )
