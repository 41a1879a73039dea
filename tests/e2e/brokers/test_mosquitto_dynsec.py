"""Mosquitto 2.0.11's dynamic-security plugin, for real: password entries Admittance computes, the
whole file written offline, and the admin commands with the kicks they cause."""

from __future__ import annotations

import asyncio
import base64
import json
import queue
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from admittance.integrations.mosquitto import commands, dynsec_file
from admittance.integrations.mosquitto.admin_client import DynsecAdmin, DynsecError
from admittance.integrations.mosquitto.commands import Command
from admittance.integrations.mosquitto.model import Client
from admittance.integrations.mosquitto.passwords import PasswordEntry, hash_password, verify_password
from tests.support.brokers import MosquittoBroker
from tests.support.dynsec import ADMIN_PASSWORD, ADMIN_USERNAME, device_role, state_with
from tests.support.mqtt_clients import Device, connect_code

pytestmark = pytest.mark.e2e

ACCEPTED = 0
NOT_AUTHORIZED = 135  # MQTT 5 CONNACK / PUBACK / SUBACK
ADMINISTRATIVE_ACTION = 152  # MQTT 5 DISCONNECT 0x98, what a kick sends
NO_SUBSCRIBERS = 16  # PUBACK "no matching subscribers": accepted
KICK_SECONDS = 1.0


def test_a_password_entry_is_what_mosquitto_ctrl_writes(tmp_path: Path) -> None:
    path = tmp_path / "dynsec.json"
    subprocess.run(
        ["mosquitto_ctrl", "dynsec", "init", str(path), "admin", "Ctrl-Written-9"], check=True, capture_output=True
    )
    written = json.loads(path.read_text())["clients"][0]
    entry = PasswordEntry(written["password"], written["salt"], written["iterations"])

    assert entry.iterations == 101
    assert len(base64.b64decode(entry.salt)) == 12
    assert len(base64.b64decode(entry.password)) == 64
    assert verify_password("Ctrl-Written-9", entry)
    assert not verify_password("Ctrl-Written-8", entry)
    assert hash_password("Ctrl-Written-9", base64.b64decode(entry.salt)) == entry


def test_clients_written_offline_log_in_with_their_passwords(mosquitto: MosquittoBroker) -> None:
    device = Client("dev-1", hash_password("device-Secret-1"), roles=("device-dev-1",))
    mac = Client("aa:bb:cc:dd:ee:ff", hash_password("mac-Secret-1"), roles=("device-aa:bb:cc:dd:ee:ff",))
    disabled = Client("dev-off", hash_password("off-Secret-1"), disabled=True)
    dynsec_file.write(
        mosquitto.dynsec_path,
        state_with((device, mac, disabled), (device_role("dev-1"), device_role("aa:bb:cc:dd:ee:ff"))),
    )
    mosquitto.start()

    assert connect_code(mosquitto.port, "dev-1", "device-Secret-1", "dev-1") == ACCEPTED
    assert connect_code(mosquitto.port, "dev-1", "device-Secret-1", "dev-1", protocol=4) == ACCEPTED
    assert connect_code(mosquitto.port, "aa:bb:cc:dd:ee:ff", "mac-Secret-1", "aa:bb:cc:dd:ee:ff") == ACCEPTED
    assert connect_code(mosquitto.port, "dev-1", "device-Secret-2", "dev-1") == NOT_AUTHORIZED
    # paho reports the 3.1.1 CONNACK code 5 as the MQTT 5 reason code 135
    assert connect_code(mosquitto.port, "dev-1", "device-Secret-2", "dev-1", protocol=4) == NOT_AUTHORIZED
    assert connect_code(mosquitto.port, "dev-off", "off-Secret-1") == NOT_AUTHORIZED
    assert connect_code(mosquitto.port, "nobody", "device-Secret-1") == NOT_AUTHORIZED


def test_one_role_per_device_keeps_each_device_to_its_own_topics(mosquitto: MosquittoBroker) -> None:
    clients = tuple(Client(name, hash_password(f"{name}-Secret"), roles=(f"device-{name}",)) for name in ("d1", "d2"))
    dynsec_file.write(mosquitto.dynsec_path, state_with(clients, (device_role("d1"), device_role("d2"))))
    mosquitto.start()
    d1 = Device(mosquitto.port, "d1", "d1-Secret", "d1")
    d2 = Device(mosquitto.port, "d2", "d2-Secret", "d2")
    try:
        assert d1.connect() == ACCEPTED
        assert d2.connect() == ACCEPTED
        assert d2.subscribe("devices/d2/cmd/#") == 1
        assert d2.subscribe("devices/d1/cmd/#") == NOT_AUTHORIZED
        assert d2.subscribe("#") == NOT_AUTHORIZED

        assert d1.publish("devices/d1/telemetry", b"21.5") in (ACCEPTED, NO_SUBSCRIBERS)
        assert d1.publish("devices/d2/cmd/reboot", b"x") == NOT_AUTHORIZED
        assert d1.publish("elsewhere", b"x") == NOT_AUTHORIZED
        assert d1.publish("devices/d1/cmd/echo", b"self") in (ACCEPTED, NO_SUBSCRIBERS)
        with pytest.raises(queue.Empty):
            d2.next_message(timeout=0.5)  # nothing of d1's reached d2
    finally:
        d1.close()
        d2.close()


