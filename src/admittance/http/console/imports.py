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

from admittance.devices.bulk.imports import DEVICE_IMPORT, ImportService
from admittance.devices.bulk.rows import RowStatus
from admittance.http.console.core import PREFIX, ConsoleError, message_of
from admittance.http.console.page import Page, PageRoute
from admittance.jobs import Job, JobService, JobStatus
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


def routes(pages: ImportPages) -> list[PageRoute]:
    staged = BASE + "/staged/{id}"
    job = BASE + "/{id}"
    return [
        PageRoute("GET", BASE, pages.imports, needs=READ),
        PageRoute("POST", BASE, pages.upload, needs=SUBMIT),
        PageRoute("GET", BASE + "/list", pages.imports_live, needs=READ, background=True),
        PageRoute("GET", staged, pages.preview, needs=SUBMIT),
        PageRoute("POST", staged + "/import", pages.commit, needs=SUBMIT),
        PageRoute("POST", staged + "/discard", pages.discard, needs=SUBMIT),
        PageRoute("GET", job, pages.job_page, needs=READ),
        PageRoute("GET", job + "/live", pages.job_live, needs=READ, background=True),
        PageRoute("GET", job + "/failed-rows.csv", pages.failed_rows, needs=READ),
    ]


def when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC") if moment else "—"


def size_text(size: int) -> str:
    for unit, scale in (("MB", 1024 * 1024), ("KB", 1024)):
        if size >= scale:
            return f"{size / scale:,.1f}".removesuffix(".0") + f" {unit}"
    return f"{size:,} bytes"


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


def _row_status(current: Page) -> tuple[str, RowStatus | None]:
    """The row filter of a job page: its text (for links) and the status."""
    text = current.query("status")
    if text and text not in RowStatus.__members__:
        raise ConsoleError(400, "The row filter must be FAILED or CREDENTIAL_UPDATED.")
    return text, RowStatus(text) if text else None


class ImportPages:
    """Bulk import through the import and job services: staging an upload, its preview, the import job and its
    rows; `max_manifest_bytes` is the largest file accepted."""

    def __init__(self, jobs: JobService, imports: ImportService, max_manifest_bytes: int) -> None:
        self._jobs = jobs
        self._imports = imports
        self._max_bytes = max_manifest_bytes

    async def imports(self, current: Page) -> Response:
        context = await self._list_context(current)
        return current.render("imports.html", title="Bulk import", max_size=size_text(self._max_bytes), **context)

    async def imports_live(self, current: Page) -> Response:
        return current.render("imports_list.html", title="Bulk import", **await self._list_context(current))

    async def _list_context(self, current: Page) -> dict[str, Any]:
        number = current.page_number_or_first()
        found = await self._jobs.list_jobs(current.principal, PageRequest(number, JOBS_PAGE_SIZE), DEVICE_IMPORT)
        return {
            "jobs": [_job_view(job) for job in found.items],
            "running": any(not job.status.finished for job in found.items),
            "live_url": f"{BASE}/list" + (f"?page={number}" if number > 1 else ""),
            "can_submit": current.can(*SUBMIT),
            "prev": f"{BASE}?page={number - 1}" if number > 1 else None,
            "next": f"{BASE}?page={number + 1}" if found.has_more else None,
        }

    async def upload(self, current: Page) -> Response:
        data, filename = await self._read_upload(current)
        staged = await self._imports.stage_import(current.principal, data, filename)
        return current.redirect(f"{BASE}/staged/{staged.id}")

    async def _read_upload(self, current: Page) -> tuple[bytes, str]:
        upload = current.upload("file")
        if upload is None or not upload.filename:
            raise InvalidInput("Choose a CSV file to upload (or drop one on the upload area).", field="file")
        data = await upload.read(self._max_bytes + 1)
        if len(data) > self._max_bytes:
            limit = size_text(self._max_bytes)
            raise PayloadTooLarge(f"The file is larger than the limit of {limit}; split it into smaller files.")
        if not data:
            raise InvalidInput(f"The file {upload.filename} is empty.", field="file")
        return data, upload.filename

    async def preview(self, current: Page) -> Response:
        staged, shown = await self._imports.preview_staged(current.principal, current.path_param("id"))
        return current.render(
            "imports_preview.html",
            title=f"Preview of {staged.filename}",
            staged=staged,
            preview=shown,
            expires=when(staged.expires_at),
            size=size_text(staged.size),
        )

    async def commit(self, current: Page) -> Response:
        staged_id = current.path_param("id")
        try:
            job = await self._imports.submit_staged(current.principal, staged_id)
        except NotFound as exc:  # imported, discarded or expired: the preview is gone too
            return current.redirect(BASE, ("error", message_of(exc)))
        except InvalidInput as exc:  # the file cannot be imported: its preview says why
            return current.redirect(f"{BASE}/staged/{staged_id}", ("error", message_of(exc)))
        return current.redirect(f"{BASE}/{job.id}", f"The import of {job.total} rows has started.")

    async def discard(self, current: Page) -> Response:
        try:
            await self._imports.discard_staged(current.principal, current.path_param("id"))
        except NotFound as exc:
            return current.redirect(BASE, ("error", message_of(exc)))
        return current.redirect(BASE, "The uploaded file was discarded; nothing was imported.")

    async def job_page(self, current: Page) -> Response:
        context = await self._job_context(current)
        title = f"Import {context['filename'] or context['job'].id}"
        return current.render("imports_job.html", title=title, **context)

    async def job_live(self, current: Page) -> Response:
        context = await self._job_context(current)
        return current.render("imports_job_live.html", title="Import", **context)

    async def _job_context(self, current: Page) -> dict[str, Any]:
        job_id = current.path_param("id")
        job = await self._jobs.get(current.principal, job_id)
        if job.kind != DEVICE_IMPORT:
            raise ConsoleError(404, f"Job {job_id} is not an import.")
        status_text, status = _row_status(current)
        number = current.page_number_or_first()
        rows = await self._jobs.rows(current.principal, job_id, status, PageRequest(number, ROWS_PAGE_SIZE))

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

    async def failed_rows(self, current: Page) -> Response:
        job_id = current.path_param("id")
        text = await self._imports.failed_rows_csv(current.principal, job_id)
        return Response(
            text.encode("utf-8-sig"),  # with a BOM, so spreadsheets read the UTF-8 right
            200,
            media_type="text/csv; charset=utf-8",
            headers={"content-disposition": f'attachment; filename="failed-rows-{job_id}.csv"'},
        )
