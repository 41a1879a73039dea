"""Use cases of the job queue: submit a job built by its context, read jobs and their rows."""

from __future__ import annotations

from admittance.audit import AuditEvent, AuditTag
from admittance.jobs.model import Job, JobKind, JobRow, RowStatus
from admittance.jobs.store import JobsTransaction
from admittance.jobs.wakeup import Wakeup
from admittance.kernel.clock import Clock
from admittance.kernel.errors import NotFound
from admittance.kernel.paging import Page, PageRequest
from admittance.kernel.principal import Principal, Role
from admittance.kernel.storage import Storage

ENTITY = "job"


class JobService:
    def __init__(self, storage: Storage[JobsTransaction], clock: Clock, wakeup: Wakeup | None = None) -> None:
        self._storage = storage
        self._clock = clock
        self._wakeup = wakeup or Wakeup()

    async def submit(self, job: Job, content: bytes | None, actor: str) -> None:
        """Queue a job (with its input), audited as every submission, and wake this process's worker."""
        async with self._storage.transaction() as tx:
            await self.submit_in(tx, job, content, actor)
        self.wake()

    @staticmethod
    async def submit_in(tx: JobsTransaction, job: Job, content: bytes | None, actor: str) -> None:
        """Queue a job inside the caller's transaction; call wake() once it committed."""
        await tx.jobs.insert(job, content)
        await tx.audit.record(
            AuditEvent(AuditTag.JOB_SUBMITTED, job.tenant_id, actor, job.id, job.created_at, {"kind": job.kind})
        )

    def wake(self) -> None:
        """A job was queued in this process: its worker looks now rather than at its next idle tick."""
        self._wakeup.notify()

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
