"""End to end: real `admittance serve` processes, driven by Cumulocity's official Python client c8y_api.

The story of shared/specs/cumulocity.md §2 and §5: an operator requests a device, the device polls with the
bootstrap user until the operator accepts, gets its credentials once, and then logs in and creates itself in
the inventory. On SQLite and on PostgreSQL, and with two server processes sharing one PostgreSQL database.
"""

from __future__ import annotations

import itertools
import time
from concurrent.futures import Future, ThreadPoolExecutor

import pytest
from c8y_api import CumulocityApi, CumulocityDeviceRegistry

from tests.support.c8y import operator
from tests.support.credentials import BOOTSTRAP_PASSWORD
from tests.support.databases import new_postgres_database
from tests.support.postgres import PostgresServer
from tests.support.server import ServerProcess, Start

pytestmark = pytest.mark.e2e

ERROR_TYPE = "application/vnd.com.nsn.cumulocity.error+json;charset=UTF-8;ver=0.9"
START_TIMEOUT_SECONDS = 60.0
_databases = itertools.count()


Server = ServerProcess


def registry(server: Server) -> CumulocityDeviceRegistry:
    return CumulocityDeviceRegistry(server.base_url, "management", "devicebootstrap", BOOTSTRAP_PASSWORD)


def request_status(api: CumulocityApi, device_id: str) -> str:
    return str(api.get(f"/devicecontrol/newDeviceRequests/{device_id}")["status"])


def wait_for_status(api: CumulocityApi, device_id: str, status: str, device: Future[object]) -> None:
    deadline = time.monotonic() + 20
    while request_status(api, device_id) != status:
        if device.done():
            device.result()  # the device side failed: show why
            pytest.fail(f"the device finished while the request was not {status}")
        assert time.monotonic() < deadline, f"the request of {device_id} never became {status}"
        time.sleep(0.05)


def onboard(
    creating: CumulocityApi, accepting: CumulocityApi, device_side: CumulocityDeviceRegistry, device_id: str
) -> CumulocityDeviceRegistry.Credentials:
    """c8y_api's own calls: request, await_credentials in a device thread, accept once it is pending."""
    creating.device_inventory.request(device_id)
    assert request_status(accepting, device_id) == "WAITING_FOR_CONNECTION"
    with ThreadPoolExecutor(max_workers=1) as pool:
        device = pool.submit(device_side.await_credentials, device_id, timeout="30s", pause="1s")
        wait_for_status(accepting, device_id, "PENDING_ACCEPTANCE", device)
        assert not device.done()
        accepting.device_inventory.accept(device_id)
        return device.result(timeout=40)


def assert_device_works(base_url: str, credentials: CumulocityDeviceRegistry.Credentials, device_id: str) -> None:
    """What a real device does first with its new credentials (spec §5)."""
    device = CumulocityApi(base_url, credentials.tenant_id, credentials.username, credentials.password)
    me = device.users.get_current()
    assert me.username == credentials.username
    assert "ROLE_DEVICE" in me.effective_permission_ids
    lookup = f"{base_url}/identity/externalIds/c8y_Serial/{device_id}"
    missing = device.session.get(lookup)
    assert (missing.status_code, missing.headers["content-type"]) == (404, ERROR_TYPE)
    assert missing.json()["error"] == "identity/Not Found"
    created = device.session.post(f"{base_url}/inventory/managedObjects", json={"name": device_id, "c8y_IsDevice": {}})
    assert created.status_code == 201, created.text
    mo_id = created.json()["id"]
    assert created.headers["location"] == f"{base_url}/inventory/managedObjects/{mo_id}"
    linked = device.session.post(
        f"{base_url}/identity/globalIds/{mo_id}/externalIds", json={"type": "c8y_Serial", "externalId": device_id}
    )
    assert linked.status_code == 201, linked.text
    found = device.session.get(lookup)
    assert found.status_code == 200, found.text
    assert found.json()["managedObject"]["id"] == mo_id
    assert device.identity.get_id(device_id, "c8y_Serial") == mo_id
    fetched = device.session.get(f"{base_url}/inventory/managedObjects/{mo_id}")
    assert fetched.status_code == 200, fetched.text
    assert (fetched.json()["name"], fetched.json()["c8y_IsDevice"]) == (device_id, {})


def test_c8y_api_onboards_a_device(start: Start, database_url: str) -> None:
    server = start(database_url)
    admin = operator(server)
    assert admin.users.get_current().username == "admin"
    credentials = onboard(admin, admin, registry(server), "e2e-device-1")
    assert (credentials.tenant_id, credentials.username) == ("t1", "device_e2e-device-1")
    assert len(credentials.password) >= 16
    assert_device_works(server.base_url, credentials, "e2e-device-1")
    # Credentials are handed out once: the request is gone, so the device keeps hearing 404 until it gives up.
    with pytest.raises(KeyError):
        admin.get("/devicecontrol/newDeviceRequests/e2e-device-1")
    with pytest.raises(TimeoutError):
        registry(server).await_credentials("e2e-device-1", timeout="1s", pause="1s")


def test_wrong_bootstrap_password_is_not_a_404(start: Start, database_url: str) -> None:
    server = start(database_url)
    operator(server).device_inventory.request("e2e-device-2")
    impostor = CumulocityDeviceRegistry(server.base_url, "management", "devicebootstrap", "wrong-Password-1")
    with pytest.raises(RuntimeError, match="401"):
        impostor.await_credentials("e2e-device-2", timeout="5s", pause="1s")
    assert request_status(operator(server), "e2e-device-2") == "WAITING_FOR_CONNECTION"


def test_two_processes_on_one_postgresql_database_act_as_one(start: Start, postgres: PostgresServer) -> None:
    url = new_postgres_database(postgres)
    first, second = start(url), start(url)
    admin_first, admin_second = operator(first), operator(second)
    assert admin_second.users.get_current().username == "admin"  # created once, by the first process
    credentials = onboard(admin_first, admin_first, registry(second), "e2e-shared-1")
    assert (credentials.tenant_id, credentials.username) == ("t1", "device_e2e-shared-1")
    assert_device_works(first.base_url, credentials, "e2e-shared-1")
    device_on_second = CumulocityApi(second.base_url, "t1", credentials.username, credentials.password)
    assert device_on_second.users.get_current().username == credentials.username
    with pytest.raises(KeyError):
        admin_second.get("/devicecontrol/newDeviceRequests/e2e-shared-1")
    with pytest.raises(TimeoutError):
        registry(first).await_credentials("e2e-shared-1", timeout="1s", pause="1s")
    admin_second.device_inventory.request("e2e-shared-2")
    duplicate = admin_first.session.post(
        f"{first.base_url}/devicecontrol/newDeviceRequests", json={"id": "e2e-shared-2"}
    )
    assert (duplicate.status_code, duplicate.headers["content-type"]) == (409, ERROR_TYPE)