async def test_a_client_created_through_the_api_logs_in_at_once(
    dynsec: DynsecAdmin, mosquitto: MosquittoBroker
) -> None:
    role = device_role("dev-api")
    answers = await dynsec.execute(
        [
            commands.create_role(role),
            commands.create_client("dev-api", "api-Secret-1", roles=[role.rolename]),
        ]
    )
    assert [answer.error for answer in answers] == [None, None]

    assert await asyncio.to_thread(connect_code, mosquitto.port, "dev-api", "api-Secret-1", "dev-api") == ACCEPTED
    assert await asyncio.to_thread(connect_code, mosquitto.port, "dev-api", "wrong-Secret", "dev-api") == NOT_AUTHORIZED
    listed = await dynsec.run(commands.get_client("dev-api"))
    assert listed.data is not None
    assert listed.data["client"]["roles"] == [{"rolename": "device-dev-api"}]
    assert "api-Secret-1" not in mosquitto.log()


async def test_the_plugin_refusals_come_back_as_errors(dynsec: DynsecAdmin) -> None:
    await dynsec.run(commands.create_client("dup", "dup-Secret-1"))
    with pytest.raises(DynsecError, match="Client already exists"):
        await dynsec.run(commands.create_client("dup", "dup-Secret-2"))
    with pytest.raises(DynsecError, match="Unknown command"):
        await dynsec.run({"command": "frobnicate"})
    with pytest.raises(DynsecError):
        await dynsec.run(commands.disable_client("never-created"))


async def _live(port: int, username: str, password: str) -> Device:
    device = Device(port, username, password, username)
    assert await asyncio.to_thread(device.connect) == ACCEPTED
    return device


async def _kicked_within(device: Device, started: float) -> float:
    codes = await asyncio.to_thread(device.disconnected.wait, KICK_SECONDS * 5)
    assert codes == [ADMINISTRATIVE_ACTION]
    return device.disconnected.at - started


KICKING_CHANGES: dict[str, Callable[[str], Command]] = {
    "disableClient": commands.disable_client,
    "deleteClient": commands.delete_client,
    "setClientPassword": lambda name: commands.set_client_password(name, "rotated-Secret-2"),
}


@pytest.mark.parametrize("change", KICKING_CHANGES)
async def test_a_change_kicks_the_live_session_within_a_second(
    dynsec: DynsecAdmin, mosquitto: MosquittoBroker, change: str
) -> None:
    await dynsec.run(commands.create_client("dev-k", "kick-Secret-1"))
    device = await _live(mosquitto.port, "dev-k", "kick-Secret-1")
    try:
        started = time.monotonic()
        await dynsec.run(KICKING_CHANGES[change]("dev-k"))
        assert await _kicked_within(device, started) < KICK_SECONDS
    finally:
        device.close()
    assert await asyncio.to_thread(connect_code, mosquitto.port, "dev-k", "kick-Secret-1", "dev-k") == NOT_AUTHORIZED


async def test_enable_and_a_rotated_password_let_the_device_back_in(
    dynsec: DynsecAdmin, mosquitto: MosquittoBroker
) -> None:
    await dynsec.run(commands.create_client("dev-r", "first-Secret-1"))
    await dynsec.run(commands.disable_client("dev-r"))
    assert await asyncio.to_thread(connect_code, mosquitto.port, "dev-r", "first-Secret-1") == NOT_AUTHORIZED
    await dynsec.run(commands.enable_client("dev-r"))
    await dynsec.run(commands.set_client_password("dev-r", "second-Secret-2"))
    assert await asyncio.to_thread(connect_code, mosquitto.port, "dev-r", "first-Secret-1") == NOT_AUTHORIZED
    assert await asyncio.to_thread(connect_code, mosquitto.port, "dev-r", "second-Secret-2") == ACCEPTED


async def test_an_acl_change_on_a_device_role_kicks_its_member(dynsec: DynsecAdmin, mosquitto: MosquittoBroker) -> None:
    role = device_role("dev-acl")
    await dynsec.run(commands.create_role(role))
    await dynsec.run(commands.create_client("dev-acl", "acl-Secret-1"))
    # createClient{roles} does not put a runtime-created client on the role's member list; addClientRole does.
    await dynsec.run(commands.add_client_role("dev-acl", role.rolename))
    device = await _live(mosquitto.port, "dev-acl", "acl-Secret-1")
    try:
        assert await asyncio.to_thread(device.publish, "devices/dev-acl/t", b"1") in (ACCEPTED, NO_SUBSCRIBERS)
        started = time.monotonic()
        await dynsec.run(commands.remove_role_acl(role.rolename, role.acls[0]))
        assert await _kicked_within(device, started) < KICK_SECONDS
    finally:
        device.close()
    device = await _live(mosquitto.port, "dev-acl", "acl-Secret-1")
    try:
        assert await asyncio.to_thread(device.publish, "devices/dev-acl/t", b"1") == NOT_AUTHORIZED
    finally:
        device.close()


async def test_what_the_api_changed_survives_a_broker_restart(mosquitto: MosquittoBroker) -> None:
    dynsec_file.write(mosquitto.dynsec_path, state_with())
    mosquitto.start()
    async with DynsecAdmin("127.0.0.1", mosquitto.port, ADMIN_USERNAME, ADMIN_PASSWORD) as admin:
        await admin.run(commands.create_client("dev-kept", "kept-Secret-1"))
    mosquitto.restart()
    assert await asyncio.to_thread(connect_code, mosquitto.port, "dev-kept", "kept-Secret-1") == ACCEPTED
    stored = json.loads(mosquitto.dynsec_path.read_text())
    assert {client["username"] for client in stored["clients"]} == {"admittance-admin", "dev-kept"}
