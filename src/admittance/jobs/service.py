"""Use cases of jobs: submit a manifest as a background import, read a job, its rows, and the file of
its failed rows to fix and upload again."""

from __future__ import annotations

import asyncio
import csv
import io
import uuid
from collections.abc import Callable
from datetime import timedelta

from admittance.audit import AuditEvent, AuditTag
from admittance.devices.bulk.engine import BulkImporter, ImportReport
from admittance.devices.bulk.preview import ManifestPreview, preview
from admittance.devices.bulk.rows import REASON_COLUMN, RowStatus, neutralize_formula
from admittance.jobs.model import Job, JobKind, JobRow, JobStatus, StagedImport
from admittance.jobs.store import JobsStorage
from admittance.kernel.access import parse_permission
from admittance.kernel.clock import Clock
from admittance.kernel.errors import NotFound
from admittance.kernel.paging import Page, PageRequest
from admittance.kernel.principal import Principal, Role

ENTITY = "job"
STAGED_ENTITY = "staged_import"
STAGED_FOR = timedelta(hours=1)  # how long an uploaded file waits for its import after the preview


def principal_options(principal: Principal) -> dict[str, object]:
    """The submitter, kept with the job: the worker acts with the rights they had when submitting."""
    return {
        "user_id": principal.user_id,
        "tenant_id": principal.tenant_id,
        "username": principal.username,
        "roles": sorted(principal.roles),
        "permissions": [[grant.context, grant.operation, grant.resource] for grant in sorted(principal.permissions)],
    }


def principal_from(options: dict[str, object]) -> Principal:
    document = dict(options)
    roles = document.pop("roles")
    assert isinstance(roles, list)
    stored = document.pop("permissions", [])
    assert isinstance(stored, list)
    granted = [parse_permission(*grant) for grant in stored]
    return Principal.of(
        int(str(document["user_id"])), str(document["tenant_id"]), str(document["username"]), roles, granted
    )


