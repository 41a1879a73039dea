"""POST /v1/claimed-devices/bulk as a background job and GET /v1/bulk-ops-requests/{id}: every
value a string, the error summary and the uploaded file at access-token URLs; SQLite and PostgreSQL."""

from __future__ import annotations

import httpx

from admittance.bootstrap import Services
from tests.support import secrets
from tests.support.nrf import mint
from tests.support.nrf_api import api_key, assert_nrf_error, new_token


async def _status(client: httpx.AsyncClient, headers: dict[str, str], job_id: str) -> dict[str, str]:
    response = await client.get(f"/v1/bulk-ops-requests/{job_id}", headers=headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert all(isinstance(value, str) for value in body.values()), body
    return body


async def test_bulk_claim_succeeds(services: Services, client: httpx.AsyncClient) -> None:
    editor = await api_key(services, client, "editor")
    good = [await new_token(services) for _ in range(3)]
    csv = "".join(f'"{token}","bulk,b2"\n' for _, token in good)
    submitted = await client.post(
        "/v1/claimed-devices/bulk", headers={**editor, "Content-Type": "text/csv"}, content=csv
    )
    assert submitted.status_code == 202, submitted.text
    job_id = submitted.json()["bulkOpsRequestId"]
    pending = await _status(client, editor, job_id)
    assert pending["status"] == "PENDING"
    assert pending["completedAt"] == ""
    assert pending["errorSummaryUrl"] == ""
    secrets.register(pending["uploadedDataUrl"].rsplit("/", 1)[1])
    uploaded = await client.get(pending["uploadedDataUrl"].removeprefix("http://testserver"))
    assert uploaded.status_code == 200
    assert uploaded.text == csv
    assert await services.runner.run_once() is not None
    done = await _status(client, editor, job_id)
    assert done["status"] == "SUCCEEDED"
    assert done["endpoint"] == "CLAIM_DEVICES"
    assert done["completedAt"].endswith("Z")
    assert done["requestedAt"].endswith("Z")
    listed = (await client.get("/v1/claimed-devices", headers=editor, params={"tags": "b2"})).json()
    assert sorted(item["id"] for item in listed["items"]) == sorted(device for device, _ in good)
    assert done["uploadedDataUrl"] == ""
    assert_nrf_error(await client.get(pending["uploadedDataUrl"].removeprefix("http://testserver")), 404)


async def test_bulk_claim_with_failures_has_an_error_summary(services: Services, client: httpx.AsyncClient) -> None:
    editor = await api_key(services, client, "editor")
    _, token = await new_token(services)
    csv = f'"{token}",""\n"{mint()}","x"\n"junk",""\n'
    submitted = await client.post("/v1/claimed-devices/bulk", headers=editor, content=csv)
    assert submitted.status_code == 202
    job_id = submitted.json()["bulkOpsRequestId"]
    await services.runner.run_once()
    done = await _status(client, editor, job_id)
    assert done["status"] == "FAILED"
    url = done["errorSummaryUrl"]
    assert url.startswith(f"http://testserver/v1/bulk-ops-requests/{job_id}/errors/")
    access = url.rsplit("/", 1)[1]
    secrets.register(access)
    # Fetched without an Authorization header, as the nRF Cloud client does.
    summary = await client.get(url.removeprefix("http://testserver"))
    assert summary.status_code == 200, summary.text
    errors = summary.json()["errors"]
    assert [error.split(":", 1)[0] for error in errors] == ["[1]", "[2]"]
    assert "No identity public key" in errors[0]
    # A wrong access token, another tenant's view, or a plain job id: 404.
    wrong = await client.get(f"/v1/bulk-ops-requests/{job_id}/errors/{'x' * len(access)}")
    assert_nrf_error(wrong, 404)
    await services.identity.create_tenant("t2")
    other = await api_key(services, client, "viewer", tenant="t2")
    assert_nrf_error(await client.get(f"/v1/bulk-ops-requests/{job_id}", headers=other), 404)
    assert_nrf_error(await client.get(f"/v1/bulk-ops-requests/{job_id}"), 401)


async def test_bulk_claim_refuses_bad_files_and_viewers(services: Services, client: httpx.AsyncClient) -> None:
    editor = await api_key(services, client, "editor")
    viewer = await api_key(services, client, "viewer")
    assert_nrf_error(await client.post("/v1/claimed-devices/bulk", headers=editor, content=b""), 400)
    assert_nrf_error(await client.post("/v1/claimed-devices/bulk", headers=editor, content=b'"a","b","c"\n'), 400)
    too_many = "\n".join(['"x",""'] * 1001)
    assert_nrf_error(await client.post("/v1/claimed-devices/bulk", headers=editor, content=too_many), 400)
    assert_nrf_error(await client.post("/v1/claimed-devices/bulk", headers=viewer, content=b'"x",""\n'), 403)
