"""The job queue in SQL. Claiming uses FOR UPDATE SKIP LOCKED on PostgreSQL, so workers in any
number of processes take different jobs without waiting on each other; on SQLite the write
transaction (BEGIN IMMEDIATE) already admits one claimer at a time."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson

from admittance.jobs.model import Job, JobKind, JobRow, JobStatus, Progress, RowStatus
from admittance.kernel.clock import from_millis, to_millis
from admittance.kernel.paging import Page, PageRequest
from admittance.storage.database import Executor, Row
from admittance.storage.sql import rows
from admittance.storage.sql.paging import fetch_page

_COLUMNS = (
    "id, tenant_id, kind, creator, status, options, total, cursor, created_count, updated_count, failed_count, "
    "error, attempts, lease_owner, lease_expires_at, created_at, updated_at, started_at, finished_at"
)
_UNFINISHED = (JobStatus.PENDING.value, JobStatus.IN_PROGRESS.value)


def _job(row: Row) -> Job:
    def moment(value: int | None) -> datetime | None:
        return from_millis(value) if value is not None else None

    return Job(
        id=row["id"],
        tenant_id=row["tenant_id"],
        kind=JobKind(row["kind"]),
        creator=row["creator"],
        status=JobStatus(row["status"]),
        created_at=from_millis(row["created_at"]),
        updated_at=from_millis(row["updated_at"]),
        total=row["total"],
        cursor=row["cursor"],
        created_count=row["created_count"],
        updated_count=row["updated_count"],
        failed_count=row["failed_count"],
        attempts=row["attempts"],
        error=row["error"],
        options=orjson.loads(row["options"]),
        started_at=moment(row["started_at"]),
        finished_at=moment(row["finished_at"]),
        lease_owner=row["lease_owner"],
    )


def _job_row(row: Row) -> JobRow:
    return JobRow(row["line"], RowStatus(row["status"]), row["device_id"], row["reason"], row["raw"] or "")


class SqlJobStore:
    def __init__(self, executor: Executor) -> None:
        self._db = executor

    async def insert(self, job: Job, content: bytes | None) -> None:
        await self._db.execute(
            f"INSERT INTO jobs ({_COLUMNS}) VALUES (:id, :tenant, :kind, :creator, :status, :options, :total, 0, "
            "0, 0, 0, NULL, 0, NULL, NULL, :now, :now, NULL, NULL)",
            {
                "id": job.id,
                "tenant": job.tenant_id,
                "kind": job.kind,
                "creator": job.creator,
                "status": job.status.value,
                "options": rows.dumps(job.options),
                "total": job.total,
                "now": to_millis(job.created_at),
            },
        )
        if content is not None:
            await self._db.execute(
                "INSERT INTO job_inputs (job_id, content) VALUES (:id, :content)", {"id": job.id, "content": content}
            )

    async def get(self, job_id: str) -> Job | None:
        row = await self._db.fetch_one(f"SELECT {_COLUMNS} FROM jobs WHERE id = :id", {"id": job_id})
        return _job(row) if row else None

    async def page(self, tenant_id: str | None, page: PageRequest, kind: JobKind | None = None) -> Page[Job]:
        conditions, params = [], {}
        if tenant_id:
            conditions.append("tenant_id = :tenant")
            params["tenant"] = tenant_id
        if kind is not None:
            conditions.append("kind = :kind")
            params["kind"] = kind
        where = f"WHERE {' AND '.join(conditions)}" if conditions else ""
        return await fetch_page(
            self._db,
            f"SELECT {_COLUMNS} FROM jobs {where} ORDER BY created_at DESC, id",
            f"SELECT count(*) AS n FROM jobs {where}",
            params,
            page,
            _job,
        )

    async def exists_unfinished(self, tenant_id: str, kind: JobKind) -> bool:
        row = await self._db.fetch_one(
            "SELECT 1 AS found FROM jobs WHERE tenant_id = :tenant AND kind = :kind AND status IN (:pending, :running)",
            {"tenant": tenant_id, "kind": kind, "pending": _UNFINISHED[0], "running": _UNFINISHED[1]},
        )
        return row is not None

    async def content(self, job_id: str) -> bytes | None:
        row = await self._db.fetch_one("SELECT content FROM job_inputs WHERE job_id = :id", {"id": job_id})
        return bytes(row["content"]) if row else None

    async def claim(self, worker: str, now: datetime, lease_until: datetime) -> Job | None:
        lock = " FOR UPDATE SKIP LOCKED" if self._db.dialect.name == "postgresql" else ""
        row = await self._db.fetch_one(
            "UPDATE jobs SET status = :running, lease_owner = :worker, lease_expires_at = :until, "
            "attempts = attempts + 1, started_at = COALESCE(started_at, :now), updated_at = :now "
            "WHERE id = (SELECT id FROM jobs WHERE status = :pending "
            "OR (status = :running AND lease_expires_at < :now) "
            f"ORDER BY created_at, id LIMIT 1{lock}) RETURNING {_COLUMNS}",
            {
                "running": JobStatus.IN_PROGRESS.value,
                "pending": JobStatus.PENDING.value,
                "worker": worker,
                "until": to_millis(lease_until),
                "now": to_millis(now),
            },
        )
        return _job(row) if row else None

    async def advance(self, job_id: str, worker: str, progress: Progress, now: datetime, lease_until: datetime) -> bool:
        # A password-wrap job also wraps what was stored after it was queued: its total grows with it.
        changed = await self._db.execute(
            "UPDATE jobs SET cursor = :cursor, created_count = created_count + :created, "
            "total = CASE WHEN updated_count + :updated > total THEN updated_count + :updated ELSE total END, "
            "updated_count = updated_count + :updated, failed_count = failed_count + :failed, "
            "lease_expires_at = :until, updated_at = :now "
            "WHERE id = :id AND lease_owner = :worker AND status = :running",
            {
                "id": job_id,
                "worker": worker,
                "running": JobStatus.IN_PROGRESS.value,
                "cursor": progress.cursor,
                "created": progress.created,
                "updated": progress.updated,
                "failed": progress.failed,
                "until": to_millis(lease_until),
                "now": to_millis(now),
            },
        )
        if not changed:
            return False
        await self._db.execute_many(
            "INSERT INTO job_rows (job_id, line, status, device_id, reason, raw) "
            "VALUES (:job, :line, :status, :device, :reason, :raw)",
            [
                {
                    "job": job_id,
                    "line": row.line,
                    "status": row.status.value,
                    "device": row.device_id,
                    "reason": row.reason,
                    "raw": row.raw,
                }
                for row in progress.rows
            ],
        )
        return True

    async def release(self, job_id: str, worker: str, now: datetime) -> bool:
        changed = await self._db.execute(
            "UPDATE jobs SET status = :pending, lease_owner = NULL, lease_expires_at = NULL, "
            "attempts = attempts - 1, updated_at = :now WHERE id = :id AND lease_owner = :worker AND status = :running",
            {
                "id": job_id,
                "worker": worker,
                "now": to_millis(now),
                "pending": JobStatus.PENDING.value,
                "running": JobStatus.IN_PROGRESS.value,
            },
        )
        return changed > 0

    async def finish(self, job_id: str, worker: str, status: JobStatus, error: str | None, now: datetime) -> bool:
        changed = await self._db.execute(
            "UPDATE jobs SET status = :status, error = :error, finished_at = :now, updated_at = :now, "
            "lease_owner = NULL, lease_expires_at = NULL WHERE id = :id AND lease_owner = :worker",
            {"id": job_id, "worker": worker, "status": status.value, "error": error, "now": to_millis(now)},
        )
        if changed and status.finished:
            await self._db.execute("DELETE FROM job_inputs WHERE job_id = :id", {"id": job_id})
        return changed > 0

    async def rows(self, job_id: str, status: str | None, page: PageRequest) -> Page[JobRow]:
        params: dict[str, Any] = {"job": job_id}
        where = "job_id = :job"
        if status:
            where += " AND status = :status"
            params["status"] = status
        return await fetch_page(
            self._db,
            f"SELECT * FROM job_rows WHERE {where} ORDER BY line",
            f"SELECT count(*) AS n FROM job_rows WHERE {where}",
            params,
            page,
            _job_row,
        )

    async def all_rows(self, job_id: str, status: str) -> list[JobRow]:
        found = await self._db.fetch_all(
            "SELECT * FROM job_rows WHERE job_id = :job AND status = :status ORDER BY line",
            {"job": job_id, "status": status},
        )
        return [_job_row(row) for row in found]

    async def count_unfinished(self, tenant_id: str | None) -> int:
        scope, params = (" AND tenant_id = :tenant", {"tenant": tenant_id}) if tenant_id else ("", {})
        row = await self._db.fetch_one(
            f"SELECT count(*) AS n FROM jobs WHERE status IN (:pending, :running){scope}",
            {**params, "pending": _UNFINISHED[0], "running": _UNFINISHED[1]},
        )
        return int(row["n"]) if row else 0
