"""The job runner in this process, on SQLite and PostgreSQL: an import job's counters and kept rows,
the failed-rows file as a way back in, give-up after too many dead workers, a lease taken over by
another worker mid-way, a graceful stop, and argon2id wrapping of weak passwords."""

from __future__ import annotations

import asyncio
import csv
import io
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from admittance.bootstrap import Services
from admittance.devices.bulk.imports import PASSWORD_WRAP
from admittance.devices.bulk.rows import RowStatus
from admittance.jobs import JobStatus
from admittance.kernel.clock import FakeClock
from admittance.kernel.errors import Unauthenticated
from admittance.kernel.paging import PageRequest
from admittance.settings import Settings
from tests.support.bulk import device_auth, principal, sql
from tests.support.cumulocity import call
from tests.support.jobs import (
    GatedStorage,
    device_count,
    job_rows,
    manifest,
    parse_csv,
    runner_on,
    stored_job,
    strong_password,
    submit,
)

MIXED = (
    "ID;CREDENTIALS;TYPE;NAME\n"
    "new-1;New-Pass-1;sensor;New 1\n"  # line 2
    "new-2;New-Pass-2;sensor;New 2\n"
    "bad-1;;sensor;Bad 1\n"  # line 4: no password
    "new-3;New-Pass-3;sensor;New 3\n"
    "old-1;Old-Pass-2;sensor;Old 1\n"  # line 6: a known device, new password
    'bad-2;Bad-Pass-2;=HYPERLINK("x");Bad 2\n'  # line 7: a formula
    "new-4;New-Pass-4;sensor;New 4\n"
    "new-5;New-Pass-5;sensor;New 5\n"
)


async def authenticates(services: Services, device_id: str, password: str) -> bool:
    try:
        found = await principal(services, "t1", f"device_{device_id}", password)
    except Unauthenticated:
        return False
    return found.username == f"device_{device_id}"


async def test_an_import_job_succeeds_with_exact_counters_and_keeps_failures_and_updates(services: Services) -> None:
    admin = await principal(services)
    await services.bulk.run(admin, services.bulk.prepare(admin, b"ID;CREDENTIALS\nold-1;Old-Pass-1\n"))
    services.bulk.chunk_rows = 3  # three steps, each committed with the cursor
    submitted = await submit(services, MIXED)
    assert (submitted.status, submitted.total, submitted.attempts) == (JobStatus.PENDING, 8, 0)

    ran = await services.runner.run_once()
    assert ran is not None
    assert ran.id == submitted.id
    job = await stored_job(services, submitted.id)
    assert (job.status, job.error, job.attempts, job.lease_owner) == (JobStatus.SUCCEEDED, None, 1, None)
    assert (job.total, job.cursor, job.created_count, job.updated_count, job.failed_count) == (8, 8, 5, 1, 2)
    assert job.started_at is not None
    assert job.finished_at is not None
    async with services.storage.read() as tx:
        assert await tx.jobs.content(job.id) is None  # the upload is dropped once the job is done

    failed = await job_rows(services, job.id, RowStatus.FAILED)
    assert [(row.line, row.device_id) for row in failed] == [(4, "bad-1"), (7, "bad-2")]
    assert "CREDENTIALS is empty" in str(failed[0].reason)
    assert "formula" in str(failed[1].reason)
    assert failed[1].raw == 'bad-2;;"=HYPERLINK(""x"")";Bad 2'  # the password cell emptied
    updated = await job_rows(services, job.id, RowStatus.CREDENTIAL_UPDATED)
    assert [(row.line, row.device_id, row.reason) for row in updated] == [(6, "old-1", None)]
    assert not await job_rows(services, job.id, RowStatus.CREATED)  # created rows are counted, not kept
    assert (await device_count(services))["users"] == 6
    assert await authenticates(services, "new-3", "New-Pass-3")
    assert await authenticates(services, "old-1", "Old-Pass-2")
    assert not await authenticates(services, "old-1", "Old-Pass-1")

    # The weak passwords were stored pending; the import queued one job to wrap all six of them.
    jobs = (await services.jobs.list_jobs(admin, PageRequest(1, 10))).items
    wrap = next(queued for queued in jobs if queued.kind == PASSWORD_WRAP)
    assert (wrap.status, wrap.total, wrap.creator) == (JobStatus.PENDING, 6, "admin")
    assert await services.runner.run_once() is not None
    assert (await stored_job(services, wrap.id)).updated_count == 6
    assert await services.runner.run_once() is None


