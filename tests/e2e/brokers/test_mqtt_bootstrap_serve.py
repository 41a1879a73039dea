"""The Cumulocity MQTT bootstrap of a real `admittance serve` (ADMITTANCE_MQTT_BOOTSTRAP_PORT): the real
c8ydm bootstrap client polls over MQTT, the operator accepts through the REST API, the device receives
its credentials on `s/dcr` exactly once (the same state machine as POST /devicecontrol/deviceCredentials)
and they work; two devices at once each get only their own; only the bootstrap user gets in."""

from __future__ import annotations

import asyncio
import queue
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support import c8ydm_bootstrap
from tests.support.credentials import ADMIN_PASSWORD, BOOTSTRAP_PASSWORD, SECRET_KEY
from tests.support.mqtt_clients import Device
from tests.support.postgres import free_port
from tests.support.server import ServerProcess

pytestmark = pytest.mark.e2e

ADMIN = ("t1/admin", ADMIN_PASSWORD)
BOOTSTRAP_USER = "management/devicebootstrap"
MAC = "aa:bb:cc:dd:ee:01"
REQUESTS = "/devicecontrol/newDeviceRequests"


class Served:
    def __init__(self, server: ServerProcess, mqtt_port: int) -> None:
        self.server = server
        self.mqtt_port = mqtt_port
        self.http = httpx.Client(base_url=server.base_url, auth=ADMIN, timeout=10)

    def register(self, device_id: str) -> None:
        assert self.http.post(REQUESTS, json={"id": device_id}).status_code == 201

    def status(self, device_id: str) -> str | None:
        found = self.http.get(f"{REQUESTS}/{device_id}")
        return str(found.json()["status"]) if found.status_code == 200 else None

    def wait_for_status(self, device_id: str, status: str, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while self.status(device_id) != status:
            assert time.monotonic() < deadline, f"{device_id} never became {status}: {self.status(device_id)}"
            time.sleep(0.1)

    def accept(self, device_id: str) -> None:
        answer = self.http.put(f"{REQUESTS}/{device_id}", json={"status": "ACCEPTED"})
        assert answer.status_code == 200, answer.text


@pytest.fixture
def served(tmp_path: Path, database_url: str) -> Iterator[Served]:
    mqtt_port = free_port()
    env = {
        "ADMITTANCE_DATABASE_URL": database_url,
        "ADMITTANCE_ADMIN_PASSWORD": ADMIN_PASSWORD,
        "ADMITTANCE_BOOTSTRAP_PASSWORD": BOOTSTRAP_PASSWORD,
        "ADMITTANCE_SECRET_KEY": SECRET_KEY,
        "ADMITTANCE_MQTT_BOOTSTRAP_PORT": str(mqtt_port),
    }
    with ServerProcess(tmp_path / "data", env) as server:
        served = Served(server, mqtt_port)
        try:
            yield served
        finally:
            served.http.close()


def _bootstrapping(port: int, client_id: str, password: str = BOOTSTRAP_PASSWORD) -> Device:
    device = Device(port, BOOTSTRAP_USER, password, client_id, protocol=4)
    assert device.connect() == 0
    assert device.subscribe("s/dcr", 0) == 0
    return device


def test_two_c8ydm_agents_are_accepted_through_the_api_and_each_gets_its_own_credentials_once(
    served: Served, tmp_path: Path
) -> None:
    serials = ("c8ydm-e2e-1", MAC)
    agents: dict[str, tuple[Path, subprocess.Popen[bytes]]] = {}
    for serial in serials:
        served.register(serial)
        folder = tmp_path / serial.replace(":", "-")
        c8ydm_bootstrap.write_agent_ini(folder, served.mqtt_port, "management", "devicebootstrap", BOOTSTRAP_PASSWORD)
        agents[serial] = (folder, c8ydm_bootstrap.start(folder, serial))
    try:
        for serial in serials:  # the first s/ucr is the first contact
            served.wait_for_status(serial, "PENDING_ACCEPTANCE")
        for serial in serials:
            served.accept(serial)
        for folder, process in agents.values():
            assert process.wait(60) == 0, (folder / "bootstrap.log").read_text()
    finally:
        for _, process in agents.values():
            if process.poll() is None:
                process.kill()
                process.wait()
    stored = {serial: c8ydm_bootstrap.stored_credentials(folder) for serial, (folder, _) in agents.items()}
    for serial, found in stored.items():
        assert found is not None
        tenant, username, password = found
        assert (tenant, username) == ("t1", f"device_{serial}")
        assert password.isalnum()
        assert len(password) == 32
        assert served.status(serial) is None  # delivered: the request is gone
    assert stored[serials[0]] != stored[serials[1]]
    # The credentials work.
    tenant, username, password = stored[serials[0]] or ("", "", "")
    me = httpx.get(f"{served.server.base_url}/user/currentUser", auth=(f"{tenant}/{username}", password))
    assert me.status_code == 200, me.text
    # The MAC device cannot use HTTP Basic (Basic splits at the first ':'); a token from /api/login works.
    tenant, username, password = stored[MAC] or ("", "", "")
    basic = httpx.get(f"{served.server.base_url}/user/currentUser", auth=(f"{tenant}/{username}", password))
    assert basic.status_code == 401
    login = httpx.post(
        f"{served.server.base_url}/api/login", json={"username": f"{tenant}/{username}", "password": password}
    )
    assert login.status_code == 200, login.text
    bearer = {"Authorization": f"Bearer {login.json()['token']}"}
    me = httpx.get(f"{served.server.base_url}/user/currentUser", headers=bearer)
    assert (me.status_code, me.json()["userName"]) == (200, username)
    # Polling again gets nothing: delivered exactly once.
    again = _bootstrapping(served.mqtt_port, serials[0])
    try:
        again.publish("s/ucr", b"", 0)
        with pytest.raises(queue.Empty):
            again.next_message(2.0)
    finally:
        again.close()


def test_a_paho_device_polls_with_the_rest_state_machine(served: Served) -> None:
    served.register("paho-1")
    device = _bootstrapping(served.mqtt_port, "paho-1")
    try:
        device.publish("s/ucr", b"", 0)
        served.wait_for_status("paho-1", "PENDING_ACCEPTANCE")
        with pytest.raises(queue.Empty):
            device.next_message(0.5)  # not accepted yet: nothing
        served.accept("paho-1")
        time.sleep(1.1)  # past the listener's minimum poll interval (a poll sooner is dropped)
        device.publish("s/ucr", b"", 0)
        message = device.next_message(10)
        assert message.topic == "s/dcr"
        code, tenant, username, password = message.payload.decode().split(",")
        assert (code, tenant, username) == ("70", "t1", "device_paho-1")
        # The REST poll now finds nothing either: the same request, taken once.
        rest = httpx.post(
            f"{served.server.base_url}/devicecontrol/deviceCredentials",
            json={"id": "paho-1"},
            auth=(BOOTSTRAP_USER, BOOTSTRAP_PASSWORD),
        )
        assert rest.status_code == 404
        me = httpx.get(f"{served.server.base_url}/user/currentUser", auth=(f"t1/{username}", password))
        assert me.status_code == 200
    finally:
        device.close()


def test_a_blocked_request_is_never_answered(served: Served) -> None:
    served.register("blocked-1")
    device = _bootstrapping(served.mqtt_port, "blocked-1")
    try:
        device.publish("s/ucr", b"", 0)
        served.wait_for_status("blocked-1", "PENDING_ACCEPTANCE")
        assert served.http.put(f"{REQUESTS}/blocked-1", json={"status": "BLOCKED"}).status_code == 200
        time.sleep(1.1)  # past the listener's minimum poll interval
        device.publish("s/ucr", b"", 0)
        with pytest.raises(queue.Empty):
            device.next_message(1.5)
        assert served.status("blocked-1") == "BLOCKED"
    finally:
        device.close()


def test_only_the_bootstrap_user_gets_in(served: Served) -> None:
    wrong = Device(served.mqtt_port, BOOTSTRAP_USER, "not-the-password", "x-1", protocol=4)
    admin = Device(served.mqtt_port, ADMIN[0], ADMIN[1], "x-2", protocol=4)
    try:
        assert wrong.connect() == 134  # CONNACK 4 (paho names it by its MQTT 5 code)
        assert admin.connect() == 134  # right password, but not a bootstrap user
    finally:
        wrong.close()
        admin.close()


async def test_fifty_devices_bootstrap_at_once_each_with_its_own_credentials(served: Served) -> None:
    ids = [f"crowd-{n}" for n in range(50)]
    for device_id in ids:
        served.register(device_id)
    devices = await asyncio.gather(*(asyncio.to_thread(_bootstrapping, served.mqtt_port, i) for i in ids))
    try:
        for device in devices:
            await asyncio.to_thread(device.publish, "s/ucr", b"", 0)
        for device_id in ids:
            await asyncio.to_thread(served.wait_for_status, device_id, "PENDING_ACCEPTANCE")
        for device_id in ids:
            await asyncio.to_thread(served.accept, device_id)
        await asyncio.sleep(1.1)
        for device in devices:
            await asyncio.to_thread(device.publish, "s/ucr", b"", 0)
        answers = [await asyncio.to_thread(device.next_message, 15) for device in devices]
    finally:
        for device in devices:
            device.close()
    usernames = [answer.payload.decode().split(",")[2] for answer in answers]
    assert usernames == [f"device_{device_id}" for device_id in ids]
    assert len({answer.payload for answer in answers}) == 50
