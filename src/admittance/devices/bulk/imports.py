"""Imports as background jobs: submit a manifest, stage one for a preview (the console) and import or
discard it, queue argon2id wrapping where an import stored pending passwords, and the file of a
job's failed rows to fix and upload again."""

from __future__ import annotations

import asyncio
import csv
import io
import uuid
from datetime import timedelta

from admittance.audit import AuditEvent, AuditTag
from admittance.devices.bulk.engine import BulkImporter, ImportReport
from admittance.devices.bulk.preview import ManifestPreview, preview
from admittance.devices.bulk.rows import REASON_COLUMN, neutralize_formula
from admittance.devices.bulk.store import ImportsTransaction, StagedImport
from admittance.jobs import Job, JobKind, JobService, JobStatus, RowStatus
from admittance.jobs.model import principal_options
from admittance.jobs.service import ENTITY
from admittance.kernel.clock import Clock
from admittance.kernel.errors import NotFound
from admittance.kernel.principal import Principal
from admittance.kernel.storage import Storage

DEVICE_IMPORT = JobKind("device-import")  # a manifest; `cursor` = rows applied
# argon2id over pending keyed digests; `cursor` = the last user id done
PASSWORD_WRAP = JobKind("password-wrap")
STAGED_ENTITY = "staged_import"
STAGED_FOR = timedelta(hours=1)  # how long an uploaded file waits for its import after the preview


class ImportService:
    def __init__(
        self, storage: Storage[ImportsTransaction], importer: BulkImporter, jobs: JobService, clock: Clock
    ) -> None:
        self._storage = storage
        self._importer = importer
        self._jobs = jobs
        self._clock = clock

    async def submit_import(self, principal: Principal, data: bytes) -> Job:
        """Check the whole file now (a broken file is refused at once), then queue it."""
        job = await self._import_job(principal, data)
        await self._jobs.submit(job, data, principal.username)
        return job

    async def _import_job(self, principal: Principal, data: bytes, filename: str | None = None) -> Job:
        self._importer.authorize(principal)
        columns, separator, rows = await asyncio.to_thread(self._importer.check_file, principal, data)
        now = self._clock.now()
        return Job(
            id=str(uuid.uuid4()),
            tenant_id=principal.tenant_id,
            kind=DEVICE_IMPORT,
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
            await tx.staged_imports.stage(staged, data)
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
            found = await tx.staged_imports.get(staged_id)
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
        async with self._storage.transaction() as tx:
            if not await tx.staged_imports.drop(staged_id):
                raise _staged_not_found()
            await self._jobs.submit_in(tx, job, data, principal.username)
        self._jobs.wake()
        return job

    async def discard_staged(self, principal: Principal, staged_id: str) -> None:
        staged, _ = await self._staged(principal, staged_id)
        async with self._storage.transaction() as tx:
            if await tx.staged_imports.drop(staged_id):
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

    # --- after an import --------------------------------------------------------------------------

    async def after_import(self, report: ImportReport, actor: str) -> None:
        """What every import does at its end: queue argon2id wrapping where it stored pending passwords."""
        for tenant_id in sorted(report.pending_tenants):
            await self.submit_password_wrap(tenant_id, actor)

    async def submit_password_wrap(self, tenant_id: str, actor: str) -> Job | None:
        """Queue argon2id wrapping of a tenant's pending keyed digests, unless a job for it is queued."""
        async with self._storage.read() as tx:
            if await tx.jobs.exists_unfinished(tenant_id, PASSWORD_WRAP):
                return None
            pending = await tx.pending_passwords.count(tenant_id)
        if not pending:
            return None
        now = self._clock.now()
        job = Job(
            id=str(uuid.uuid4()),
            tenant_id=tenant_id,
            kind=PASSWORD_WRAP,
            creator=actor,
            status=JobStatus.PENDING,
            created_at=now,
            updated_at=now,
            total=pending,
        )
        await self._jobs.submit(job, None, actor)
        return job

    async def failed_rows_csv(self, principal: Principal, job_id: str) -> str:
        """The failed rows in the uploaded file's own columns plus FAILURE_REASON (which an upload
        ignores), secrets emptied: fill them in, fix the rows, upload the file again."""
        job = await self._jobs.get(principal, job_id)
        if job.kind != DEVICE_IMPORT:
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
