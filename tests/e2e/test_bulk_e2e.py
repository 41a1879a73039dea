"""End to end: bulk registration against real `admittance serve` processes, on SQLite and PostgreSQL.

An operator uploads the seed's example manifest with the official client c8y_api (through its
requests session, as its users do: c8y_api has no bulk helper), and an imported device logs in with
the password from the file, again with c8y_api. A big file goes through the native background
import instead and is run by the server's own worker.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from c8y_api import CumulocityApi  # type: ignore[import-untyped]

from tests.support.bulk import BULK, SEED_EXAMPLE
from tests.support.credentials import ADMIN_PASSWORD
from tests.support.jobs import manifest, parse_csv
from tests.support.server import Start

pytestmark = pytest.mark.e2e

BULK_TYPE = "application/vnd.com.nsn.cumulocity.bulknewdevicerequest+json;charset=UTF-8;ver=0.9"


def upload(api: CumulocityApi, path: str, data: bytes) -> Any:
    return api.session.post(f"{api.base_url}{path}", files={"file": ("devices.csv", data, "text/csv")})


def test_the_seed_example_uploaded_with_c8y_api_creates_devices_that_log_in(start: Start, database_url: str) -> None:
    server = start(database_url)
    admin = CumulocityApi(server.base_url, "t1", "admin", ADMIN_PASSWORD)
    response = upload(admin, BULK, SEED_EXAMPLE.encode())
    assert response.status_code == 201, response.text
    assert response.headers["content-type"] == BULK_TYPE
    body = response.json()
    assert (body["numberOfAll"], body["numberOfCreated"], body["numberOfFailed"]) == (7, 7, 0)
    assert body["numberOfSuccessful"] == 7

    device = CumulocityApi(server.base_url, "t1", "device_id_101", "abcd1234")
    me = device.get("/user/currentUser")
    assert me["userName"] == "device_id_101"
    assert "ROLE_DEVICE" in device.users.get_current().effective_permission_ids
    found = device.get("/identity/externalIds/c8y_Serial/id_101")
    assert (found["externalId"], found["type"]) == ("id_101", "c8y_Serial")
    mo_id = found["managedObject"]["id"]
    assert device.identity.get_id("id_101", "c8y_Serial") == mo_id
    own = device.inventory.get(mo_id)
    assert (own.name, own.type) == ("Device 101", "type_of_device")
    assert own.c8y_Mobile.iccid == "111111111"
    # id_111 was registered under another IDTYPE, so the serial lookup does not know it.
    assert device.session.get(f"{server.base_url}/identity/externalIds/c8y_Serial/id_111").status_code == 404
    assert device.identity.get_id("id_111", "c8y_Imei")

    # A re-upload of the same file creates nothing: every device gets its password again.
    again = upload(admin, BULK, SEED_EXAMPLE.encode()).json()
    assert (again["numberOfCreated"], len(again["credentialUpdatedList"]), again["numberOfFailed"]) == (0, 7, 0)
    wrong = CumulocityApi(server.base_url, "t1", "device_id_101", "wrong-Password-1")
    assert wrong.session.get(f"{server.base_url}/user/currentUser").status_code == 401


def test_a_background_import_is_run_by_the_server_s_own_worker(start: Start, database_url: str) -> None:
    server = start(database_url)
    admin = CumulocityApi(server.base_url, "t1", "admin", ADMIN_PASSWORD)
    data = manifest([f"bg-{n:04d}" for n in range(1200)])  # three chunks
    submitted = upload(admin, "/admittance/v1/device-imports", data)
    assert submitted.status_code == 202, submitted.text
    location = submitted.headers["location"]
    assert location == f"{server.base_url}/admittance/v1/jobs/{submitted.json()['id']}"

    deadline = time.monotonic() + 60
    job = admin.session.get(location).json()
    while job["status"] in ("PENDING", "IN_PROGRESS"):
        assert time.monotonic() < deadline, job
        time.sleep(0.2)
        job = admin.session.get(location).json()
    assert (job["status"], job["attempts"]) == ("SUCCEEDED", 1)
    progress = job["progress"]
    assert (progress["total"], progress["processed"], progress["created"]) == (1200, 1200, 1200)
    assert (progress["updated"], progress["failed"], progress["percent"]) == (0, 0, 100.0)
    assert progress["rowsPerSecond"] > 0
    failed_rows = admin.session.get(job["failedRows"])
    assert failed_rows.content.decode("utf-8-sig") == "ID;CREDENTIALS;FAILURE_REASON\r\n"

    last_id, last_password = parse_csv(data.decode())[-1]
    device = CumulocityApi(server.base_url, "t1", f"device_{last_id}", last_password)
    assert device.users.get_current().username == f"device_{last_id}"
    assert device.identity.get_id(last_id, "c8y_Serial")
