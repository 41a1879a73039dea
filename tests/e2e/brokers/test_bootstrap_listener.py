"""The MQTT bootstrap listener with real clients: the c8ydm package's own bootstrap client (in its own
process) and paho-mqtt. Every device shares the bootstrap user and the topic names, yet each gets
only its own credentials."""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import queue
import socket
import ssl
import subprocess
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from admittance.mqtt import packets
from admittance.mqtt.answers import DeviceCredentials
from admittance.mqtt.listener import BootstrapListener
from admittance.mqtt.session import SessionLimits
from tests.support import c8ydm_bootstrap
from tests.support.bootstrap_registry import BOOTSTRAP_PASSWORD, BOOTSTRAP_USERNAME, Registrations
from tests.support.mqtt_clients import Device

pytestmark = pytest.mark.e2e

MAC = "aa:bb:cc:dd:ee:ff"


@pytest.fixture
def registrations() -> Registrations:
    return Registrations()


@pytest.fixture
async def listener(registrations: Registrations) -> AsyncIterator[BootstrapListener]:
    server = BootstrapListener(
        registrations.poll, registrations.admit, limits=SessionLimits(connect_timeout=1.0, min_poll_interval=0.2)
    )
    await server.start()
    try:
        yield server
    finally:
        await server.close()


def credentials(name: str) -> DeviceCredentials:
    return DeviceCredentials("t100", f"device_{name}", f"Pw{name.replace(':', '')}0123456789")


async def _bootstrapping(port: int, client_id: str, *, qos: int = 0) -> Device:
    device = Device(port, BOOTSTRAP_USERNAME, BOOTSTRAP_PASSWORD, client_id, protocol=4)
    assert await asyncio.to_thread(device.connect) == 0
    assert await asyncio.to_thread(device.subscribe, "s/dcr", qos) == qos
    return device


async def test_two_c8ydm_agents_bootstrapping_at_once_each_get_only_their_own_credentials(
    listener: BootstrapListener, registrations: Registrations, tmp_path: Path
) -> None:
    agents: dict[str, tuple[Path, subprocess.Popen[bytes]]] = {}
    for serial in ("c8ydm-serial-1", MAC):
        folder = tmp_path / serial.replace(":", "-")
        c8ydm_bootstrap.write_agent_ini(folder, listener.port, "management", "devicebootstrap", BOOTSTRAP_PASSWORD)
        agents[serial] = (folder, c8ydm_bootstrap.start(folder, serial))
    try:
        for serial in agents:
            await registrations.wait_for_polls(serial)  # the first poll: not accepted yet
        for serial in agents:
            registrations.accept(serial, credentials(serial))
        for folder, process in agents.values():
            assert await asyncio.to_thread(process.wait, 40) == 0, (folder / "bootstrap.log").read_text()
    finally:
        for _, process in agents.values():
            if process.poll() is None:
                process.kill()
                process.wait()
    for serial, (folder, _) in agents.items():
        expected = credentials(serial)
        assert c8ydm_bootstrap.stored_credentials(folder) == (expected.tenant, expected.username, expected.password)
        assert registrations.polls_of(serial) >= 2  # it polled again (every 5 s) until accepted
    assert sorted(registrations.handed_out) == sorted(agents)
    assert {call.username for call in registrations.polls} == {BOOTSTRAP_USERNAME}


async def test_two_paho_devices_each_receive_only_their_own_answer(
    listener: BootstrapListener, registrations: Registrations
) -> None:
    first = await _bootstrapping(listener.port, "dev-1")
    second = await _bootstrapping(listener.port, MAC, qos=1)
    try:
        registrations.accept("dev-1", credentials("dev-1"))
        registrations.accept(MAC, credentials(MAC))
        for device in (first, second):
            await asyncio.to_thread(device.publish, "s/ucr", b"", 0)
        one = await asyncio.to_thread(first.next_message)
        two = await asyncio.to_thread(second.next_message)
        assert (one.topic, one.payload) == ("s/dcr", credentials("dev-1").payload())
        assert (two.topic, two.payload, two.qos) == ("s/dcr", credentials(MAC).payload(), 1)
        for device in (first, second):  # polling on gets nothing more: exactly once
            await asyncio.to_thread(device.publish, "s/ucr", b"", 1)
            with pytest.raises(queue.Empty):
                await asyncio.to_thread(device.next_message, 0.5)
    finally:
        first.close()
        second.close()
    assert sorted(registrations.handed_out) == sorted(["dev-1", MAC])  # once each, in either order
    assert {call.client_id for call in registrations.polls} == {"dev-1", MAC}


