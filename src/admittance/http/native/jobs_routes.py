"""Background imports and jobs: upload a manifest and get a job (202), follow its progress, page its
row results, download its failed rows as CSV. Errors are RFC 9457 problem documents."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from admittance.devices.bulk.rows import RowStatus
from admittance.http.basic_auth import BasicAuthenticator
from admittance.http.body import path_text
from admittance.http.compat.cumulocity.media import base_url
from admittance.http.paging import page_request
from admittance.http.state import AppState
from admittance.http.upload import read_upload
from admittance.jobs import Job, JobKind, JobRow, JobStatus
from admittance.kernel.errors import InvalidInput
from admittance.kernel.paging import Page

PREFIX = "/admittance/v1"
JSON = "application/json"


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z") if moment else None


def job_document(job: Job, base: str, now: datetime) -> dict[str, Any]:
    link = f"{base}{PREFIX}/jobs/{job.id}"
    processed = job.cursor if job.kind is JobKind.DEVICE_IMPORT else job.updated_count
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
        "kind": job.kind.value,
        "status": job.status.value,
        "tenantId": job.tenant_id,
        "creator": job.creator,
        "createdAt": _iso(job.created_at),
        "startedAt": _iso(job.started_at),
        "finishedAt": _iso(job.finished_at),
        "attempts": job.attempts,
        "progress": progress,
    }
    if job.error:
        document["error"] = job.error
    if job.kind is JobKind.DEVICE_IMPORT:
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


def _paged(page: Page[Any], key: str, items: list[Any], link: str) -> dict[str, Any]:
    size, current = page.request.size, page.request.page
    document: dict[str, Any] = {
        "self": f"{link}?pageSize={size}&currentPage={current}",
        key: items,
        "statistics": {"currentPage": current, "pageSize": size},
    }
    if page.total is not None:
        document["statistics"]["totalElements"] = page.total
    if page.has_more:
        document["next"] = f"{link}?pageSize={size}&currentPage={current + 1}"
    if current > 1:
        document["prev"] = f"{link}?pageSize={size}&currentPage={current - 1}"
    return document


def _json(document: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(document), status, headers=headers, media_type=JSON)


def routes(state: AppState, auth: BasicAuthenticator) -> list[Route]:
    def base(request: Request) -> str:
        return base_url(request, state.services.settings.public_url)

    async def submit_import(request: Request) -> Response:
        principal = await auth.principal(request)
        services = state.services
        services.bulk.authorize(principal)  # before reading a body of up to tens of MB
        data = await read_upload(request, services.settings.max_manifest_bytes, raw_allowed=True)
        job = await services.jobs.submit_import(principal, data)
        document = job_document(job, base(request), services.clock.now())
        return _json(document, 202, {"location": document["self"]})

    async def list_jobs(request: Request) -> Response:
        principal = await auth.principal(request)
        page = await state.services.jobs.list_jobs(principal, page_request(request))
        now = state.services.clock.now()
        items = [job_document(job, base(request), now) for job in page.items]
        return _json(_paged(page, "jobs", items, f"{base(request)}{PREFIX}/jobs"))

    async def get_job(request: Request) -> Response:
        principal = await auth.principal(request)
        job = await state.services.jobs.get(principal, path_text(request, "id"))
        return _json(job_document(job, base(request), state.services.clock.now()))

    async def job_rows(request: Request) -> Response:
        principal = await auth.principal(request)
        job_id = path_text(request, "id")
        raw_status = request.query_params.get("status")
        if raw_status is not None and raw_status not in RowStatus.__members__:
            raise InvalidInput(f"status must be one of {', '.join(RowStatus.__members__)}", field="status")
        status = RowStatus(raw_status) if raw_status else None
        page = await state.services.jobs.rows(principal, job_id, status, page_request(request))
        link = f"{base(request)}{PREFIX}/jobs/{job_id}/rows"
        return _json(_paged(page, "rows", [_row_document(row) for row in page.items], link))

    async def failed_rows(request: Request) -> Response:
        principal = await auth.principal(request)
        job_id = path_text(request, "id")
        text = await state.services.jobs.failed_rows_csv(principal, job_id)
        return Response(
            text.encode("utf-8-sig"),  # with a BOM, so spreadsheets read the UTF-8 right
            200,
            media_type="text/csv; charset=utf-8",
            headers={"content-disposition": f'attachment; filename="failed-rows-{job_id}.csv"'},
        )

    return [
        Route(f"{PREFIX}/device-imports", submit_import, methods=["POST"]),
        Route(f"{PREFIX}/jobs", list_jobs, methods=["GET"]),
        Route(f"{PREFIX}/jobs/{{id}}", get_job, methods=["GET"]),
        Route(f"{PREFIX}/jobs/{{id}}/rows", job_rows, methods=["GET"]),
        Route(f"{PREFIX}/jobs/{{id}}/failed-rows.csv", failed_rows, methods=["GET"]),
    ]