async def test_the_failed_rows_file_filled_in_and_uploaded_again_creates_those_devices(services: Services) -> None:
    admin = await principal(services)
    text = (
        "ID;CREDENTIALS;TYPE;NAME\n"
        f"ok-1;{strong_password()};sensor;Ok 1\n"  # no weak password: no wrap job comes in between
        "fix-1;;sensor;Fix 1\n"
        'fix-2;Fix-Pass-2;=HYPERLINK("x");Fix 2\n'
        "fix-3;short;sensor;Fix 3\n"
    )
    job = await submit(services, text)
    await services.runner.run_once()
    assert (await stored_job(services, job.id)).failed_count == 3

    failed_file = await services.imports.failed_rows_csv(admin, job.id)
    assert "Fix-Pass-2" not in failed_file
    assert "short" not in failed_file
    header, *rows = parse_csv(failed_file)
    assert header == ["ID", "CREDENTIALS", "TYPE", "NAME", "FAILURE_REASON"]
    assert [row[:4] for row in rows] == [
        ["fix-1", "", "sensor", "Fix 1"],
        ["fix-2", "", '\'=HYPERLINK("x")', "Fix 2"],  # neutralised for spreadsheets
        ["fix-3", "", "sensor", "Fix 3"],
    ]
    assert [row[4].split(":")[0] for row in rows] == ["line 3", "line 4", "line 5"]

    # What an operator does: fill in the passwords, fix the type, upload the same file again (as a
    # job). The password of fix-3 is forgotten, so it fails again and comes back in a second file.
    rows[0][1], rows[1][1], rows[1][2] = "Fixed-Pass-1", "Fixed-Pass-2", "sensor"
    second = await submit(services, write_csv([header, *rows]))
    await services.runner.run_once()
    done = await stored_job(services, second.id)
    assert (done.created_count, done.failed_count) == (2, 1)
    header, *rows = parse_csv(await services.imports.failed_rows_csv(admin, second.id))
    assert header == ["ID", "CREDENTIALS", "TYPE", "NAME", "FAILURE_REASON"]  # the old reasons are not kept
    assert rows == [
        ["fix-3", "", "sensor", "Fix 3", "line 4: CREDENTIALS is empty; a device with AUTH_TYPE BASIC needs a password"]
    ]

    rows[0][1] = "Fixed-Pass-3"
    report = await services.bulk.run(admin, services.bulk.prepare(admin, write_csv([header, *rows])))
    assert (report.created, report.updated, report.failed) == (1, 0, 0)
    for number in (1, 2, 3):
        assert await authenticates(services, f"fix-{number}", f"Fixed-Pass-{number}")
    assert (await device_count(services))["users"] == 4


def write_csv(rows: list[list[str]]) -> bytes:
    out = io.StringIO()
    csv.writer(out, delimiter=";").writerows(rows)
    return out.getvalue().encode()


async def dead_claim(services: Services) -> None:
    """A worker claims the job and dies at once: its lease has already run out."""
    now = datetime.now(UTC)
    async with services.storage.transaction() as tx:
        assert await tx.jobs.claim("dead-worker", now, now - timedelta(seconds=1)) is not None


@pytest.mark.parametrize(("deaths", "status"), [(2, JobStatus.SUCCEEDED), (3, JobStatus.FAILED)])
async def test_a_job_whose_workers_died_too_often_fails_with_a_clear_error(
    services: Services, settings: Settings, deaths: int, status: JobStatus
) -> None:
    assert settings.jobs.max_attempts == 3
    job = await submit(services, manifest(["dying-1", "dying-2"]))
    for _ in range(deaths):
        await dead_claim(services)
    await services.runner.run_once()
    finished = await stored_job(services, job.id)
    assert (finished.status, finished.attempts) == (status, deaths + 1)
    if status is JobStatus.FAILED:
        assert finished.error == "The job was interrupted 3 times; giving up"
        assert finished.created_count == 0
        assert (await device_count(services))["users"] == 0
    else:
        assert (finished.error, finished.created_count) == (None, 2)


