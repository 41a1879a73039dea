"""Bulk import in the console: upload, preview (separator, encoding, first rows, problems) before
anything is written, import as a job, its results and failed rows, on both databases."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest

from admittance.bootstrap import Services
from admittance.devices.bulk.imports import DEVICE_IMPORT, STAGED_FOR, ImportService
from admittance.devices.bulk.manifest import parse
from admittance.devices.bulk.preview import preview
from admittance.devices.bulk.rows import RowFailure, read_columns, read_rows
from admittance.http.app import create_app
from admittance.identity.directory_model import NewUser
from admittance.identity.model import PresentedCredentials
from admittance.jobs import JobStatus
from admittance.kernel.clock import FakeClock
from admittance.kernel.errors import NotFound
from admittance.kernel.paging import PageRequest
from admittance.settings import Settings
from tests.support.console import ConsoleClient
from tests.support.credentials import ADMIN_PASSWORD
from tests.support.settings import with_settings

PASSWORD = "Xq7-vLp2-9TzR-k4Wm"
OTHER_PASSWORD = "other-Secret-4711"
MANIFEST = (
    "ID;CREDENTIALS;PATH\r\n"
    f"good-1;{PASSWORD};plant/line-1\r\n"
    "no-password;;plant\r\n"
    f'formula;{PASSWORD};=HYPERLINK("x")\r\n'
    f"bad-path;{PASSWORD};plant//line\r\n"
    f"twice;{PASSWORD};\r\n"
    f"twice;{PASSWORD};\r\n"
).encode()
_STAGED = re.compile(r"^/console/imports/staged/([0-9a-f-]{36})$")
_JOB = re.compile(r"^/console/imports/([0-9a-f-]{36})$")


async def _upload(console: ConsoleClient, data: bytes, name: str = "factory.csv") -> httpx.Response:
    if not console.csrf:
        await console.get("/console/imports")
    return await console.http.post(
        "/console/imports", data={"csrf_token": console.csrf}, files={"file": (name, data, "text/csv")}
    )


async def _staged_id(console: ConsoleClient, data: bytes = MANIFEST) -> str:
    answer = await _upload(console, data)
    assert answer.status_code == 303, answer.text
    found = _STAGED.match(answer.headers["location"])
    assert found, answer.headers["location"]
    return found.group(1)


async def _user(services: Services, username: str, roles: tuple[str, ...]) -> None:
    admin = await services.identity.authenticate(PresentedCredentials("t1", "admin", ADMIN_PASSWORD, "test"))
    await services.users.create_user(admin, NewUser(username=username, password=OTHER_PASSWORD, roles=roles))


@pytest.fixture
async def second_console(settings: Settings, services: Services) -> AsyncIterator[ConsoleClient]:
    """Another browser on the same server (not signed in)."""
    transport = httpx.ASGITransport(app=create_app(settings, services), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as http:
        yield ConsoleClient(http)


async def test_the_preview_shows_how_the_file_was_read_and_the_rows_that_will_fail(
    admin_console: ConsoleClient, services: Services
) -> None:
    staged = await _staged_id(admin_console)
    preview = await admin_console.get(f"/console/imports/staged/{staged}")
    assert preview.status_code == 200
    text = preview.text
    assert 'id="preview-rows">6<' in text
    assert 'id="preview-separator">semicolon<' in text
    assert 'id="preview-encoding">UTF-8<' in text
    problems = text[text.index('id="preview-problems"') : text.index("</table>", text.index('id="preview-problems"'))]
    assert "5 of 6 rows will fail" in text
    assert "CREDENTIALS is empty" in problems
    assert "starts with &#39;=&#39;" in problems
    assert "PATH &#39;plant//line&#39; has an empty group name" in problems
    assert "The ID twice appears on lines 6, 7" in problems
    assert "good-1" not in problems
    assert 'id="preview-first-rows"' in text
    assert "good-1" in text
    assert PASSWORD not in text  # secret cells are hidden in the preview
    assert "Import 6 rows" in text
    # Nothing was written by the preview: no job, no device.
    admin = await services.identity.authenticate(PresentedCredentials("t1", "admin", ADMIN_PASSWORD, "test"))
    assert not (await services.jobs.list_jobs(admin, PageRequest(1, 10))).items


async def test_importing_runs_a_job_whose_page_shows_progress_results_and_failed_rows(
    admin_console: ConsoleClient, services: Services
) -> None:
    staged = await _staged_id(admin_console)
    await admin_console.get(f"/console/imports/staged/{staged}")
    committed = await admin_console.post(f"/console/imports/staged/{staged}/import")
    assert committed.status_code == 303
    found = _JOB.match(committed.headers["location"])
    assert found, committed.headers["location"]
    job_id = found.group(1)
    waiting = await admin_console.get(f"/console/imports/{job_id}")
    assert waiting.status_code == 200
    assert "The import of 6 rows has started." in waiting.text
    assert f'data-live="/console/imports/{job_id}/live"' in waiting.text
    assert "<progress" in waiting.text
    assert 'value="0"' in waiting.text
    # A second submit of the same upload (a double click, another tab) imports nothing twice.
    again = await admin_console.post(
        f"/console/imports/staged/{staged}/import", headers={"referer": "/console/imports"}
    )
    assert again.status_code == 303
    assert (await admin_console.get(again.headers["location"])).text.count("no longer here") == 1

    running = await admin_console.get("/console/imports")
    assert 'data-live="/console/imports/list"' in running.text  # the list follows a running import
    assert "badge-pending" in (await admin_console.get("/console/imports/list")).text

    assert await services.runner.run_once() is not None
    listed = await admin_console.get("/console/imports/list", headers={"x-console-background": "1"})
    assert "badge-succeeded" in listed.text
    assert "data-live-stop" in listed.text
    live = await admin_console.get(f"/console/imports/{job_id}/live", headers={"x-console-background": "1"})
    assert live.status_code == 200
    assert "data-live-stop" in live.text
    assert 'id="count-created">1<' in live.text
    assert 'id="count-failed">5<' in live.text
    assert "badge-succeeded" in live.text
    assert 'max="6" value="6"' in live.text
    done = await admin_console.get(f"/console/imports/{job_id}?status=FAILED")
    assert "data-live=" not in done.text  # a finished job's page does not refresh
    assert "CREDENTIALS is empty" in done.text
    assert "good-1" not in done.text.split('id="import-rows"')[1]

    download = await admin_console.get(f"/console/imports/{job_id}/failed-rows.csv")
    assert download.status_code == 200
    assert download.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(download.content.decode("utf-8-sig")), delimiter=";"))
    assert rows[0] == ["ID", "CREDENTIALS", "PATH", "FAILURE_REASON"]
    assert sorted(row[0] for row in rows[1:]) == ["bad-path", "formula", "no-password", "twice", "twice"]
    assert PASSWORD not in download.text

    listing = await admin_console.get("/console/imports")
    assert f'href="/console/imports/{job_id}"' in listing.text
    assert "data-live=" not in listing.text
    assert "factory.csv" in listing.text
    admin = await services.identity.authenticate(PresentedCredentials("t1", "admin", ADMIN_PASSWORD, "test"))
    job = await services.jobs.get(admin, job_id)
    assert (job.kind, job.status, job.created_count, job.failed_count) == (
        DEVICE_IMPORT,
        JobStatus.SUCCEEDED,
        1,
        5,
    )


async def test_row_results_page(admin_console: ConsoleClient, services: Services) -> None:
    lines = ["ID;CREDENTIALS"] + [f"dev-{n};" for n in range(120)]  # every row fails (no password)
    staged = await _staged_id(admin_console, "\n".join(lines).encode())
    await admin_console.get(f"/console/imports/staged/{staged}")
    job_id = _JOB.match((await admin_console.post(f"/console/imports/staged/{staged}/import")).headers["location"])
    assert job_id
    await services.runner.run_once()
    first = await admin_console.get(f"/console/imports/{job_id.group(1)}?status=FAILED")
    assert first.text.count("CREDENTIALS is empty") == 50
    assert f'href="/console/imports/{job_id.group(1)}?status=FAILED&amp;page=2"' in first.text
    last = await admin_console.get(f"/console/imports/{job_id.group(1)}?status=FAILED&page=3")
    assert last.text.count("CREDENTIALS is empty") == 20
    assert ">dev-119<" in last.text


async def test_a_file_that_cannot_be_read_is_refused_in_the_preview(admin_console: ConsoleClient) -> None:
    staged = await _staged_id(admin_console, b"PK\x03\x04\x00\x00binary")
    preview = await admin_console.get(f"/console/imports/staged/{staged}")
    assert preview.status_code == 200
    assert "This file cannot be imported." in preview.text
    assert "NUL bytes" in preview.text
    assert "Import " not in preview.text.split("<h1>")[1].split("</main>")[0].replace("Import another", "")
    refused = await admin_console.post(f"/console/imports/staged/{staged}/import")
    assert refused.status_code == 303
    shown = await admin_console.get(refused.headers["location"])
    assert "NUL bytes" in shown.text
    no_id_file = await _staged_id(admin_console, b"NAME;PATH\na;b\n")
    no_id = await admin_console.get(f"/console/imports/staged/{no_id_file}")
    assert "must have an ID column" in no_id.text


async def test_an_upload_needs_a_file_within_the_size_limit(admin_console: ConsoleClient, services: Services) -> None:
    empty = await _upload(admin_console, b"", name="")
    assert empty.status_code == 303
    assert "Choose a CSV file" in (await admin_console.get("/console/imports")).text
    # The limit is a setting, read when the app is built: an app with a small one.
    services.settings = with_settings(services.settings, max_manifest_bytes=1024)
    transport = httpx.ASGITransport(app=create_app(services.settings, services), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as http:
        small = ConsoleClient(http)
        assert (await small.sign_in("admin", ADMIN_PASSWORD)).status_code == 303
        big = await _upload(small, b"ID;CREDENTIALS\n" + b"x" * 2000)
        assert big.status_code == 303
        assert "larger than the limit of 1 KB" in (await small.get(big.headers["location"])).text


async def test_an_upload_is_bound_to_the_user_who_made_it(
    admin_console: ConsoleClient, second_console: ConsoleClient, services: Services
) -> None:
    staged = await _staged_id(admin_console)
    await _user(services, "other_admin", ("connectware-admin",))
    assert (await second_console.sign_in("other_admin", OTHER_PASSWORD)).status_code == 303
    console_other = second_console
    assert (await console_other.get(f"/console/imports/staged/{staged}")).status_code == 404
    await console_other.get("/console/imports")
    stolen = await console_other.post(f"/console/imports/staged/{staged}/import")
    assert stolen.status_code == 303
    assert "no longer here" in (await console_other.get(stolen.headers["location"])).text
    # Still there for its owner, who may discard it.
    assert (await admin_console.get(f"/console/imports/staged/{staged}")).status_code == 200
    discarded = await admin_console.post(f"/console/imports/staged/{staged}/discard")
    assert discarded.headers["location"] == "/console/imports"
    assert (await admin_console.get(f"/console/imports/staged/{staged}")).status_code == 404


async def test_a_user_without_import_rights_cannot_reach_or_post_the_import_pages(
    console: ConsoleClient, second_console: ConsoleClient, services: Services
) -> None:
    assert (await second_console.sign_in("admin", ADMIN_PASSWORD)).status_code == 303
    staged = await _staged_id(second_console)
    await _user(services, "reader", ("ROLE_DEVICE_CONTROL_READ", "minimum-access"))
    assert (await console.sign_in("reader", OTHER_PASSWORD)).status_code == 303
    home = await console.get("/console/")
    assert ">Bulk import</a>" not in home.text  # not in the navigation (the jobs count links to the list)
    # Reading device control shows past imports (as GET /admittance/v1/jobs does), not the upload.
    listing = await console.get("/console/imports")
    assert listing.status_code == 200
    assert 'type="file"' not in listing.text
    assert (await console.get(f"/console/imports/staged/{staged}")).status_code == 403
    upload = await _upload(console, MANIFEST)
    assert upload.status_code == 403
    assert (await console.post(f"/console/imports/staged/{staged}/import")).status_code == 403
    admin = await services.identity.authenticate(PresentedCredentials("t1", "admin", ADMIN_PASSWORD, "test"))
    assert not (await services.jobs.list_jobs(admin, PageRequest(1, 10))).items


async def test_an_upload_without_the_csrf_token_is_refused(admin_console: ConsoleClient, services: Services) -> None:
    await admin_console.get("/console/imports")
    answer = await admin_console.http.post(
        "/console/imports", data={"csrf_token": "wrong"}, files={"file": ("f.csv", MANIFEST, "text/csv")}
    )
    assert answer.status_code == 403
    listing = await admin_console.get("/console/imports")
    assert "No imports yet" in listing.text


async def test_a_staged_upload_expires_and_the_next_upload_removes_the_expired_ones(services: Services) -> None:
    clock = FakeClock(datetime.now(UTC))
    jobs = ImportService(services.storage, services.bulk, services.jobs, clock)
    admin = await services.identity.authenticate(PresentedCredentials("t1", "admin", ADMIN_PASSWORD, "test"))
    staged = await jobs.stage_import(admin, MANIFEST, "factory.csv")
    _, shown = await jobs.preview_staged(admin, staged.id)
    assert (shown.rows, shown.problem_count) == (6, 5)
    clock.advance(STAGED_FOR.total_seconds() + 1)
    with pytest.raises(NotFound, match="expired"):
        await jobs.preview_staged(admin, staged.id)
    with pytest.raises(NotFound):
        await jobs.submit_staged(admin, staged.id)
    async with services.storage.read() as tx:
        assert await tx.staged_imports.get(staged.id) is not None  # expired, not yet removed
    await jobs.stage_import(admin, MANIFEST, "again.csv")
    async with services.storage.read() as tx:
        assert await tx.staged_imports.get(staged.id) is None


def test_the_preview_finds_the_same_failing_rows_as_the_import_checks() -> None:
    data = (
        "ID;CREDENTIALS;PATH;external-imei\n"
        f"a;{PASSWORD};x;111\n"
        f"b;{PASSWORD};x;111\n"  # the same external id as line 2
        "c;;x;\n"
        f"d;{PASSWORD};@cmd;\n"
        f"e;{PASSWORD};x/y;\n"
        f"a;{PASSWORD};x;\n"  # the same ID as line 2
        "not;a;valid;row;at;all\n"
    ).encode()
    manifest = parse(data)
    expected = [
        (row.line, row.reason)
        for row in read_rows(manifest, read_columns(manifest), "t1", may_choose_tenant=False)
        if isinstance(row, RowFailure)
    ]
    shown = preview(data, "t1", may_choose_tenant=False)
    assert [(problem.line, problem.reason) for problem in shown.problems] == expected
    assert [line for line, _ in expected] == [2, 3, 4, 5, 7, 8]
    assert shown.problem_count == 6
    assert shown.importable == 1


async def test_staging_and_discarding_an_upload_are_audited(admin_console: ConsoleClient, services: Services) -> None:
    staged = await _staged_id(admin_console)
    await admin_console.get(f"/console/imports/staged/{staged}")
    await admin_console.post(f"/console/imports/staged/{staged}/discard")
    async with services.storage.read() as tx:
        events = await tx.audit.list_for_subject("t1", staged)
    tags = sorted(event.tag.value for event in events)
    assert tags == ["jobs:upload:discard", "jobs:upload:stage"]
    assert all(event.actor == "admin" for event in events)
    assert any(event.detail.get("filename") for event in events)
