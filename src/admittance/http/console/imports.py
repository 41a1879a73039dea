"""Console pages: bulk import. Upload a manifest (drop it or choose it), see a preview before
anything is written (how the file was read, its first rows, the rows that will fail and why), import
it as a background job, follow its progress live, page its per-row results and download the failed
rows to fix and upload again; the list of past imports.

The uploaded file is staged in the database (JobService.stage_import), bound to the user and
expiring, so the preview and the import may be served by any server process."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from admittance.devices.bulk.rows import RowStatus
from admittance.http.console.core import PREFIX, Console, ConsoleError, Page, message_of, page
from admittance.http.params import whole_number
from admittance.jobs import Job, JobKind, JobStatus
from admittance.kernel.errors import InvalidInput, NotFound, PayloadTooLarge
from admittance.kernel.paging import PageRequest

BASE = PREFIX + "/imports"
# The Cumulocity requests an import stands for (the native job API's own path is granted only by
# connectware-admin's "#"; the services require ROLE_DEVICE_CONTROL_ADMIN / _READ, as these do).
SUBMIT: tuple[str, str] = ("POST", "/devicecontrol/bulkNewDeviceRequests")
READ: tuple[str, str] = ("GET", "/devicecontrol/newDeviceRequests")
JOBS_PAGE_SIZE = 20
ROWS_PAGE_SIZE = 50
_ROW_FILTERS = (("", "All kept rows"), ("FAILED", "Failed"), ("CREDENTIAL_UPDATED", "Credentials updated"))


def when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC") if moment else "—"


def size_text(size: int) -> str:
    for unit, scale in (("MB", 1024 * 1024), ("KB", 1024)):
        if size >= scale:
            return f"{size / scale:,.1f}".removesuffix(".0") + f" {unit}"
    return f"{size:,} bytes"


def _page_number(current: Page) -> int:
    raw = current.query("page", "1")
    return whole_number(raw, 1, 100_000) or 1


def percent(job: Job) -> int:
    if job.status is JobStatus.SUCCEEDED:
        return 100
    return int(100 * job.cursor / job.total) if job.total else 0


def _job_view(job: Job) -> dict[str, Any]:
    return {
        "job": job,
        "percent": percent(job),
        "finished": job.status.finished,
        "filename": str(job.options.get("filename", "")),
        "created": when(job.created_at),
        "started": when(job.started_at),
        "ended": when(job.finished_at),
    }


async def _read_upload(current: Page) -> tuple[bytes, str]:
    upload = current.upload("file")
    if upload is None or not upload.filename:
        raise InvalidInput("Choose a CSV file to upload (or drop one on the upload area).", field="file")
    limit = current.services.settings.max_manifest_bytes
    data = await upload.read(limit + 1)
    if len(data) > limit:
        raise PayloadTooLarge(f"The file is larger than the limit of {size_text(limit)}; split it into smaller files.")
    if not data:
        raise InvalidInput(f"The file {upload.filename} is empty.", field="file")
    return data, upload.filename


def routes(console: Console) -> list[BaseRoute]:
    async def _list_context(current: Page) -> dict[str, Any]:
        number = _page_number(current)
        found = await current.services.jobs.list_jobs(
            current.principal, PageRequest(number, JOBS_PAGE_SIZE), JobKind.DEVICE_IMPORT
        )
        return {
            "jobs": [_job_view(job) for job in found.items],
            "running": any(not job.status.finished for job in found.items),
            "live_url": f"{BASE}/list" + (f"?page={number}" if number > 1 else ""),
            "can_submit": current.can(*SUBMIT),
            "prev": f"{BASE}?page={number - 1}" if number > 1 else None,
            "next": f"{BASE}?page={number + 1}" if found.has_more else None,
        }

    @page(console, needs=READ)
    async def imports(current: Page) -> Response:
        context = await _list_context(current)
        max_size = size_text(current.services.settings.max_manifest_bytes)
        return current.render("imports.html", title="Bulk import", max_size=max_size, **context)

    @page(console, needs=READ, background=True)
    async def imports_live(current: Page) -> Response:
        return current.render("imports_list.html", title="Bulk import", **await _list_context(current))

    @page(console, needs=SUBMIT)
    async def upload(current: Page) -> Response:
        data, filename = await _read_upload(current)
        staged = await current.services.jobs.stage_import(current.principal, data, filename)
        return current.redirect(f"{BASE}/staged/{staged.id}")

    @page(console, needs=SUBMIT)
    async def preview(current: Page) -> Response:
        staged_id = current.request.path_params["id"]
        staged, shown = await current.services.jobs.preview_staged(current.principal, staged_id)
        return current.render(
            "imports_preview.html",
            title=f"Preview of {staged.filename}",
            staged=staged,
            preview=shown,
            expires=when(staged.expires_at),
            size=size_text(staged.size),
        )

    @page(console, needs=SUBMIT)
    async def commit(current: Page) -> Response:
        staged_id = current.request.path_params["id"]
        try:
            job = await current.services.jobs.submit_staged(current.principal, staged_id)
        except NotFound as exc:  # imported, discarded or expired: the preview is gone too
            return current.redirect(BASE, ("error", message_of(exc)))
        except InvalidInput as exc:  # the file cannot be imported: its preview says why
            return current.redirect(f"{BASE}/staged/{staged_id}", ("error", message_of(exc)))
        return current.redirect(f"{BASE}/{job.id}", f"The import of {job.total} rows has started.")

    @page(console, needs=SUBMIT)
    async def discard(current: Page) -> Response:
        try:
            await current.services.jobs.discard_staged(current.principal, current.request.path_params["id"])
        except NotFound as exc:
            return current.redirect(BASE, ("error", message_of(exc)))
        return current.redirect(BASE, "The uploaded file was discarded; nothing was imported.")

    async def _job_context(current: Page) -> dict[str, Any]:
        job_id = current.request.path_params["id"]
        job = await current.services.jobs.get(current.principal, job_id)
        if job.kind is not JobKind.DEVICE_IMPORT:
            raise ConsoleError(404, f"Job {job_id} is not an import.")
        status_text = current.query("status")
        if status_text and status_text not in RowStatus.__members__:
            raise ConsoleError(400, "The row filter must be FAILED or CREDENTIAL_UPDATED.")
        status = RowStatus(status_text) if status_text else None
        number = _page_number(current)
        rows = await current.services.jobs.rows(current.principal, job_id, status, PageRequest(number, ROWS_PAGE_SIZE))

        def link(to_page: int) -> str:
            query = {"status": status_text} if status_text else {}
            if to_page > 1:
                query["page"] = str(to_page)
            return f"{BASE}/{job_id}" + (f"?{urlencode(query)}" if query else "")

        query = current.request.url.query
        return {
            **_job_view(job),
            "rows": rows.items,
            "row_filters": _ROW_FILTERS,
            "status_filter": status_text,
            "live_url": f"{BASE}/{job_id}/live" + (f"?{query}" if query else ""),
            "prev": link(number - 1) if number > 1 else None,
            "next": link(number + 1) if rows.has_more else None,
            "can_submit": current.can(*SUBMIT),
        }

    @page(console, needs=READ)
    async def job_page(current: Page) -> Response:
        context = await _job_context(current)
        title = f"Import {context['filename'] or context['job'].id}"
        return current.render("imports_job.html", title=title, **context)

    @page(console, needs=READ, background=True)
    async def job_live(current: Page) -> Response:
        context = await _job_context(current)
        return current.render("imports_job_live.html", title="Import", **context)

    @page(console, needs=READ)
    async def failed_rows(current: Page) -> Response:
        job_id = current.request.path_params["id"]
        text = await current.services.jobs.failed_rows_csv(current.principal, job_id)
        return Response(
            text.encode("utf-8-sig"),  # with a BOM, so spreadsheets read the UTF-8 right
            200,
            media_type="text/csv; charset=utf-8",
            headers={"content-disposition": f'attachment; filename="failed-rows-{job_id}.csv"'},
        )

    return [
        Route(BASE, imports, methods=["GET"]),
        Route(BASE, upload, methods=["POST"]),
        Route(BASE + "/list", imports_live, methods=["GET"]),
        Route(BASE + "/staged/{id}", preview, methods=["GET"]),
        Route(BASE + "/staged/{id}/import", commit, methods=["POST"]),
        Route(BASE + "/staged/{id}/discard", discard, methods=["POST"]),
        Route(BASE + "/{id}", job_page, methods=["GET"]),
        Route(BASE + "/{id}/live", job_live, methods=["GET"]),
        Route(BASE + "/{id}/failed-rows.csv", failed_rows, methods=["GET"]),
    ]
