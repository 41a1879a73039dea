"""The client registry's whole flow with real cryptography, on SQLite and PostgreSQL: a device key and a
CSR with CN = username, register (423 locked, 202 pending once open), the operator's list with the
pairing code, confirm, the poll that collects the certificate (201), the certificate chains to the
device CA, and the user exists with the granted roles; password requests log in with /api/login."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from admittance.bootstrap import Services
from tests.support import secrets
from tests.support.connectware import api, assert_error, create_role, permission
from tests.support.registry import (
    DEVICE_PASSWORD,
    certificate_of,
    confirm,
    csr_b64,
    csr_pem,
    device_key,
    entries,
    entry,
    expected_code,
    key_sha256,
    opened,
    register,
)

ENTRY_KEYS = {
    "id",
    "timestamp",
    "username",
    "credentialType",
    "roles",
    "context",
    "permissions",
    "granted",
    "pairingCode",
    "tenant",
    "lastSeen",
}


async def test_csr_flow_from_locked_to_certificate(client: httpx.AsyncClient, services: Services) -> None:
    key = device_key()
    csr = csr_b64(key, "iot.device.0123456")
    role = await create_role(client, "sensors", [permission("sensors/#", "write", "mqtt")])
    wishes = [permission("/api/session", "read")]

    locked = await register(client, "iot.device.0123456", csr=csr, roles=[role["id"]], permissions=wishes)
    assert_error(locked, 423, "locked")
    assert await entries(client) == []

    await opened(client)
    pending = await register(client, "iot.device.0123456", csr=csr, roles=[role["id"]], permissions=wishes)
    assert pending.status_code == 202, pending.text
    assert pending.json() == {"status": "pending", "pairingCode": expected_code("iot.device.0123456", key)}

    listed = await entry(client, "iot.device.0123456")
    assert set(listed) == ENTRY_KEYS
    assert listed["credentialType"] == "certificate"
    assert listed["granted"] is False
    assert listed["pairingCode"] == pending.json()["pairingCode"]
    assert listed["roles"] == [role["id"]]
    assert listed["permissions"] == [{"resource": "/api/session", "operation": "read", "context": "http"}]
    assert listed["context"] == "IoT Device Serial Number <0123456>"
    assert listed["tenant"] == "t1"
    assert listed["timestamp"].endswith("Z")

    # Polling before the grant: still pending, the same code, no new entry.
    again = await register(client, "iot.device.0123456", csr=csr, roles=[role["id"]], permissions=wishes)
    assert again.status_code == 202
    assert again.json() == pending.json()
    assert len(await entries(client)) == 1

    granted = await confirm(client, "iot.device.0123456", mqttPublishPrefix="devices/0123456/")
    assert granted.status_code == 200, granted.text
    user = granted.json()
    assert user["username"] == "iot.device.0123456"
    assert user["grantTypes"] == [{"method": "certificate", "isRequired": False}]
    assert user["mqttPublishPrefix"] == "devices/0123456/"
    assert role["id"] in [item["id"] for item in user["roles"]]
    assert len(user["certificates"]) == 1

    collected = await register(client, "iot.device.0123456", csr=csr, roles=[role["id"]], permissions=wishes)
    certificate = certificate_of(collected)
    assert certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "iot.device.0123456"
    spki = certificate.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert spki == key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    usage = certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert ExtendedKeyUsageOID.CLIENT_AUTH in usage
    ca = (await services.certificates.ca_certificates())[0]
    certificate.verify_directly_issued_by(ca)
    assert certificate.not_valid_after_utc > datetime.now(UTC)
    assert user["certificates"][0]["fingerprint"] == certificate.fingerprint(hashes.SHA256()).hex()

    # The user exists with the granted roles and the requested (default) permissions.
    stored = await api(client, "GET", f"/api/users/{user['id']}")
    assert stored.status_code == 200
    permissions = {
        (grant["resource"], grant["operation"], grant["context"])
        for item in stored.json()["roles"]
        for grant in item["permissions"]
    }
    assert ("/api/session", "read", "http") in permissions
    assert ("sensors/#", "write", "mqtt") in permissions
    assert (await entry(client, "iot.device.0123456"))["granted"] is True

    # The issued certificate is one the PKI knows, owned by the user.
    issued = await services.certificates.find_by_sha256(certificate.fingerprint(hashes.SHA256()).hex())
    assert issued is not None
    assert (issued.owner, issued.issued_via, issued.tenant_id) == ("iot.device.0123456", "registry", "t1")

    # The grant is final: the certificate is collected again after the window closed.
    closed = await api(client, "POST", "/api/client-registry/close")
    assert closed.status_code == 204
    after = await register(client, "iot.device.0123456", csr=csr, roles=[role["id"]], permissions=wishes)
    assert certificate_of(after).serial_number == certificate.serial_number
    # A second confirm is a conflict.
    assert_error(await confirm(client, "iot.device.0123456"), 409)


async def test_plain_pem_csr_and_confirm_overrides(client: httpx.AsyncClient) -> None:
    key = device_key()
    await opened(client)
    pending = await register(client, "plain.pem", csr=csr_pem(key, "plain.pem"), roles=["minimum-access"])
    assert pending.status_code == 202, pending.text
    # The operator grants other roles and permissions than those asked for, and both grant types fail
    # without a password: a certificate request has none.
    refused = await confirm(
        client, "plain.pem", grantTypes=[{"method": "password", "isRequired": False}], roles=[], initialPermissions=[]
    )
    assert_error(refused, 422, "password")
    user = (await confirm(client, "plain.pem", roles=[], initialPermissions=[])).json()
    assert [item["id"] for item in user["roles"]] == []
    certificate = certificate_of(await register(client, "plain.pem", csr=csr_pem(key, "plain.pem")))
    assert certificate.subject.rfc4514_string() == "CN=plain.pem"


async def test_password_flow_then_login(client: httpx.AsyncClient) -> None:
    await opened(client)
    pending = await register(client, "sensor.17", password=DEVICE_PASSWORD, roles=["minimum-access"])
    assert pending.status_code == 202, pending.text
    code = pending.json()["pairingCode"]
    assert len(code) == 6
    assert all(char in "0123456789abcdef" for char in code)
    listed = await entry(client, "sensor.17")
    assert (listed["credentialType"], listed["pairingCode"], listed["granted"]) == ("password", code, False)
    polled = await register(client, "sensor.17", password=DEVICE_PASSWORD, roles=["minimum-access"])
    assert polled.json() == {"status": "pending", "pairingCode": code}

    # Not granted yet: the password does not open anything.
    early = await client.post("/api/login", json={"username": "sensor.17", "password": DEVICE_PASSWORD})
    assert early.status_code == 401

    user = (await confirm(client, "sensor.17")).json()
    assert user["grantTypes"] == [{"method": "password", "isRequired": False}]
    assert [item["id"] for item in user["roles"]] == ["minimum-access"]
    assert user["certificates"] == []

    collected = await register(client, "sensor.17", password=DEVICE_PASSWORD, roles=["minimum-access"])
    assert collected.status_code == 201
    assert collected.json() == {}

    login = await client.post("/api/login", json={"username": "sensor.17", "password": DEVICE_PASSWORD})
    assert login.status_code == 200, login.text
    token = login.json()["token"]
    secrets.register(token)
    session = await client.get("/api/session", headers={"Authorization": f"Bearer {token}"})
    assert session.status_code == 200


async def test_password_and_csr_together(client: httpx.AsyncClient) -> None:
    """The seed's example sends both: the certificate is issued and the password kept; a poll must
    present both."""
    key = device_key()
    csr = csr_b64(key, "both.kinds")
    await opened(client)
    pending = await register(client, "both.kinds", password=DEVICE_PASSWORD, csr=csr)
    assert pending.status_code == 202
    assert pending.json()["pairingCode"] == expected_code("both.kinds", key)
    user = (await confirm(client, "both.kinds")).json()
    assert {grant["method"] for grant in user["grantTypes"]} == {"password", "certificate"}
    certificate_of(await register(client, "both.kinds", password=DEVICE_PASSWORD, csr=csr))
    login = await client.post("/api/login", json={"username": "both.kinds", "password": DEVICE_PASSWORD})
    assert login.status_code == 200
    secrets.register(login.json()["token"])


async def test_reject_and_remove(client: httpx.AsyncClient) -> None:
    key = device_key()
    await opened(client)
    assert (await register(client, "to.reject", csr=csr_b64(key, "to.reject"))).status_code == 202
    removed = await api(client, "DELETE", "/api/client-registry/to.reject")
    assert removed.status_code == 204
    assert await entries(client) == []
    assert_error(await api(client, "DELETE", "/api/client-registry/to.reject"), 404)
    assert_error(await confirm(client, "to.reject"), 404)
    # A rejected device may ask again while the window is open.
    assert (await register(client, "to.reject", csr=csr_b64(key, "to.reject"))).status_code == 202


async def test_deleted_user_voids_the_grant(client: httpx.AsyncClient) -> None:
    key = device_key()
    await opened(client)
    await register(client, "short.lived", csr=csr_b64(key, "short.lived"))
    user = (await confirm(client, "short.lived")).json()
    assert (await api(client, "DELETE", f"/api/users/{user['id']}")).status_code == 204
    # The old grant does not hand out the certificate of a deleted user: the request starts again.
    again = await register(client, "short.lived", csr=csr_b64(key, "short.lived"))
    assert again.status_code == 202
    assert (await entry(client, "short.lived"))["granted"] is False


async def test_audit_trail(client: httpx.AsyncClient, services: Services) -> None:
    key = device_key()
    await opened(client)
    await register(client, "audited.one", csr=csr_b64(key, "audited.one"))
    await confirm(client, "audited.one")
    await api(client, "POST", "/api/client-registry/close")
    async with services.storage.read() as tx:
        window = await tx.audit.list_for_subject("t1", "client-registry")
        device = await tx.audit.list_for_subject("t1", "audited.one")
    assert {event.tag.value for event in window} >= {
        "identity:client-registry:open",
        "identity:client-registry:close",
    }
    tags = {event.tag.value for event in device}
    assert {"identity:client-registration:request", "identity:client-registration:grant"} <= tags
    for event in device:
        assert DEVICE_PASSWORD not in str(event.detail)


@pytest.mark.parametrize("encoding", ["base64", "pem"])
async def test_csr_encodings(client: httpx.AsyncClient, encoding: str) -> None:
    key = device_key()
    pem = csr_pem(key, "enc.device")
    csr = pem if encoding == "pem" else base64.b64encode(pem.encode()).decode()
    await opened(client)
    response = await register(client, "enc.device", csr=csr)
    assert response.status_code == 202, response.text
    assert (await entry(client, "enc.device"))["pairingCode"] == expected_code("enc.device", key)
    assert len(key_sha256(key)) == 64


async def test_confirm_without_roles_grants_the_roles_the_device_named(client: httpx.AsyncClient) -> None:
    """Register names roles (Connectware: "Name of roles the user wants"); confirm grants role ids.
    Confirmed without `roles`, the names map to the tenant's roles; a name that matches none is a 422."""
    role = await create_role(client, "sensors.basic", [permission("sensors/#", "write", "mqtt")])
    await opened(client)
    asked = await register(
        client, "named.roles", csr=csr_b64(device_key(), "named.roles"), roles=["sensors.basic", "minimum-access"]
    )
    assert asked.status_code == 202, asked.text
    user = (await confirm(client, "named.roles", initialPermissions=[])).json()
    assert sorted(item["id"] for item in user["roles"]) == sorted([role["id"], "minimum-access"])
    await register(client, "no.such.role", csr=csr_b64(device_key(), "no.such.role"), roles=["missing.role"])
    assert_error(await confirm(client, "no.such.role"), 422, "missing.role")