async def test_a_wrong_bootstrap_user_is_refused_at_connect(listener: BootstrapListener) -> None:
    device = Device(listener.port, BOOTSTRAP_USERNAME, "not-the-password", "dev-x", protocol=4)
    try:
        assert await asyncio.to_thread(device.connect) == 134  # paho's name for 3.1.1 code 4
    finally:
        device.close()


async def test_other_topics_cannot_be_subscribed(listener: BootstrapListener) -> None:
    device = await _bootstrapping(listener.port, "dev-s")
    try:
        assert await asyncio.to_thread(device.subscribe, "s/ds", 0) == 128
        assert await asyncio.to_thread(device.subscribe, "#", 0) == 128
    finally:
        device.close()


async def test_a_newer_connection_with_the_same_client_id_takes_over(
    listener: BootstrapListener, registrations: Registrations
) -> None:
    older = await _bootstrapping(listener.port, "dev-twice")
    newer = await _bootstrapping(listener.port, "dev-twice")
    try:
        assert await asyncio.to_thread(older.disconnected.wait) is not None
        registrations.accept("dev-twice", credentials("dev-twice"))
        await asyncio.to_thread(newer.publish, "s/ucr", b"", 0)
        message = await asyncio.to_thread(newer.next_message)
        assert message.payload == credentials("dev-twice").payload()
    finally:
        older.close()
        newer.close()


def _raw(port: int, data: bytes, timeout: float = 5.0) -> bytes:
    """Writes `data` at once and reads until the server closes the connection or goes quiet."""
    received = b""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(data)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                chunk = sock.recv(4096)
            except TimeoutError:
                break
            if not chunk:
                break
            received += chunk
            sock.settimeout(0.5)
    return received


async def test_a_poll_sent_before_the_subscription_is_answered_once_subscribed(
    listener: BootstrapListener, registrations: Registrations
) -> None:
    registrations.accept("dev-early", credentials("dev-early"))
    pipelined = (
        packets.connect("dev-early", BOOTSTRAP_USERNAME, BOOTSTRAP_PASSWORD)
        + packets.publish("s/ucr", b"")
        + packets.subscribe(1, "s/dcr")
    )
    received = await asyncio.to_thread(_raw, listener.port, pipelined, 2.0)
    assert received == (
        packets.connack(packets.ACCEPTED)
        + packets.suback(1, [0])
        + packets.publish("s/dcr", credentials("dev-early").payload())
    )


@pytest.mark.parametrize(
    ("data", "answer"),
    [
        (packets.connect("", BOOTSTRAP_USERNAME, BOOTSTRAP_PASSWORD), packets.connack(packets.IDENTIFIER_REJECTED)),
        (packets.connect("dev-n", None, None), packets.connack(packets.BAD_USERNAME_OR_PASSWORD)),
        (
            bytes.fromhex("10 14 0004") + b"MQTT" + bytes.fromhex("05 c2 003c 00 0001 61 0001 62 0001 63"),
            packets.connack(packets.UNACCEPTABLE_PROTOCOL_VERSION),
        ),
        (b"GET / HTTP/1.1\r\n\r\n", b""),
        (packets.publish("s/ucr", b""), b""),  # anything before CONNECT
        (b"", b""),  # nothing at all: closed after the connect timeout
    ],
    ids=["empty-client-id", "no-credentials", "mqtt-5", "http", "publish-first", "silent"],
)
async def test_what_is_not_a_bootstrap_connect_is_answered_and_closed(
    listener: BootstrapListener, registrations: Registrations, data: bytes, answer: bytes
) -> None:
    assert await asyncio.to_thread(_raw, listener.port, data, 3.0) == answer
    assert registrations.polls == []


def _self_signed(folder: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "server.pem", folder / "server.key"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


async def test_the_listener_speaks_tls(registrations: Registrations, tmp_path: Path) -> None:
    cert_path, key_path = _self_signed(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_path, key_path)
    server = await BootstrapListener(registrations.poll, registrations.admit, ssl_context=context).start()
    device = Device(server.port, BOOTSTRAP_USERNAME, BOOTSTRAP_PASSWORD, "dev-tls", protocol=4)
    device.client.tls_set(ca_certs=str(cert_path))
    try:
        assert await asyncio.to_thread(device.connect) == 0
        assert await asyncio.to_thread(device.subscribe, "s/dcr", 0) == 0
        registrations.accept("dev-tls", credentials("dev-tls"))
        await asyncio.to_thread(device.publish, "s/ucr", b"", 0)
        message = await asyncio.to_thread(device.next_message)
        assert message.payload == credentials("dev-tls").payload()
    finally:
        device.close()
        await server.close()
