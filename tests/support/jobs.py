"""Shared pieces of the job tests: manifests, submitting and reading jobs, and a worker that can be
paused between two of its steps (holding no transaction) to interleave another worker or a writer."""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager

from admittance.bootstrap import Services, job_handlers, secret_key
from admittance.devices.bulk.engine import BulkImporter
from admittance.devices.bulk.rows import RowStatus
from admittance.jobs import Job, JobRow, JobRunner
from admittance.kernel.clock import Clock
from admittance.kernel.secrets import Pepper, random_password
from admittance.settings import Settings
from admittance.storage.sql.storage import SqlStorage, SqlUnitOfWork
from tests.support.bulk import principal
from tests.support.hashing import cheap_hasher


def strong_password() -> str:
    """Random enough for the final keyed hash (no password-wrap job follows), every class present."""
    return random_password(28) + "Aa1"


def manifest(device_ids: list[str]) -> bytes:
    """A full manifest of new devices with strong passwords."""
    return ("ID;CREDENTIALS\n" + "".join(f"{device_id};{strong_password()}\n" for device_id in device_ids)).encode()


def parse_csv(text: str, separator: str = ";") -> list[list[str]]:
    return list(csv.reader(io.StringIO(text), delimiter=separator))


async def submit(services: Services, content: str | bytes) -> Job:
    """Queue a manifest as t1/admin would."""
    data = content.encode() if isinstance(content, str) else content
    return await services.imports.submit_import(await principal(services), data)


async def stored_job(services: Services, job_id: str) -> Job:
    async with services.storage.read() as tx:
        job = await tx.jobs.get(job_id)
    assert job is not None
    return job


async def job_rows(services: Services, job_id: str, status: RowStatus) -> list[JobRow]:
    async with services.storage.read() as tx:
        return await tx.jobs.all_rows(job_id, status.value)


async def device_count(services: Services, tenant: str = "t1") -> dict[str, int]:
    """Device users, device objects and external ids of a tenant."""
    queries = {
        "users": "SELECT count(*) AS n FROM users WHERE tenant_id = :t AND kind = 'device'",
        "objects": "SELECT count(*) AS n FROM managed_objects WHERE tenant_id = :t AND owner LIKE 'device%'",
        "external_ids": "SELECT count(*) AS n FROM external_ids WHERE tenant_id = :t",
    }
    found: dict[str, int] = {}
    async with services.database.read() as db:
        for name, query in queries.items():
            row = await db.fetch_one(query, {"t": tenant})
            assert row is not None
            found[name] = int(row["n"])
    return found


class GatedStorage:
    """The services' storage, except that its `stop_at`-th write transaction waits for `gate`
    before it begins: a worker stopped between two committed steps, holding no transaction."""

    def __init__(self, inner: SqlStorage, stop_at: int) -> None:
        self._inner = inner
        self._stop_at = stop_at
        self._opened = 0
        self.waiting = asyncio.Event()  # set when the gated transaction is about to begin
        self.gate = asyncio.Event()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[SqlUnitOfWork]:
        self._opened += 1
        if self._opened == self._stop_at:
            self.waiting.set()
            await self.gate.wait()
        async with self._inner.transaction() as tx:
            yield tx

    def read(self) -> AbstractAsyncContextManager[SqlUnitOfWork]:
        return self._inner.read()


def runner_on(
    services: Services,
    settings: Settings,
    storage: GatedStorage | SqlStorage,
    clock: Clock,
    worker_id: str,
    *,
    chunk_rows: int = 500,
) -> JobRunner:
    """A second worker in this process: its own importer and hasher over `storage`, its own clock."""
    pepper = Pepper(secret_key(settings))
    hasher = cheap_hasher(pepper)
    importer = BulkImporter(storage, hasher, pepper, clock, chunk_rows=chunk_rows)
    handlers = job_handlers(storage, importer, hasher, clock, services.imports, services.claiming)
    return JobRunner(storage, handlers, clock, worker_id=worker_id, lease_seconds=60)
