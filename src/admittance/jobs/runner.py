"""The job worker: claims a job with a lease, runs it step by step, finishes it.

Each step (a chunk of manifest rows, a batch of password wraps) commits together with the job's
cursor, counters and lease renewal, guarded by the lease (compare-and-set on the worker id). A
worker that is killed leaves a job IN_PROGRESS with a lease that runs out; the next claim resumes
it at its cursor, so no row is applied twice. A job whose worker died `max_attempts` times is
failed with a clear error instead of being retried for ever.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any

from admittance.audit import AuditEvent, AuditTag
from admittance.claiming.service import ClaimingService
from admittance.devices.bulk.engine import BulkImporter, RowOutcome
from admittance.devices.bulk.rows import RowStatus
from admittance.jobs.model import Job, JobKind, JobRow, JobStatus, Progress
from admittance.jobs.nrf_bulk import run_bulk_claim
from admittance.jobs.service import JobService, principal_from
from admittance.jobs.store import JobsStorage
from admittance.kernel.clock import Clock
from admittance.kernel.errors import Unavailable
from admittance.kernel.passwords import PasswordHasher

log = logging.getLogger("admittance.jobs")
WRAP_BATCH = 16


class LeaseLost(Exception):
    """Another worker took the job over (this one was too slow to renew its lease)."""


def default_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"[:100]


class JobRunner:
    def __init__(
        self,
        storage: JobsStorage,
        service: JobService,
        importer: BulkImporter,
        hasher: PasswordHasher,
        clock: Clock,
        *,
        worker_id: str = "",
        lease_seconds: float = 60.0,
        max_attempts: int = 3,
        idle_seconds: float = 1.0,
    ) -> None:
        self._storage = storage
        self._service = service
        self._importer = importer
        self._hasher = hasher
        self._clock = clock
        self.worker_id = worker_id or default_worker_id()
        self._lease = timedelta(seconds=lease_seconds)
        self._max_attempts = max_attempts
        self._idle = idle_seconds
        self._wakeup: asyncio.Event | None = None
        # One thread: wrapping passwords in argon2id never takes more than one core from the server.
        self._hash_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="password-wrap")
        self.claiming: ClaimingService | None = None  # set by the composition root (nRF bulk claims)

    def close(self) -> None:
        self._hash_pool.shutdown(wait=False, cancel_futures=True)

    def wake(self) -> None:
        """A job was submitted in this process: look now rather than at the next idle tick."""
        if self._wakeup is not None:
            self._wakeup.set()

    async def run_forever(self, stop: asyncio.Event) -> None:
        self._wakeup = asyncio.Event()
        log.info("job worker %s started", self.worker_id)
        while not stop.is_set():
            try:
                job = await self.run_once()
            except Unavailable:
                log.warning("job worker: the database is unavailable; retrying")
                job = None
            except Exception:
                log.exception("job worker: unexpected error; retrying")
                job = None
            if job is None:
                self._wakeup.clear()
                stopping = asyncio.ensure_future(stop.wait())
                waking = asyncio.ensure_future(self._wakeup.wait())
                await asyncio.wait({stopping, waking}, timeout=self._idle, return_when=asyncio.FIRST_COMPLETED)
                for waiter in (stopping, waking):
                    waiter.cancel()
        log.info("job worker %s stopped", self.worker_id)

    async def run_once(self) -> Job | None:
        """Claim and run one job to its end; None when there was nothing to do."""
        now = self._clock.now()
        async with self._storage.transaction() as tx:
            job = await tx.jobs.claim(self.worker_id, now, now + self._lease)
        if job is None:
            return None
        if job.attempts > self._max_attempts:
            await self._finish(job, JobStatus.FAILED, f"The job was interrupted {job.attempts - 1} times; giving up")
            return job
        log.info("job %s (%s) claimed by %s at cursor %d", job.id, job.kind.value, self.worker_id, job.cursor)
        error: str | None = None
        try:
            if job.kind is JobKind.DEVICE_IMPORT:
                await self._import(job)
            elif job.kind is JobKind.NRF_BULK_CLAIM:
                if self.claiming is None:
                    raise RuntimeError("no claiming service")
                error = await run_bulk_claim(job, self._storage, self.claiming, self._advance)
            else:
                await self._wrap_passwords(job)
        except LeaseLost:
            log.warning("job %s: lease lost to another worker; stopping here", job.id)
            return job
        except asyncio.CancelledError:
            # A graceful stop: the step in flight rolled back; hand the job back at its cursor now
            # instead of letting the next worker wait for the lease to run out.
            await asyncio.shield(self._release(job))
            raise
        except Unavailable:
            raise  # the lease runs out and the job is resumed later
        except Exception as exc:
            log.exception("job %s failed", job.id)
            await self._finish(job, JobStatus.FAILED, f"The job stopped on an unexpected error ({type(exc).__name__})")
            return job
        await self._finish(job, JobStatus.FAILED if error else JobStatus.SUCCEEDED, error)
        if job.kind is JobKind.PASSWORD_WRAP:
            # A password stored behind the cursor while this job ran (a device it had passed, uploaded
            # again) was not seen by it, and no job was queued for it while this one was unfinished.
            await self._service.submit_password_wrap(job.tenant_id, job.creator)
        return job

    async def _import(self, job: Job) -> None:
        async with self._storage.read() as tx:
            content = await tx.jobs.content(job.id)
        if content is None:
            raise RuntimeError("the job's file is missing")
        principal = principal_from(job.options["principal"])
        prepared = await asyncio.to_thread(self._importer.prepare, principal, content)

        async def commit(tx: Any, outcomes: list[RowOutcome], done: int) -> None:
            await self._advance(tx, job, _progress(done, outcomes))

        report = await self._importer.run(
            principal, prepared, start=job.cursor, on_commit=commit, source=f"job {job.id}"
        )
        await self._service.after_import(report, principal.username)

    async def _wrap_passwords(self, job: Job) -> None:
        after = job.cursor
        loop = asyncio.get_running_loop()
        while True:
            async with self._storage.read() as tx:
                batch = await tx.jobs.pending_password_hashes(job.tenant_id, after, WRAP_BATCH)
            if not batch:
                return
            wrapped = [
                (user_id, stored, await loop.run_in_executor(self._hash_pool, self._hasher.wrap_pending, stored))
                for user_id, stored in batch
            ]
            after = batch[-1][0]
            async with self._storage.transaction() as tx:
                done = 0
                for user_id, stored, new in wrapped:
                    done += await tx.jobs.replace_password_hash(user_id, stored, new)
                await self._advance(tx, job, Progress(cursor=after, updated=done))
                await tx.audit.record(
                    AuditEvent(
                        AuditTag.PASSWORDS_WRAPPED, job.tenant_id, "system", job.id, self._clock.now(), {"count": done}
                    )
                )

    async def _advance(self, tx: Any, job: Job, progress: Progress) -> None:
        now = self._clock.now()
        if not await tx.jobs.advance(job.id, self.worker_id, progress, now, now + self._lease):
            raise LeaseLost(job.id)

    async def _release(self, job: Job) -> None:
        async with self._storage.transaction() as tx:
            if await tx.jobs.release(job.id, self.worker_id, self._clock.now()):
                log.info("job %s handed back at its cursor", job.id)

    async def _finish(self, job: Job, status: JobStatus, error: str | None) -> None:
        now: datetime = self._clock.now()
        async with self._storage.transaction() as tx:
            if await tx.jobs.finish(job.id, self.worker_id, status, error, now):
                await tx.audit.record(
                    AuditEvent(
                        AuditTag.JOB_FINISHED,
                        job.tenant_id,
                        "system",
                        job.id,
                        now,
                        {"status": status.value, **({"error": error} if error else {})},
                    )
                )


def _progress(done: int, outcomes: list[RowOutcome]) -> Progress:
    counts = dict.fromkeys(RowStatus, 0)
    kept: list[JobRow] = []
    for outcome in outcomes:
        counts[outcome.status] += 1
        if outcome.status is not RowStatus.CREATED:
            kept.append(JobRow(outcome.line, outcome.status, outcome.device_id, outcome.reason, outcome.raw))
    return Progress(
        cursor=done,
        created=counts[RowStatus.CREATED],
        updated=counts[RowStatus.CREDENTIAL_UPDATED],
        failed=counts[RowStatus.FAILED],
        rows=kept,
    )


async def stop_task(task: asyncio.Task[None], stop: asyncio.Event, grace_seconds: float = 2.0) -> None:
    """Stop the worker: at once when idle; a job in flight is interrupted after the grace period
    and handed back (see run_once)."""
    stop.set()
    with contextlib.suppress(asyncio.CancelledError, TimeoutError):
        await asyncio.wait_for(asyncio.shield(task), grace_seconds)
    if not task.done():
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
