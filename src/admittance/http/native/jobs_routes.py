"""Background imports and jobs: upload a manifest and get a job (202), follow its progress, page its
row results, download its failed rows as CSV. Errors are RFC 9457 problem documents."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from admittance.devices.bulk.engine import BulkImporter
from admittance.devices.bulk.imports import DEVICE_IMPORT, ImportService
from admittance.devices.bulk.rows import RowStatus
from admittance.http.links import Links
from admittance.http.paging import offset_page, page_request
from admittance.http.params import path_text, query
from admittance.http.surface import Row, guarded
from admittance.http.times import utc_millis_or_none
from admittance.http.upload import read_upload
from admittance.jobs import Job, JobRow, JobStatus
from admittance.jobs.service import JobService
from admittance.kernel.clock import Clock
from admittance.kernel.errors import InvalidInput
from admittance.kernel.principal import Principal

PREFIX = "/admittance/v1"
JSON = "application/json"


def routes(jobs: Jobs) -> list[Row]:
    return [
        guarded("POST", f"{PREFIX}/device-imports", jobs.submit_import),
        guarded("GET", f"{PREFIX}/jobs", jobs.list),
        guarded("GET", f"{PREFIX}/jobs/{{id}}", jobs.get),
        guarded("GET", f"{PREFIX}/jobs/{{id}}/rows", jobs.rows),
        guarded("GET", f"{PREFIX}/jobs/{{id}}/failed-rows.csv", jobs.failed_rows),
    ]


def job_document(job: Job, base: str, now: datetime) -> dict[str, Any]:
    link = f"{base}{PREFIX}/jobs/{job.id}"
    processed = job.cursor if job.kind == DEVICE_IMPORT else job.updated_count
    progress: dict[str, Any] = {
        "total": job.total,
        "processed": processed,
        "created": job.created_count,
        "updated": job.updated_count,
        "failed": job.failed_count,
        # Done is 100 %: a password-wrap job skips the passwords that were changed while it ran.
        "percent": 100.0
        if job.status is JobStatus.SUCCEEDED
        else (round(100 * processed / job.total, 1) if job.total else 0.0),
    }
    if job.started_at is not None and processed:
        elapsed = ((job.finished_at or now) - job.started_at).total_seconds()
        if elapsed > 0:
            rate = processed / elapsed
            progress["rowsPerSecond"] = round(rate, 1)
            if job.status is JobStatus.IN_PROGRESS and job.total > processed:
                progress["etaSeconds"] = round((job.total - processed) / rate, 1)
    document: dict[str, Any] = {
        "id": job.id,
        "self": link,
        "kind": job.kind,
        "status": job.status.value,
        "tenantId": job.tenant_id,
        "creator": job.creator,
        "createdAt": utc_millis_or_none(job.created_at),
        "startedAt": utc_millis_or_none(job.started_at),
        "finishedAt": utc_millis_or_none(job.finished_at),
        "attempts": job.attempts,
        "progress": progress,
    }
    if job.error:
        document["error"] = job.error
    if job.kind == DEVICE_IMPORT:
        document["rows"] = f"{link}/rows"
        document["failedRows"] = f"{link}/failed-rows.csv"
    return document


def _row_document(row: JobRow) -> dict[str, Any]:
    document: dict[str, Any] = {"line": row.line, "status": row.status.value}
    if row.device_id:
        document["deviceId"] = row.device_id
    if row.reason:
        document["failureReason"] = row.reason
    if row.raw:
        document["row"] = row.raw  # secrets emptied
    return document


def _json(document: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(document), status, headers=headers, media_type=JSON)


class Jobs:
    """Background imports and the jobs of the caller's tenant."""

    def __init__(
        self,
        jobs: JobService,
        imports: ImportService,
        importer: BulkImporter,
        clock: Clock,
        links: Links,
        max_manifest_bytes: int,
    ) -> None:
        self._jobs = jobs
        self._imports = imports
        self._importer = importer
        self._clock = clock
        self._links = links
        self._max_manifest_bytes = max_manifest_bytes

    async def submit_import(self, request: Request, principal: Principal) -> Response:
        self._importer.authorize(principal)  # before reading a body of up to tens of MB
        data = await read_upload(request, self._max_manifest_bytes, raw_allowed=True)
        job = await self._imports.submit_import(principal, data)
        document = job_document(job, self._links.base(request), self._clock.now())
        return _json(document, 202, {"location": document["self"]})

    async def list(self, request: Request, principal: Principal) -> Response:
        page = await self._jobs.list_jobs(principal, page_request(request))
        now, base = self._clock.now(), self._links.base(request)
        items = [job_document(job, base, now) for job in page.items]
        return _json(offset_page(page, f"{base}{PREFIX}/jobs", "jobs", items))

    async def get(self, request: Request, principal: Principal) -> Response:
        job = await self._jobs.get(principal, path_text(request, "id"))
        return _json(job_document(job, self._links.base(request), self._clock.now()))

    async def rows(self, request: Request, principal: Principal) -> Response:
        job_id = path_text(request, "id")
        raw_status = query(request, "status")
        if raw_status is not None and raw_status not in RowStatus.__members__:
            raise InvalidInput(f"status must be one of {', '.join(RowStatus.__members__)}", field="status")
        status = RowStatus(raw_status) if raw_status else None
        page = await self._jobs.rows(principal, job_id, status, page_request(request))
        link = f"{self._links.base(request)}{PREFIX}/jobs/{job_id}/rows"
        return _json(offset_page(page, link, "rows", [_row_document(row) for row in page.items]))

    async def failed_rows(self, request: Request, principal: Principal) -> Response:
        job_id = path_text(request, "id")
        text = await self._imports.failed_rows_csv(principal, job_id)
        return Response(
            text.encode("utf-8-sig"),  # with a BOM, so spreadsheets read the UTF-8 right
            200,
            media_type="text/csv; charset=utf-8",
            headers={"content-disposition": f'attachment; filename="failed-rows-{job_id}.csv"'},
        )
