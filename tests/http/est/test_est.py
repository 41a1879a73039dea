"""EST (RFC 7030) enrollment for Cumulocity certificate rows, over HTTP on SQLite and PostgreSQL, with
CSRs made by openssl and answers parsed and verified by openssl."""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs7

from admittance.bootstrap import Services, first_start
from admittance.devices.model import RegistrationStatus
from admittance.http.app import create_app
from admittance.settings import Settings
from tests.support.bulk import sql, upload
from tests.support.cumulocity import ADMIN
from tests.support.est import CACERTS, ENROLL, REENROLL, basic, certificates_pem, enroll, make_csr, openssl, verify
from tests.support.services import build
from tests.support.settings import with_settings

OTP_1 = "Est-Otp-One-4711"
OTP_2 = "Est-Otp-Two-4712"
OTP_3 = "Est-Otp-Three-4713"
MANIFEST = (
    "ID;AUTH_TYPE;ENROLLMENT_OTP;TYPE;NAME;IDTYPE;com_cumulocity_model_Agent.active\n"
    f"est-1;CERTIFICATES;{OTP_1};c8y_Device;EST 1;c8y_Serial;true\n"
    f"est-2;CERTIFICATES;{OTP_2};c8y_Device;EST 2;c8y_Serial;true\n"
    f"est-3;CERTIFICATES;{OTP_3};c8y_Device;EST 3;c8y_Serial;true\n"
    "est-none;CERTIFICATES;;c8y_Device;EST none;c8y_Serial;true\n"
)
UNIFORM_MESSAGE_START = "No newDeviceRequest found for this ID"


@pytest.fixture
async def imported(client: httpx.AsyncClient) -> httpx.AsyncClient:
    response = await upload(client, MANIFEST)
    assert response.status_code == 201, response.text
    assert response.json()["numberOfFailed"] == 0, response.text
    return client


async def cacerts_pem(client: httpx.AsyncClient, folder: Path) -> Path:
    response = await client.get(CACERTS)
    assert response.status_code == 200, response.text
    return certificates_pem(folder, response.content, "cacerts")


async def test_cacerts_is_a_base64_pkcs7_of_the_ca_chain(client: httpx.AsyncClient, tmp_path: Path) -> None:
    response = await client.get(CACERTS)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/pkcs7-mime")
    assert response.headers["content-transfer-encoding"] == "base64"
    assert all(len(line) <= 76 for line in response.content.splitlines())
    certificates = pkcs7.load_der_pkcs7_certificates(base64.b64decode(response.content))
    assert certificates, "an empty chain"
    assert certificates[0].extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    pem = certificates_pem(tmp_path, response.content, "cacerts")
    assert "BEGIN CERTIFICATE" in pem.read_text()
    root = certificates[-1]
    assert root.issuer == root.subject  # the chain ends at a self-signed root


async def test_enroll_with_the_bulk_otp_issues_a_certificate_for_the_device_user(
    imported: httpx.AsyncClient, services: Services, tmp_path: Path
) -> None:
    client = imported
    csr, key = make_csr(tmp_path, "est-1")
    response = await enroll(client, "est-1", OTP_1, csr)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/pkcs7-mime")
    assert response.headers["content-transfer-encoding"] == "base64"

    leaf_pem = certificates_pem(tmp_path, response.content, "issued")
    assert "OK" in verify(tmp_path, await cacerts_pem(client, tmp_path), leaf_pem)
    [leaf] = pkcs7.load_der_pkcs7_certificates(base64.b64decode(response.content))
    assert leaf.subject.rfc4514_string() == "CN=est-1"
    key_pub = serialization.load_pem_private_key(key.read_bytes(), None).public_key()
    assert leaf.public_key() == key_pub

    issued = await services.certificates.find_by_serial(format(leaf.serial_number, "x"))
    assert issued is not None
    assert (issued.tenant_id, issued.owner, issued.issued_via) == ("t1", "device_est-1", "est")
    [user] = await sql(
        services,
        "SELECT u.kind, u.enabled, u.grant_types, r.role_id FROM users u JOIN user_roles r ON r.user_id = u.id "
        "WHERE u.tenant_id = 't1' AND u.username = 'device_est-1'",
    )
    assert (user["kind"], bool(user["enabled"]), user["role_id"]) == ("device", True, "ROLE_DEVICE")
    assert '"certificate"' in user["grant_types"]
    assert '"password"' not in user["grant_types"]
    assert not await sql(services, "SELECT id FROM registration_requests WHERE id = 'est-1'")
    tags = {row["tag"] for row in await sql(services, "SELECT tag FROM audit_events WHERE subject = 'est-1'")}
    assert "devices:certificate:enroll" in tags

    # The certificate authenticates its owner (the PKI's principal mapping).
    principal = await services.certificates.principal_for_certificate(
        leaf.public_bytes(serialization.Encoding.DER), "127.0.0.1"
    )
    assert (principal.tenant_id, principal.username) == ("t1", "device_est-1")