async def test_a_worker_whose_lease_was_taken_over_stops_without_applying_anything_twice(
    services: Services, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    clock = FakeClock(datetime.now(UTC))
    gate_a = GatedStorage(services.storage, stop_at=4)  # claim, two chunks, then wait before the third
    gate_b = GatedStorage(services.storage, stop_at=3)  # claim, one chunk, then wait
    first = runner_on(services, settings, gate_a, clock, "worker-a", chunk_rows=2)
    second = runner_on(services, settings, gate_b, clock, "worker-b", chunk_rows=2)
    try:
        job = await submit(services, manifest([f"lease-{n:02d}" for n in range(10)]))
        stalled = asyncio.create_task(first.run_once())
        await asyncio.wait_for(gate_a.waiting.wait(), 30)
        paused = await stored_job(services, job.id)
        assert (paused.cursor, paused.created_count, paused.lease_owner) == (4, 4, "worker-a")

        clock.advance(61)  # worker-a stalled longer than its lease: worker-b takes the job over
        taking_over = asyncio.create_task(second.run_once())
        await asyncio.wait_for(gate_b.waiting.wait(), 30)
        taken = await stored_job(services, job.id)
        assert (taken.cursor, taken.created_count, taken.lease_owner, taken.attempts) == (6, 6, "worker-b", 2)

        gate_a.gate.set()  # worker-a wakes up, applies its next chunk, cannot advance, rolls it back
        assert await asyncio.wait_for(stalled, 30) is not None
        assert f"job {job.id}: lease lost to another worker" in caplog.text
        unchanged = await stored_job(services, job.id)
        assert (unchanged.cursor, unchanged.created_count, unchanged.updated_count) == (6, 6, 0)

        gate_b.gate.set()
        assert await asyncio.wait_for(taking_over, 30) is not None
    finally:
        first.close()
        second.close()
    done = await stored_job(services, job.id)
    assert (done.status, done.cursor, done.attempts) == (JobStatus.SUCCEEDED, 10, 2)
    assert (done.created_count, done.updated_count, done.failed_count) == (10, 0, 0)
    assert not await job_rows(services, job.id, RowStatus.CREDENTIAL_UPDATED)
    assert await device_count(services) == {"users": 10, "objects": 10, "external_ids": 10}
    reimported = await sql(services, "SELECT subject FROM audit_events WHERE tag = 'devices:bulk:update-credentials'")
    assert reimported == []
    finishes = await sql(services, "SELECT subject FROM audit_events WHERE tag = 'jobs:job:finish'")
    assert [row["subject"] for row in finishes] == [job.id]


async def test_a_graceful_stop_hands_the_job_back_at_its_cursor(services: Services, settings: Settings) -> None:
    gated = GatedStorage(services.storage, stop_at=3)  # claim, one chunk, then wait
    runner = runner_on(services, settings, gated, services.clock, "worker-stopping", chunk_rows=2)
    try:
        job = await submit(services, manifest([f"stop-{n}" for n in range(6)]))
        task = asyncio.create_task(runner.run_once())
        await asyncio.wait_for(gated.waiting.wait(), 30)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    finally:
        runner.close()
    handed_back = await stored_job(services, job.id)
    assert (handed_back.status, handed_back.lease_owner, handed_back.attempts) == (JobStatus.PENDING, None, 0)
    assert (handed_back.cursor, handed_back.created_count) == (2, 2)
    await services.runner.run_once()  # picked up at once, no lease to wait for
    done = await stored_job(services, job.id)
    assert (done.status, done.attempts, done.created_count, done.updated_count) == (JobStatus.SUCCEEDED, 1, 6, 0)


async def test_weak_passwords_are_wrapped_in_argon2id_and_a_password_changed_meanwhile_wins(
    services: Services, settings: Settings, client: httpx.AsyncClient
) -> None:
    weak = {f"w{n}": f"Weak-Pass-{n}" for n in range(1, 5)}
    await submit(services, "ID;CREDENTIALS\n" + "".join(f"{d};{p}\n" for d, p in weak.items()))
    await services.runner.run_once()
    gated = GatedStorage(services.storage, stop_at=2)  # claim, then wait with the batch read and hashed
    runner = runner_on(services, settings, gated, services.clock, "wrapper")
    try:
        task = asyncio.create_task(runner.run_once())
        await asyncio.wait_for(gated.waiting.wait(), 30)
        await services.identity.set_password("t1", "device_w2", "Changed-Pass-2")
        gated.gate.set()
        wrap_job = await asyncio.wait_for(task, 30)
    finally:
        runner.close()
    assert wrap_job is not None
    assert wrap_job.kind == PASSWORD_WRAP
    done = await stored_job(services, wrap_job.id)
    assert (done.status, done.total, done.updated_count) == (JobStatus.SUCCEEDED, 4, 3)
    progress = (await call(client, "GET", f"/admittance/v1/jobs/{done.id}")).json()["progress"]
    assert (progress["total"], progress["processed"], progress["percent"]) == (4, 3, 100.0)

    hashes = {
        row["username"]: row["password_hash"]
        for row in await sql(services, "SELECT username, password_hash FROM users WHERE kind = 'device'")
    }
    assert sorted(name for name, stored in hashes.items() if stored.startswith("argon2id-hmac$")) == [
        "device_w1",
        "device_w3",
        "device_w4",
    ]
    assert hashes["device_w2"].startswith("$argon2id$")  # the new password, not overwritten
    for device_id, password, status in (
        ("w1", "Weak-Pass-1", 200),
        ("w4", "Weak-Pass-4", 200),
        ("w1", "Weak-Pass-4", 401),
        ("w2", "Changed-Pass-2", 200),
        ("w2", "Weak-Pass-2", 401),
    ):
        response = await call(client, "GET", "/user/currentUser", auth=device_auth(device_id, password))
        assert response.status_code == status, (device_id, password, response.text)
    assert await services.runner.run_once() is None


async def test_passwords_stored_while_a_wrap_job_runs_are_wrapped_too(services: Services, settings: Settings) -> None:
    admin = await principal(services)
    first = {f"early-{n:02d}": f"Early-Pass-{n}" for n in range(20)}  # two batches of wrapping
    await services.bulk.run(
        admin,
        services.bulk.prepare(admin, ("ID;CREDENTIALS\n" + "".join(f"{d};{p}\n" for d, p in first.items())).encode()),
    )
    queued = await services.imports.submit_password_wrap("t1", "admin")
    assert queued is not None
    gated = GatedStorage(services.storage, stop_at=3)  # claim, one batch, then wait
    runner = runner_on(services, settings, gated, services.clock, "wrapper")
    try:
        task = asyncio.create_task(runner.run_once())
        await asyncio.wait_for(gated.waiting.wait(), 30)
        # Meanwhile: a device behind the job's cursor gets a new weak password, and five new devices come.
        later = "".join(f"late-{n};Late-Pass-{n}\n" for n in range(5))
        report = await services.bulk.run(
            admin, services.bulk.prepare(admin, f"ID;CREDENTIALS\nearly-00;Again-Pass-0\n{later}".encode())
        )
        assert report.pending_passwords == 6
        assert await services.imports.submit_password_wrap("t1", "admin") is None  # one is running
        gated.gate.set()
        await asyncio.wait_for(task, 60)
    finally:
        runner.close()
    while await services.runner.run_once() is not None:
        pass
    pending = await sql(services, "SELECT username FROM users WHERE password_hash LIKE 'hmac-sha256-pending$%'")
    assert pending == []
    assert await authenticates(services, "early-00", "Again-Pass-0")
    wrapped = await stored_job(services, queued.id)
    # It wrapped what came ahead of its cursor too, and counted it; a second job wrapped the one behind.
    assert (wrapped.status, wrapped.updated_count, wrapped.total) == (JobStatus.SUCCEEDED, 25, 25)
    follow_up = (await services.jobs.list_jobs(admin, PageRequest(1, 5))).items[0]
    assert (follow_up.kind, follow_up.status, follow_up.total, follow_up.updated_count) == (
        PASSWORD_WRAP,
        JobStatus.SUCCEEDED,
        1,
        1,
    )
