"""nRF Cloud bulk claims (POST /v1/claimed-devices/bulk): a CSV of `"<token>","<tags>"` rows run
as a background job, and its bulk-ops status (docs/compat/nrfcloud/claiming.md).

The uploaded file and the error summary are served at URLs that carry a random access token (the
nRF Cloud client fetches errorSummaryUrl without an Authorization header); the token is compared
in constant time and is never shown anywhere else."""

from __future__ import annotations

import asyncio
import hmac
import secrets
import uuid

from admittance.claiming.service import ClaimingService, parse_csv_rows
from admittance.jobs import Advance, Job, JobHandler, JobKind, JobRow, JobService, JobStatus, RowStatus
from admittance.jobs.model import Progress, principal_from, principal_options
from admittance.jobs.store import JobsTransaction
from admittance.kernel.clock import Clock
from admittance.kernel.errors import NotFound
from admittance.kernel.principal import Principal
from admittance.kernel.storage import Storage

NRF_BULK_CLAIM = JobKind("nrf-bulk-claim")  # nRF Cloud claim tokens; `cursor` = rows done
ENDPOINT = "CLAIM_DEVICES"
ACCESS_OPTION = "access"


def not_found(job_id: str) -> NotFound:
    return NotFound(f"Bulk operation {job_id} not found", entity="bulk_ops_request")


class NrfBulkClaims:
    def __init__(self, storage: Storage[JobsTransaction], jobs: JobService, clock: Clock) -> None:
        self._storage = storage
        self._jobs = jobs
        self._clock = clock

    async def submit(self, principal: Principal, data: bytes) -> Job:
        """Check the file now (a broken one is refused at once), then queue it."""
        rows = await asyncio.to_thread(parse_csv_rows, data)
        now = self._clock.now()
        job = Job(
            id=str(uuid.uuid4()),
            tenant_id=principal.tenant_id,
            kind=NRF_BULK_CLAIM,
            creator=principal.username,
            status=JobStatus.PENDING,
            created_at=now,
            updated_at=now,
            total=len(rows),
            options={"principal": principal_options(principal), ACCESS_OPTION: secrets.token_urlsafe(24)},
        )
        await self._jobs.submit(job, data, principal.username)
        return job

    async def get(self, principal: Principal, job_id: str) -> Job:
        async with self._storage.read() as tx:
            job = await tx.jobs.get(job_id)
        if job is None or job.kind != NRF_BULK_CLAIM or job.tenant_id != principal.tenant_id:
            raise not_found(job_id)
        return job

    async def by_access(self, job_id: str, access: str) -> Job:
        """The job whose access token this is (the unauthenticated file URLs)."""
        async with self._storage.read() as tx:
            job = await tx.jobs.get(job_id)
        expected = str(job.options.get(ACCESS_OPTION, "")) if job is not None else ""
        matches = hmac.compare_digest(expected.encode(), access.encode())
        if job is None or job.kind != NRF_BULK_CLAIM or not expected or not matches:
            raise not_found(job_id)
        return job

    async def uploaded(self, job: Job) -> bytes | None:
        """The uploaded file while the job runs; None once it ended (every job's input goes then)."""
        async with self._storage.read() as tx:
            return await tx.jobs.content(job.id)

    async def errors(self, job: Job) -> list[str]:
        """`[<rowIdx>]: <message>` per failed row, as nRF Cloud's error summary lists them."""
        async with self._storage.read() as tx:
            failed = await tx.jobs.all_rows(job.id, RowStatus.FAILED.value)
        messages = [f"[{row.line}]: {row.reason}" for row in failed]
        if job.error and not failed:
            messages.append(f"[-1]: {job.error}")
        return messages


class BulkClaimJob(JobHandler):
    """Claim row after row from the job's cursor. Each row is claimed in its own transaction and then
    recorded with the cursor: a worker killed in between claims that row again on resume, which then
    reports "already claimed"."""

    def __init__(self, storage: Storage[JobsTransaction], claiming: ClaimingService) -> None:
        self._storage = storage
        self._claiming = claiming

    async def run(self, job: Job, advance: Advance) -> str | None:
        """The job's error: None when every row was claimed."""
        async with self._storage.read() as tx:
            content = await tx.jobs.content(job.id)
        if content is None:
            raise RuntimeError("the job's file is missing")
        principal = principal_from(job.options["principal"])
        rows = parse_csv_rows(content)
        failed = job.failed_count
        for position in range(job.cursor, len(rows)):
            index, token_text, tags = rows[position]
            device_id, error = await self._claiming.claim_row(principal, token_text, tags)
            if error is None:
                progress = Progress(cursor=position + 1, created=1)
            else:
                failed += 1
                row = JobRow(index, RowStatus.FAILED, device_id or None, error)
                progress = Progress(cursor=position + 1, failed=1, rows=[row])
            async with self._storage.transaction() as tx:
                await advance(tx, progress)
        return f"{failed} of {len(rows)} rows failed" if failed else None
