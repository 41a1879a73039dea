"""The two kinds of job bulk import runs in the background: importing a manifest, and wrapping the
pending keyed digests it stored in argon2id (ADR 0006)."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from admittance.audit import AuditEvent, AuditTag
from admittance.devices.bulk.engine import BulkImporter, RowOutcome
from admittance.devices.bulk.imports import ImportService
from admittance.devices.bulk.store import ImportsTransaction
from admittance.jobs import Advance, Job, JobHandler, JobRow, RowStatus
from admittance.jobs.model import Progress, principal_from
from admittance.kernel.clock import Clock
from admittance.kernel.passwords import PasswordHasher
from admittance.kernel.storage import Storage

WRAP_BATCH = 16


class ImportJob(JobHandler):
    """A manifest applied chunk by chunk from the job's cursor; each chunk commits with the cursor."""

    def __init__(self, storage: Storage[ImportsTransaction], importer: BulkImporter, imports: ImportService) -> None:
        self._storage = storage
        self._importer = importer
        self._imports = imports

    async def run(self, job: Job, advance: Advance) -> str | None:
        async with self._storage.read() as tx:
            content = await tx.jobs.content(job.id)
        if content is None:
            raise RuntimeError("the job's file is missing")
        principal = principal_from(job.options["principal"])
        prepared = await asyncio.to_thread(self._importer.prepare, principal, content)

        async def commit(tx: Any, outcomes: list[RowOutcome], done: int) -> None:
            await advance(tx, _progress(done, outcomes))

        report = await self._importer.run(
            principal, prepared, start=job.cursor, on_commit=commit, source=f"job {job.id}"
        )
        await self._imports.after_import(report, principal.username)
        return None


class PasswordWrapJob(JobHandler):
    """argon2id over a tenant's pending keyed digests, in batches from the last user id done."""

    def __init__(
        self, storage: Storage[ImportsTransaction], hasher: PasswordHasher, clock: Clock, imports: ImportService
    ) -> None:
        self._storage = storage
        self._hasher = hasher
        self._clock = clock
        self._imports = imports
        # One thread: wrapping passwords in argon2id never takes more than one core from the server.
        self._hash_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="password-wrap")

    def close(self) -> None:
        self._hash_pool.shutdown(wait=False, cancel_futures=True)

    async def run(self, job: Job, advance: Advance) -> str | None:
        after = job.cursor
        loop = asyncio.get_running_loop()
        while True:
            async with self._storage.read() as tx:
                batch = await tx.pending_passwords.after(job.tenant_id, after, WRAP_BATCH)
            if not batch:
                return None
            wrapped = [
                (user_id, stored, await loop.run_in_executor(self._hash_pool, self._hasher.wrap_pending, stored))
                for user_id, stored in batch
            ]
            after = batch[-1][0]
            async with self._storage.transaction() as tx:
                done = 0
                for user_id, stored, new in wrapped:
                    done += await tx.pending_passwords.replace(user_id, stored, new)
                await advance(tx, Progress(cursor=after, updated=done))
                await tx.audit.record(
                    AuditEvent(
                        AuditTag.PASSWORDS_WRAPPED, job.tenant_id, "system", job.id, self._clock.now(), {"count": done}
                    )
                )

    async def finished(self, job: Job) -> None:
        # A password stored behind the cursor while this job ran (a device it had passed, uploaded
        # again) was not seen by it, and no job was queued for it while this one was unfinished.
        await self._imports.submit_password_wrap(job.tenant_id, job.creator)


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