async def test_the_otp_works_once(imported: httpx.AsyncClient, tmp_path: Path) -> None:
    csr, _ = make_csr(tmp_path, "est-2")
    assert (await enroll(imported, "est-2", OTP_2, csr)).status_code == 200
    again = await enroll(imported, "est-2", OTP_2, csr)
    assert again.status_code == 401
    assert again.json()["message"].startswith(UNIFORM_MESSAGE_START)


async def test_failures_are_uniform_and_delayed(
    imported: httpx.AsyncClient, settings: Settings, tmp_path: Path
) -> None:
    csr, _ = make_csr(tmp_path, "est-3")
    unknown_csr, _ = make_csr(tmp_path, "nobody", name="nobody")
    minimum = settings.auth.failure_delay_seconds
    answers = []
    for device_id, password, body in (
        ("est-3", "Wrong-Otp-0000", csr),
        ("nobody", OTP_3, unknown_csr),
        ("est-none", "Any-Otp-0000", csr),  # a certificate row without a one-time password
    ):
        started = time.monotonic()
        response = await enroll(imported, device_id, password, body)
        assert time.monotonic() - started >= minimum * 0.9
        assert response.status_code == 401, response.text
        assert response.headers["www-authenticate"].startswith("Basic")
        answers.append(response.json())
    assert answers[0] == answers[1] == answers[2]
    assert answers[0]["message"].startswith(UNIFORM_MESSAGE_START)
    # Without any Basic credentials, and with a tenant-style user name: the same answer.
    assert (await imported.post(ENROLL, content=csr, headers={"Content-Type": "application/pkcs10"})).json() == answers[
        0
    ]
    assert (await enroll(imported, "t1/est-3", OTP_3, csr)).json() == answers[0]
    # The password is still usable after the failures (the lockout allows a few).
    assert (await enroll(imported, "est-3", OTP_3, csr)).status_code == 200


async def test_bad_csrs_are_400_and_keep_the_otp(imported: httpx.AsyncClient, tmp_path: Path) -> None:
    headers = {**basic("est-1", OTP_1), "Content-Type": "application/pkcs10"}
    for body in (b"not base64 at all!!", base64.b64encode(b"not a CSR"), b""):
        response = await imported.post(ENROLL, content=body, headers=headers)
        assert response.status_code == 400, response.text
        assert response.json()["message"]
    other, _ = make_csr(tmp_path, "est-2", name="other")
    mismatch = await enroll(imported, "est-1", OTP_1, other)
    assert mismatch.status_code == 400, mismatch.text
    assert "CN" in mismatch.json()["message"]
    wrong_type = await imported.post(ENROLL, content=other, headers={**headers, "Content-Type": "text/plain"})
    assert wrong_type.status_code == 415
    # Raw DER (no base64) is accepted as well; the password still works after the refusals.
    csr, _ = make_csr(tmp_path, "est-1")
    raw = base64.b64decode(csr)
    ok = await imported.post(ENROLL, content=raw, headers=headers)
    assert ok.status_code == 200, ok.text


async def test_concurrent_enrollments_with_one_otp_succeed_exactly_once(
    imported: httpx.AsyncClient, services: Services, tmp_path: Path
) -> None:
    csrs = [make_csr(tmp_path, "est-1", name=f"race-{i}")[0] for i in range(4)]
    responses = await asyncio.gather(*(enroll(imported, "est-1", OTP_1, csr) for csr in csrs))
    assert sorted(r.status_code for r in responses) == [200, 401, 401, 401], [r.text for r in responses]
    rows = await sql(services, "SELECT serial FROM issued_certificates WHERE owner = 'device_est-1'")
    assert len(rows) == 1


