"""What jobs need from storage."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from datetime import datetime
from typing import Protocol

from admittance.audit import AuditStore
from admittance.devices.bulk.store import BulkStore
from admittance.jobs.model import Job, JobKind, JobRow, JobStatus, Progress, StagedImport
from admittance.kernel.paging import Page, PageRequest


class JobStore(Protocol):
    async def insert(self, job: Job, content: bytes | None) -> None: ...

    async def get(self, job_id: str) -> Job | None: ...

    async def page(self, tenant_id: str | None, page: PageRequest, kind: JobKind | None = None) -> Page[Job]: ...

    async def exists_unfinished(self, tenant_id: str, kind: JobKind) -> bool: ...

    async def content(self, job_id: str) -> bytes | None: ...

    async def claim(self, worker: str, now: datetime, lease_until: datetime) -> Job | None:
        """Take the oldest PENDING job, or one whose worker's lease ran out, and count the attempt.
        PostgreSQL: FOR UPDATE SKIP LOCKED, so any number of workers claim different jobs."""
        ...

    async def advance(self, job_id: str, worker: str, progress: Progress, now: datetime, lease_until: datetime) -> bool:
        """Add one committed step and renew the lease; False when this worker no longer holds the job."""
        ...

    async def release(self, job_id: str, worker: str, now: datetime) -> bool:
        """Hand an interrupted job back (PENDING, attempt not counted) if this worker holds it."""
        ...

    async def finish(self, job_id: str, worker: str, status: JobStatus, error: str | None, now: datetime) -> bool: ...

    async def rows(self, job_id: str, status: str | None, page: PageRequest) -> Page[JobRow]: ...

    async def all_rows(self, job_id: str, status: str) -> list[JobRow]: ...

    async def pending_password_hashes(self, tenant_id: str, after_user_id: int, limit: int) -> list[tuple[int, str]]:
        """(user id, stored hash) of users whose password still waits for argon2id, by id."""
        ...

    async def replace_password_hash(self, user_id: int, expected: str, new: str) -> bool:
        """Compare-and-set: a password changed meanwhile wins."""
        ...

    async def count_pending_password_hashes(self, tenant_id: str) -> int: ...

    async def count_unfinished(self, tenant_id: str | None) -> int:
        """Jobs queued or running (of one tenant, or of every tenant with None): the dashboard's count."""
        ...

    async def stage(self, staged: StagedImport, content: bytes) -> None:
        """Keep a manifest uploaded for a preview (and drop the expired ones)."""
        ...

    async def staged(self, staged_id: str) -> tuple[StagedImport, bytes] | None: ...

    async def drop_staged(self, staged_id: str) -> bool:
        """False when it was gone already (imported, discarded or expired)."""
        ...


class JobsTransaction(Protocol):
    @property
    def jobs(self) -> JobStore: ...

    @property
    def bulk(self) -> BulkStore: ...

    @property
    def audit(self) -> AuditStore: ...


class JobsStorage(Protocol):
    def transaction(self) -> AbstractAsyncContextManager[JobsTransaction]: ...

    def read(self) -> AbstractAsyncContextManager[JobsTransaction]: ...
