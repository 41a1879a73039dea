"""The job worker: claims a job with a lease, runs it step by step with the handler registered for its
kind, finishes it. The worker knows no kind of job: the composition root gives it `handlers`.

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
from collections.abc import Mapping
from datetime import datetime, timedelta

from admittance.audit import AuditEvent, AuditTag
from admittance.jobs.model import Job, JobKind, JobStatus, Progress
from admittance.jobs.store import JobHandler, JobsTransaction
from admittance.jobs.wakeup import Wakeup
from admittance.kernel.clock import Clock
from admittance.kernel.errors import Unavailable
from admittance.kernel.storage import Storage

log = logging.getLogger("admittance.jobs")


class LeaseLost(Exception):
    """Another worker took the job over (this one was too slow to renew its lease)."""


def default_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"[:100]


class JobRunner:
    def __init__(
        self,
        storage: Storage[JobsTransaction],
        handlers: Mapping[JobKind, JobHandler],
        clock: Clock,
        *,
        wakeup: Wakeup | None = None,
        worker_id: str = "",
        lease_seconds: float = 60.0,
        max_attempts: int = 3,
        idle_seconds: float = 1.0,
    ) -> None:
        self._storage = storage
        self._handlers = dict(handlers)
        self._clock = clock
        self._wakeup = wakeup or Wakeup()
        self.worker_id = worker_id or default_worker_id()
        self._lease = timedelta(seconds=lease_seconds)
        self._max_attempts = max_attempts
        self._idle = idle_seconds

    def close(self) -> None:
        for handler in self._handlers.values():
            handler.close()

    async def run_forever(self, stop: asyncio.Event) -> None:
        wakeup = self._wakeup.listen()
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
                wakeup.clear()
                stopping = asyncio.ensure_future(stop.wait())
                waking = asyncio.ensure_future(wakeup.wait())
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
        log.info("job %s (%s) claimed by %s at cursor %d", job.id, job.kind, self.worker_id, job.cursor)
        handler = self._handlers.get(job.kind)
        if handler is None:
            await self._finish(job, JobStatus.FAILED, f"This server cannot run jobs of kind {job.kind}")
            return job

        async def advance(tx: JobsTransaction, progress: Progress) -> None:
            await self._advance(tx, job, progress)

        try:
            error = await handler.run(job, advance)
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
        await handler.finished(job)
        return job

    async def _advance(self, tx: JobsTransaction, job: Job, progress: Progress) -> None:
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