async def test_enrollment_token_of_a_single_registration(
    client: httpx.AsyncClient, services: Services, tmp_path: Path
) -> None:
    token = "Single-Enroll-Token-77"
    basic("x", token)  # registers it for the leak check
    created = await client.post(
        "/devicecontrol/newDeviceRequests",
        json={"id": "single-1", "enrollmentToken": token},
        headers={**ADMIN, "Accept": "application/json"},
    )
    assert created.status_code == 201, created.text
    assert created.json()["status"] == "WAITING_FOR_CONNECTION"
    csr, _ = make_csr(tmp_path, "single-1")
    response = await enroll(client, "single-1", token, csr)
    assert response.status_code == 200, response.text
    [leaf] = pkcs7.load_der_pkcs7_certificates(base64.b64decode(response.content))
    issued = await services.certificates.find_by_serial(format(leaf.serial_number, "x"))
    assert issued is not None
    assert issued.owner == "device_single-1"
    assert (await client.get("/devicecontrol/newDeviceRequests/single-1", headers=ADMIN)).status_code == 404

    # A BLOCKED request does not enroll, whatever it carries.
    await client.post(
        "/devicecontrol/newDeviceRequests", json={"id": "single-2", "enrollmentToken": token}, headers=ADMIN
    )
    async with services.storage.transaction() as tx:
        request = await tx.registrations.get("single-2")
        assert request is not None
        await tx.registrations.update_state(
            "single-2",
            expected=request.status,
            status=RegistrationStatus.BLOCKED,
            security_token_digest=None,
            token_failures=0,
            updated_at=request.updated_at,
        )
    blocked_csr, _ = make_csr(tmp_path, "single-2", name="blocked")
    assert (await enroll(client, "single-2", token, blocked_csr)).status_code == 401


async def test_a_person_named_like_the_device_user_is_never_taken_over(
    imported: httpx.AsyncClient, services: Services, tmp_path: Path
) -> None:
    # The directory refuses such names for people; an older database may still have one.
    async with services.database.transaction() as db:
        await db.execute(
            "INSERT INTO users (tenant_id, username, password_hash, kind, enabled, created_at, password_changed_at) "
            "VALUES ('t1', 'device_est-2', 'x', 'human', :yes, 0, 0)",
            {"yes": True},
        )
    csr, _ = make_csr(tmp_path, "est-2")
    response = await enroll(imported, "est-2", OTP_2, csr)
    assert response.status_code == 409, response.text
    assert await sql(services, "SELECT id FROM registration_requests WHERE id = 'est-2'")  # rolled back
    assert not await sql(services, "SELECT serial FROM issued_certificates WHERE owner = 'device_est-2'")


