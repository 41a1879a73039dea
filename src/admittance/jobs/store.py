"""What the job queue needs: a store of jobs and their rows (storage/sql/jobs.py implements it as
`tx.jobs`), and one handler per kind of job, registered by the composition root."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Protocol

from admittance.audit import AuditStore
from admittance.jobs.model import Job, JobKind, JobRow, JobStatus, Progress
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

    async def count_unfinished(self, tenant_id: str | None) -> int:
        """Jobs queued or running (of one tenant, or of every tenant with None): the dashboard's count."""
        ...


class JobsTransaction(Protocol):
    @property
    def jobs(self) -> JobStore: ...

    @property
    def audit(self) -> AuditStore: ...


# A handler commits each step of its job with this, inside the step's own transaction (which must
# hold `jobs`): the job's cursor and counters move with the rows, guarded by the worker's lease.
Advance = Callable[[JobsTransaction, Progress], Awaitable[None]]


class JobHandler(Protocol):
    """Runs the jobs of one kind. Explicit subclasses inherit the do-nothing `finished` and `close`."""

    async def run(self, job: Job, advance: Advance) -> str | None:
        """Run the job from its cursor to its end; the job's error (None: it succeeded)."""
        ...

    async def finished(self, job: Job) -> None:
        """After the job was recorded as finished (e.g. queue what it could not see while it ran)."""
        return

    def close(self) -> None:
        """The server stops: release what the handler holds (threads)."""
        return
