"""The native job API (/admittance/v1) over HTTP, on SQLite and PostgreSQL: submitting imports, the
job document, paging jobs and rows, the failed-rows file, and every refusal as RFC 9457 problems."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from admittance.bootstrap import Services
from admittance.kernel.principal import Role
from tests.support.bulk import SEED_EXAMPLE, sql, upload
from tests.support.cumulocity import ADMIN, basic
from tests.support.jobs import manifest, parse_csv

V1 = "/admittance/v1"
IMPORTS = f"{V1}/device-imports"
PROBLEM = "application/problem+json"
PERSON_PASSWORD = "Person-Secret-123"
FAILING = (
    "ID;CREDENTIALS;NAME\n"
    "ok-1;Okay-Pass-1;Ok 1\n"
    "gone-1;;Gone 1\n"
    "gone-2;Gone-Pass-2;=cmd()\n"
    "gone-3;short;Gone 3\n"
    "gone-4;Gone-Pass-4;Gone 4;extra\n"
    "gone-5;;Gone 5\n"
)


async def post_file(client: httpx.AsyncClient, data: bytes | str, auth: dict[str, str] = ADMIN) -> httpx.Response:
    content = data.encode() if isinstance(data, str) else data
    return await client.post(IMPORTS, files={"file": ("devices.csv", content, "text/csv")}, headers=auth)


async def imported(client: httpx.AsyncClient, services: Services, data: bytes | str) -> dict[str, Any]:
    """Submit a file, let the worker run it, and return the finished job document."""
    submitted = await post_file(client, data)
    assert submitted.status_code == 202, submitted.text
    assert await services.runner.run_once() is not None
    response = await client.get(submitted.headers["location"], headers=ADMIN)
    assert response.status_code == 200, response.text
    document: dict[str, Any] = response.json()
    return document


async def person(services: Services, tenant: str, name: str, *roles: Role) -> dict[str, str]:
    await services.identity.create_user(tenant, name, PERSON_PASSWORD, [role.value for role in roles])
    return basic(f"{tenant}/{name}", PERSON_PASSWORD)


def assert_problem(response: httpx.Response, status: int, detail: str = "") -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    assert (body["type"], body["status"]) == ("about:blank", status)
    assert detail in body["detail"]


async def queued_jobs(services: Services) -> int:
    return len(await sql(services, "SELECT id FROM jobs"))


async def test_an_upload_is_accepted_as_a_job_and_its_document_follows_the_progress(
    client: httpx.AsyncClient, services: Services
) -> None:
    response = await post_file(client, manifest(["doc-1", "doc-2", "doc-3"]))
    assert response.status_code == 202, response.text
    assert response.headers["content-type"] == "application/json"
    job = response.json()
    link = f"http://testserver{V1}/jobs/{job['id']}"
    assert response.headers["location"] == job["self"] == link
    assert job["kind"] == "device-import"
    assert (job["status"], job["tenantId"], job["creator"], job["attempts"]) == ("PENDING", "t1", "admin", 0)
    assert (job["startedAt"], job["finishedAt"]) == (None, None)
    assert job["createdAt"].endswith("Z")
    assert job["progress"] == {"total": 3, "processed": 0, "created": 0, "updated": 0, "failed": 0, "percent": 0.0}
    assert (job["rows"], job["failedRows"]) == (f"{link}/rows", f"{link}/failed-rows.csv")
    assert "error" not in job

    await services.runner.run_once()
    done = (await client.get(f"{V1}/jobs/{job['id']}", headers=ADMIN)).json()
    assert (done["status"], done["attempts"]) == ("SUCCEEDED", 1)
    progress = done["progress"]
    assert (progress["total"], progress["processed"], progress["created"], progress["percent"]) == (3, 3, 3, 100.0)
    assert (progress["updated"], progress["failed"]) == (0, 0)
    assert "etaSeconds" not in progress
    assert done["startedAt"] <= done["finishedAt"]


async def test_the_file_may_also_be_the_raw_body(client: httpx.AsyncClient, services: Services) -> None:
    response = await client.post(
        IMPORTS, content=manifest(["raw-1"]), headers={**ADMIN, "Content-Type": "text/csv; charset=utf-8"}
    )
    assert response.status_code == 202, response.text
    assert response.json()["progress"]["total"] == 1
    assert await queued_jobs(services) == 1


async def test_jobs_are_paged_newest_first(client: httpx.AsyncClient) -> None:
    ids = [(await post_file(client, manifest([f"page-{n}"]))).json()["id"] for n in range(3)]
    first = (await client.get(f"{V1}/jobs?pageSize=2&withTotalElements=true", headers=ADMIN)).json()
    assert [job["id"] for job in first["jobs"]] == ids[::-1][:2]
    assert first["statistics"] == {"currentPage": 1, "pageSize": 2, "totalElements": 3}
    assert first["next"] == f"http://testserver{V1}/jobs?pageSize=2&currentPage=2"
    assert "prev" not in first
    second = (await client.get(first["next"], headers=ADMIN)).json()
    assert [job["id"] for job in second["jobs"]] == [ids[0]]
    assert "next" not in second
    assert second["prev"] == f"http://testserver{V1}/jobs?pageSize=2&currentPage=1"


async def test_rows_are_paged_by_line_and_filtered_by_status(client: httpx.AsyncClient, services: Services) -> None:
    await imported(client, services, manifest(["ok-1"]))
    job = await imported(client, services, FAILING)
    progress = job["progress"]
    assert (progress["total"], progress["processed"], progress["created"]) == (6, 6, 0)
    assert (progress["updated"], progress["failed"], progress["percent"]) == (1, 5, 100.0)
    rows = f"{V1}/jobs/{job['id']}/rows"
    page = (await client.get(f"{rows}?pageSize=4", headers=ADMIN)).json()
    assert [(row["line"], row["status"]) for row in page["rows"]] == [
        (2, "CREDENTIAL_UPDATED"),
        (3, "FAILED"),
        (4, "FAILED"),
        (5, "FAILED"),
    ]
    assert page["rows"][0] == {"line": 2, "status": "CREDENTIAL_UPDATED", "deviceId": "ok-1", "row": "ok-1;;Ok 1"}
    assert page["rows"][2]["row"] == "gone-2;;=cmd()"  # the password cell emptied
    assert "CREDENTIALS is empty" in page["rows"][1]["failureReason"]
    rest = (await client.get(page["next"], headers=ADMIN)).json()
    assert [row["line"] for row in rest["rows"]] == [6, 7]
    assert "next" not in rest

    failed = (await client.get(f"{rows}?status=FAILED&withTotalElements=true", headers=ADMIN)).json()
    assert [row["line"] for row in failed["rows"]] == [3, 4, 5, 6, 7]
    assert failed["statistics"]["totalElements"] == 5
    assert "row" not in failed["rows"][3]  # a line that is not a row of the file shows nothing of it
    updated = (await client.get(f"{rows}?status=CREDENTIAL_UPDATED", headers=ADMIN)).json()
    assert [row["deviceId"] for row in updated["rows"]] == ["ok-1"]
    assert_problem(await client.get(f"{rows}?status=BROKEN", headers=ADMIN), 422, "status must be one of")


async def test_the_failed_rows_file_is_csv_with_a_bom_reasons_and_no_secret(
    client: httpx.AsyncClient, services: Services
) -> None:
    job = await imported(client, services, FAILING)
    response = await client.get(job["failedRows"], headers=ADMIN)
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.headers["content-disposition"] == f'attachment; filename="failed-rows-{job["id"]}.csv"'
    assert response.content.startswith(b"\xef\xbb\xbf")
    text = response.content.decode("utf-8-sig")
    for secret in ("Okay-Pass-1", "Gone-Pass-2", "short", "Gone-Pass-4"):
        assert secret not in text
    header, *rows = parse_csv(text)
    assert header == ["ID", "CREDENTIALS", "NAME", "FAILURE_REASON"]
    assert [row[:3] for row in rows] == [
        ["gone-1", "", "Gone 1"],
        ["gone-2", "", "'=cmd()"],
        ["gone-3", "", "Gone 3"],
        ["", "", ""],  # 4 fields under a 3-column header: nothing of it can be lined up
        ["gone-5", "", "Gone 5"],
    ]
    assert rows[3][3].startswith("line 6: The line has 4 fields")
    assert [row[3].split(":")[0] for row in rows] == ["line 3", "line 4", "line 5", "line 6", "line 7"]


async def test_a_password_wrap_job_has_no_failed_rows_file(client: httpx.AsyncClient, services: Services) -> None:
    await imported(client, services, "ID;CREDENTIALS\nweak-1;Weak-Pass-1\n")
    jobs = (await client.get(f"{V1}/jobs", headers=ADMIN)).json()["jobs"]
    wrap = next(job for job in jobs if job["kind"] == "password-wrap")
    assert "failedRows" not in wrap
    assert_problem(await client.get(f"{wrap['self']}/failed-rows.csv", headers=ADMIN), 404, "imports no file")


@pytest.mark.parametrize(
    ("method", "path"),
    [("POST", IMPORTS), ("GET", f"{V1}/jobs"), ("GET", f"{V1}/jobs/x"), ("GET", f"{V1}/jobs/x/failed-rows.csv")],
)
async def test_without_valid_credentials_it_is_401(client: httpx.AsyncClient, method: str, path: str) -> None:
    assert_problem(await client.request(method, path), 401)
    assert_problem(await client.request(method, path, headers=basic("t1/admin", "wrong-Password-1")), 401)


async def test_roles_decide_who_submits_and_who_reads(client: httpx.AsyncClient, services: Services) -> None:
    job = (await post_file(client, manifest(["roles-1"]))).json()
    reader = await person(services, "t1", "reader", Role.DEVICE_CONTROL_READ)
    outsider = await person(services, "t1", "outsider", Role.INVENTORY_READ)
    assert_problem(await post_file(client, manifest(["roles-2"]), reader), 403)
    assert_problem(await post_file(client, manifest(["roles-3"]), outsider), 403)
    for path in (f"{V1}/jobs", job["self"], job["rows"], job["failedRows"]):
        assert (await client.get(path, headers=reader)).status_code == 200, path
        assert_problem(await client.get(path, headers=outsider), 403)
    assert await queued_jobs(services) == 1


async def test_unknown_jobs_and_other_tenants_jobs_are_404_and_management_sees_all(
    client: httpx.AsyncClient, services: Services
) -> None:
    job = (await post_file(client, manifest(["tenant-1"]))).json()
    await services.identity.create_tenant("t2")
    other = await person(services, "t2", "admin2", Role.DEVICE_CONTROL_ADMIN)
    overseer = await person(services, "management", "overseer", Role.DEVICE_CONTROL_READ)
    for path in (f"{V1}/jobs/no-such-job", f"{V1}/jobs/no-such-job/rows", f"{V1}/jobs/no-such-job/failed-rows.csv"):
        assert_problem(await client.get(path, headers=ADMIN), 404, "There is no job no-such-job")
    for path in (job["self"], job["rows"], job["failedRows"]):
        assert_problem(await client.get(path, headers=other), 404, "There is no job")
        assert (await client.get(path, headers=overseer)).status_code == 200, path
    assert (await client.get(f"{V1}/jobs", headers=other)).json()["jobs"] == []
    seen = (await client.get(f"{V1}/jobs", headers=overseer)).json()["jobs"]
    assert [(listed["id"], listed["tenantId"]) for listed in seen] == [(job["id"], "t1")]


async def test_a_json_body_is_415(client: httpx.AsyncClient, services: Services) -> None:
    response = await client.post(IMPORTS, json={"file": "ID;CREDENTIALS"}, headers=ADMIN)
    assert_problem(response, 415, "multipart/form-data")
    assert await queued_jobs(services) == 0


@pytest.mark.parametrize(
    "data",
    [b"", b"\x00\x01\x02garbage\xff\xfe" * 10, b"ID;CREDENTIALS\n", b"NAME;TYPE\nx;y\n"],
    ids=["empty", "binary", "header-only", "no-id-column"],
)
async def test_an_unusable_file_is_refused_at_submission_and_not_queued(
    client: httpx.AsyncClient, services: Services, data: bytes
) -> None:
    assert_problem(await post_file(client, data), 422)
    assert await queued_jobs(services) == 0


async def test_weak_passwords_uploaded_through_the_cumulocity_endpoint_are_queued_for_wrapping(
    client: httpx.AsyncClient,
) -> None:
    assert (await upload(client, SEED_EXAMPLE)).status_code == 201
    jobs = (await client.get(f"{V1}/jobs", headers=ADMIN)).json()["jobs"]
    assert [(job["kind"], job["progress"]["total"]) for job in jobs] == [("password-wrap", 7)]