@pytest.fixture
async def proxied(settings: Settings) -> AsyncIterator[tuple[httpx.AsyncClient, Services]]:
    """A client behind a trusted proxy that forwards the verified client certificate (x-client-cert)."""
    changed = with_settings(settings, trusted_proxies="127.0.0.1/32")
    built = await build(changed)
    try:
        await first_start(built)
        app = create_app(changed, built)
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False, client=("127.0.0.1", 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield http, built
    finally:
        await built.close()


async def test_reenroll_with_the_current_certificate(
    proxied: tuple[httpx.AsyncClient, Services], tmp_path: Path
) -> None:
    client, services = proxied
    assert (await upload(client, MANIFEST)).status_code == 201
    csr, key = make_csr(tmp_path, "est-1")
    first = await enroll(client, "est-1", OTP_1, csr)
    assert first.status_code == 200, first.text
    [current] = pkcs7.load_der_pkcs7_certificates(base64.b64decode(first.content))
    forwarded = base64.b64encode(current.public_bytes(serialization.Encoding.DER)).decode()

    renewal_csr, new_key = make_csr(tmp_path, "est-1", name="renewal")
    response = await client.post(
        REENROLL, content=renewal_csr, headers={"Content-Type": "application/pkcs10", "x-client-cert": forwarded}
    )
    assert response.status_code == 200, response.text
    renewed_pem = certificates_pem(tmp_path, response.content, "renewed")
    assert "OK" in verify(tmp_path, await cacerts_pem(client, tmp_path), renewed_pem)
    [renewed] = pkcs7.load_der_pkcs7_certificates(base64.b64decode(response.content))
    assert renewed.subject == current.subject
    assert renewed.serial_number != current.serial_number
    assert renewed.public_key() == serialization.load_pem_private_key(new_key.read_bytes(), None).public_key()
    issued = await services.certificates.find_by_serial(format(renewed.serial_number, "x"))
    assert issued is not None
    assert (issued.owner, issued.issued_via) == ("device_est-1", "renewal")

    # Another CN than the certificate's: 400. No certificate, or one we did not issue: the uniform 401.
    other, _ = make_csr(tmp_path, "est-2", name="other")
    mismatch = await client.post(
        REENROLL, content=other, headers={"Content-Type": "application/pkcs10", "x-client-cert": forwarded}
    )
    assert mismatch.status_code == 400, mismatch.text
    missing = await client.post(REENROLL, content=renewal_csr, headers={"Content-Type": "application/pkcs10"})
    assert missing.status_code == 401
    foreign_key = tmp_path / "foreign.key"
    openssl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", str(foreign_key))
    foreign_pem = openssl("req", "-new", "-x509", "-key", str(foreign_key), "-subj", "/CN=est-1", "-days", "1")
    foreign = x509.load_pem_x509_certificate(foreign_pem).public_bytes(serialization.Encoding.DER)
    refused = await client.post(
        REENROLL,
        content=renewal_csr,
        headers={"Content-Type": "application/pkcs10", "x-client-cert": base64.b64encode(foreign).decode()},
    )
    assert refused.status_code == 401
    assert refused.json() == missing.json()
    del key


async def test_a_client_certificate_header_from_an_untrusted_address_is_refused(
    client: httpx.AsyncClient, tmp_path: Path
) -> None:
    csr, _ = make_csr(tmp_path, "est-1")
    response = await client.post(
        REENROLL, content=csr, headers={"Content-Type": "application/pkcs10", "x-client-cert": "AAAA"}
    )
    assert response.status_code == 403, response.text


def handshake_app(app: Any, certificate_pem: str) -> Any:
    """The app as `admittance serve` with TLS calls it: the verified handshake certificate in the scope."""

    async def wrapped(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            tls = {"client_cert_chain": (certificate_pem,), "client_cert_error": None}
            scope = {**scope, "extensions": {"tls": tls}}
        await app(scope, receive, send)

    return wrapped


async def test_the_enrolled_certificate_authenticates_and_reenrolls_over_tls(
    imported: httpx.AsyncClient, settings: Settings, services: Services, tmp_path: Path
) -> None:
    csr, _ = make_csr(tmp_path, "est-3")
    first = await enroll(imported, "est-3", OTP_3, csr)
    assert first.status_code == 200, first.text
    [current] = pkcs7.load_der_pkcs7_certificates(base64.b64decode(first.content))
    pem = current.public_bytes(serialization.Encoding.PEM).decode()
    app = handshake_app(create_app(settings, services), pem)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False, client=("192.0.2.9", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as device:
        me = await device.get("/user/currentUser")
        assert me.status_code == 200, me.text
        assert (me.json()["userName"], me.json()["tenantId"]) == ("device_est-3", "t1")
        renewal_csr, _ = make_csr(tmp_path, "est-3", name="renewal")
        renewed = await device.post(REENROLL, content=renewal_csr, headers={"Content-Type": "application/pkcs10"})
        assert renewed.status_code == 200, renewed.text
        assert "OK" in verify(
            tmp_path, await cacerts_pem(imported, tmp_path), certificates_pem(tmp_path, renewed.content, "r")
        )
        # The enrollment password is gone for good, also for the certificate's holder.
        again = await device.post(
            ENROLL, content=renewal_csr, headers={**basic("est-3", OTP_3), "Content-Type": "application/pkcs10"}
        )
        assert again.status_code == 401