class JobService:
    def __init__(
        self, storage: JobsStorage, importer: BulkImporter, clock: Clock, *, wake: Callable[[], None] | None = None
    ) -> None:
        self._storage = storage
        self._importer = importer
        self._clock = clock
        self.wake: Callable[[], None] = wake or (lambda: None)  # set by the composition root

    async def submit_import(self, principal: Principal, data: bytes) -> Job:
        """Check the whole file now (a broken file is refused at once), then queue it."""
        job = await self._import_job(principal, data)
        await self._insert(job, data, principal.username)
        return job

    async def _import_job(self, principal: Principal, data: bytes, filename: str | None = None) -> Job:
        self._importer.authorize(principal)
        columns, separator, rows = await asyncio.to_thread(self._importer.check_file, principal, data)
        now = self._clock.now()
        return Job(
            id=str(uuid.uuid4()),
            tenant_id=principal.tenant_id,
            kind=JobKind.DEVICE_IMPORT,
            creator=principal.username,
            status=JobStatus.PENDING,
            created_at=now,
            updated_at=now,
            total=rows,
            options={
                "principal": principal_options(principal),
                "columns": list(columns),
                "separator": separator,
                **({"filename": filename} if filename else {}),
            },
        )

    # --- a manifest staged for a preview, then imported (the console) -----------------------------

    async def stage_import(self, principal: Principal, data: bytes, filename: str) -> StagedImport:
        """Keep an uploaded manifest in the database (any server process can then show its preview
        and import it), bound to this user, for STAGED_FOR."""
        self._importer.authorize(principal)
        now = self._clock.now()
        staged = StagedImport(
            id=str(uuid.uuid4()),
            tenant_id=principal.tenant_id,
            user_id=principal.user_id,
            filename=(filename or "upload.csv")[:255],
            size=len(data),
            created_at=now,
            expires_at=now + STAGED_FOR,
        )
        async with self._storage.transaction() as tx:
            await tx.jobs.stage(staged, data)
            await tx.audit.record(
                AuditEvent(
                    AuditTag.UPLOAD_STAGED,
                    staged.tenant_id,
                    principal.username,
                    staged.id,
                    now,
                    {"filename": staged.filename, "size": staged.size},
                )
            )
        return staged

    async def _staged(self, principal: Principal, staged_id: str) -> tuple[StagedImport, bytes]:
        self._importer.authorize(principal)
        async with self._storage.read() as tx:
            found = await tx.jobs.staged(staged_id)
        if found is None or not self._owns(principal, found[0]):
            raise _staged_not_found()
        return found

    def _owns(self, principal: Principal, staged: StagedImport) -> bool:
        return (
            staged.tenant_id == principal.tenant_id
            and staged.user_id == principal.user_id
            and staged.expires_at > self._clock.now()
        )

    async def preview_staged(self, principal: Principal, staged_id: str) -> tuple[StagedImport, ManifestPreview]:
        """What importing the staged file would do, found without writing anything."""
        staged, data = await self._staged(principal, staged_id)
        shown = await asyncio.to_thread(
            preview, data, principal.tenant_id, may_choose_tenant=principal.in_management_tenant
        )
        return staged, shown

    async def submit_staged(self, principal: Principal, staged_id: str) -> Job:
        """Queue the staged file as an import job; the staged copy goes in the same transaction, so
        a second submit (a double click, another tab) imports nothing twice."""
        staged, data = await self._staged(principal, staged_id)
        job = await self._import_job(principal, data, staged.filename)
        await self._insert(job, data, principal.username, staged_id=staged_id)
        return job

    async def discard_staged(self, principal: Principal, staged_id: str) -> None:
        staged, _ = await self._staged(principal, staged_id)
        async with self._storage.transaction() as tx:
            if await tx.jobs.drop_staged(staged_id):
                await tx.audit.record(
                    AuditEvent(
                        AuditTag.UPLOAD_DISCARDED,
                        staged.tenant_id,
                        principal.username,
                        staged_id,
                        self._clock.now(),
                        {"filename": staged.filename},
                    )
                )

    async def after_import(self, report: ImportReport, actor: str) -> None:
        """What every import does at its end: queue argon2id wrapping where it stored pending passwords."""
        for tenant_id in sorted(report.pending_tenants):
            await self.submit_password_wrap(tenant_id, actor)

    async def submit_password_wrap(self, tenant_id: str, actor: str) -> Job | None:
        """Queue argon2id wrapping of a tenant's pending keyed digests, unless a job for it is queued."""
        async with self._storage.read() as tx:
            if await tx.jobs.exists_unfinished(tenant_id, JobKind.PASSWORD_WRAP):
                return None
            pending = await tx.jobs.count_pending_password_hashes(tenant_id)
        if not pending:
            return None
        now = self._clock.now()
        job = Job(
            id=str(uuid.uuid4()),
            tenant_id=tenant_id,
            kind=JobKind.PASSWORD_WRAP,
            creator=actor,
            status=JobStatus.PENDING,
            created_at=now,
            updated_at=now,
            total=pending,
        )
        await self._insert(job, None, actor)
        return job

    async def insert(self, job: Job, content: bytes | None, actor: str) -> None:
        """Queue a job built elsewhere (jobs/nrf_bulk.py), audited as every submission."""
        await self._insert(job, content, actor)

    async def _insert(self, job: Job, content: bytes | None, actor: str, *, staged_id: str | None = None) -> None:
        """`staged_id`: the staged upload this job imports, taken in the same transaction."""
        async with self._storage.transaction() as tx:
            if staged_id is not None and not await tx.jobs.drop_staged(staged_id):
                raise _staged_not_found()
            await tx.jobs.insert(job, content)
            await tx.audit.record(
                AuditEvent(
                    AuditTag.JOB_SUBMITTED, job.tenant_id, actor, job.id, job.created_at, {"kind": job.kind.value}
                )
            )
        self.wake()

    async def get(self, principal: Principal, job_id: str) -> Job:
        principal.require(Role.DEVICE_CONTROL_READ, Role.DEVICE_CONTROL_ADMIN)
        async with self._storage.read() as tx:
            job = await tx.jobs.get(job_id)
        if job is None or not principal.can_see_tenant(job.tenant_id):
            raise NotFound(f"There is no job {job_id}", entity=ENTITY)
        return job

    async def list_jobs(self, principal: Principal, page: PageRequest, kind: JobKind | None = None) -> Page[Job]:
        principal.require(Role.DEVICE_CONTROL_READ, Role.DEVICE_CONTROL_ADMIN)
        scope = None if principal.in_management_tenant else principal.tenant_id
        async with self._storage.read() as tx:
            return await tx.jobs.page(scope, page, kind)

    async def count_unfinished(self, principal: Principal) -> int:
        """Jobs queued or running that the principal may see (the console's dashboard)."""
        principal.require(Role.DEVICE_CONTROL_READ, Role.DEVICE_CONTROL_ADMIN)
        scope = None if principal.in_management_tenant else principal.tenant_id
        async with self._storage.read() as tx:
            return await tx.jobs.count_unfinished(scope)

    async def rows(
        self, principal: Principal, job_id: str, status: RowStatus | None, page: PageRequest
    ) -> Page[JobRow]:
        await self.get(principal, job_id)
        async with self._storage.read() as tx:
            return await tx.jobs.rows(job_id, status.value if status else None, page)

    async def failed_rows_csv(self, principal: Principal, job_id: str) -> str:
        """The failed rows in the uploaded file's own columns plus FAILURE_REASON (which an upload
        ignores), secrets emptied: fill them in, fix the rows, upload the file again."""
        job = await self.get(principal, job_id)
        if job.kind is not JobKind.DEVICE_IMPORT:
            raise NotFound(f"Job {job_id} imports no file", entity=ENTITY)
        columns = [str(name) for name in job.options.get("columns", [])]
        separator = str(job.options.get("separator", ";"))
        async with self._storage.read() as tx:
            failed = await tx.jobs.all_rows(job_id, RowStatus.FAILED.value)
        # An upload of an earlier failed-rows file has its reasons: they give way to the new ones, so
        # that the file has one FAILURE_REASON column and can be fixed and uploaded again, and again.
        kept = [at for at, name in enumerate(columns) if name.upper() != REASON_COLUMN]
        out = io.StringIO()
        writer = csv.writer(out, delimiter=separator, lineterminator="\r\n")
        writer.writerow([*(columns[at] for at in kept), REASON_COLUMN])
        for row in failed:
            cells = next(csv.reader([row.raw], delimiter=separator)) if row.raw else [""] * len(columns)
            shown = (neutralize_formula(cells[at]) for at in kept)
            writer.writerow([*shown, f"line {row.line}: {row.reason}"])
        return out.getvalue()


def _staged_not_found() -> NotFound:
    return NotFound(
        "The uploaded file is no longer here: it was imported or discarded already, or it expired. Upload it again.",
        entity=STAGED_ENTITY,
    )
