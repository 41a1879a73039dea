"""The kill-and-restart test of the job runner, on SQLite and PostgreSQL: a real `admittance worker`
process imports a big manifest and is SIGKILLed mid-way; once its lease has run out, a second worker
process resumes the job at its cursor and finishes it. Every row is applied exactly once."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

from admittance.bootstrap import Services
from admittance.devices.bulk.imports import DEVICE_IMPORT
from admittance.devices.bulk.rows import RowStatus
from admittance.jobs import JobStatus
from admittance.kernel.paging import PageRequest
from admittance.settings import Settings
from tests.support.bulk import principal
from tests.support.credentials import SECRET_KEY
from tests.support.jobs import device_count, job_rows, manifest, parse_csv, stored_job, submit
from tests.support.server import run_cli

ROWS = 10_000  # 20 chunks of 500: seconds of work, so the kill lands mid-way
LEASE_SECONDS = 1.0
WORKER_ENV = {"ADMITTANCE_SECRET_KEY": SECRET_KEY, "ADMITTANCE_JOB_LEASE_SECONDS": str(LEASE_SECONDS)}


def cli_args(settings: Settings, *command: str) -> list[str]:
    return ["--data-dir", str(settings.data_dir), "--database-url", settings.database.url, *command]


def start_worker(settings: Settings, log: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ADMITTANCE_")} | WORKER_ENV
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "admittance", *cli_args(settings, "worker")],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def kill(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGKILL)
    process.wait(timeout=15)


async def cursor_mid_way(services: Services, job_id: str, process: subprocess.Popen[bytes], log: Path) -> int:
    """Wait until the worker has committed some chunks but not all of them."""
    for _ in range(3000):
        job = await stored_job(services, job_id)
        if 0 < job.cursor < ROWS:
            return job.cursor
        assert job.cursor < ROWS, "the worker finished before it could be killed: make the file bigger"
        assert process.poll() is None, (
            f"the worker exited with {process.returncode}:\n{await asyncio.to_thread(log.read_text)}"
        )
        await asyncio.sleep(0.02)
    output = await asyncio.to_thread(log.read_text)
    raise AssertionError(f"the worker never started the job:\n{output}")


async def test_a_killed_worker_s_job_is_resumed_by_the_next_worker_without_applying_a_row_twice(
    services: Services, settings: Settings, tmp_path: Path
) -> None:
    data = manifest([f"kill-{n:05d}" for n in range(ROWS)])
    job = await submit(services, data)
    log = tmp_path / "worker-1.log"
    first = start_worker(settings, log)
    try:
        await cursor_mid_way(services, job.id, first, log)
    finally:
        kill(first)
    assert first.returncode == -signal.SIGKILL

    killed = await stored_job(services, job.id)
    assert (killed.status, killed.attempts) == (JobStatus.IN_PROGRESS, 1)
    assert killed.lease_owner is not None
    assert killed.lease_owner.endswith(f":{first.pid}")
    assert 0 < killed.cursor < ROWS
    # What the killed worker committed is exactly what its cursor covers.
    assert killed.created_count == killed.cursor
    assert (await device_count(services))["users"] == killed.cursor

    await asyncio.sleep(LEASE_SECONDS + 0.5)  # the dead worker's lease runs out
    drained = await asyncio.to_thread(run_cli, *cli_args(settings, "worker", "--drain"), env=WORKER_ENV)
    assert drained.returncode == 0, drained.stderr
    assert "Ran 1 jobs" in drained.stderr  # the import only: strong passwords leave nothing to wrap

    done = await stored_job(services, job.id)
    assert (done.status, done.error, done.attempts, done.lease_owner) == (JobStatus.SUCCEEDED, None, 2, None)
    assert (done.cursor, done.created_count, done.updated_count, done.failed_count) == (ROWS, ROWS, 0, 0)
    assert not await job_rows(services, job.id, RowStatus.CREDENTIAL_UPDATED)
    assert not await job_rows(services, job.id, RowStatus.FAILED)
    assert await device_count(services) == {"users": ROWS, "objects": ROWS, "external_ids": ROWS}
    admin = await principal(services)
    kinds = [queued.kind for queued in (await services.jobs.list_jobs(admin, PageRequest(1, 10))).items]
    assert kinds == [DEVICE_IMPORT]

    # Devices of both workers' parts log in with the file's passwords.
    rows = parse_csv(data.decode())[1:]
    for device_id, password in (rows[0], rows[killed.cursor], rows[-1]):
        found = await principal(services, "t1", f"device_{device_id}", password)
        assert found.username == f"device_{device_id}"
