"""/admittance/v1: the CA chain and the CRL (public), issued certificates (list, get, revoke) behind
the permission policy, and renewal by the holder; RFC 9457 problems; on both databases."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from urllib.parse import quote

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from admittance.bootstrap import Services, first_start
from admittance.http.app import create_app
from admittance.identity.directory_model import GrantMethod, GrantType, NewUser
from admittance.pki.model import IssuedCertificate
from admittance.settings import Settings
from tests.support.bulk import principal
from tests.support.connectware import ADMIN, ANONYMOUS, create_user, permission, person
from tests.support.pki import cert_pem, csr_der, csr_pem, ec_key, make_csr
from tests.support.services import build

V1 = "/admittance/v1"
DOCUMENT_KEYS = {
    "serial",
    "self",
    "tenantId",
    "owner",
    "subject",
    "status",
    "notBefore",
    "notAfter",
    "issuedVia",
    "fingerprints",
    "publicKeySha256",
    "revokedAt",
    "revocationReason",
    "certificate",
}


def problem(response: httpx.Response, status: int) -> dict[str, object]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, object] = response.json()
    assert body["status"] == status
    return body


async def holder(services: Services, name: str = "meter_1") -> tuple[IssuedCertificate, object]:
    admin = await principal(services)
    await services.users.create_user(
        admin, NewUser(name, None, grant_types=(GrantType(GrantMethod.CERTIFICATE, False),))
    )
    key = ec_key()
    issued = await services.certificates.issue(
        make_csr(key, name), tenant_id="t1", owner=name, common_name=name, issued_via="api"
    )
    return issued, key


async def test_public_ca_and_crl(client: httpx.AsyncClient, services: Services) -> None:
    chain = await client.get(f"{V1}/pki/ca.pem")
    assert chain.status_code == 200
    assert chain.headers["content-type"] == "application/pem-certificate-chain"
    [ca] = await services.certificates.ca_certificates()
    assert x509.load_pem_x509_certificates(chain.content) == [ca]
    crl = await client.get(f"{V1}/pki/crl")
    assert crl.status_code == 200
    assert crl.headers["content-type"] == "application/pkix-crl"
    parsed = x509.load_der_x509_crl(crl.content)
    assert parsed.is_signature_valid(ca.public_key())  # type: ignore[arg-type]
    pem = await client.get(f"{V1}/pki/crl.pem")
    assert x509.load_pem_x509_crl(pem.content) == parsed


async def test_list_get_revoke(client: httpx.AsyncClient, services: Services) -> None:
    issued, _ = await holder(services)
    listed = await client.get(f"{V1}/certificates", headers=ADMIN, params={"withTotalElements": "true"})
    assert listed.status_code == 200, listed.text
    document = listed.json()
    assert document["statistics"]["totalElements"] == 1
    [item] = document["certificates"]
    assert set(item) == DOCUMENT_KEYS
    assert item["serial"] == issued.serial
    assert item["status"] == "valid"
    assert item["owner"] == "meter_1"
    assert item["certificate"] == issued.certificate_pem
    assert "PRIVATE" not in listed.text
    assert (await client.get(f"{V1}/certificates", headers=ADMIN, params={"owner": "other"})).json()[
        "certificates"
    ] == []
    one = await client.get(f"{V1}/certificates/{issued.serial.upper()}", headers=ADMIN)
    assert one.status_code == 200
    assert one.json()["serial"] == issued.serial
    problem(await client.get(f"{V1}/certificates/abc123", headers=ADMIN), 404)
    problem(await client.get(f"{V1}/certificates/not-hex", headers=ADMIN), 404)

    problem(await client.post(f"{V1}/certificates/{issued.serial}/revoke", json={"reason": "nope"}, headers=ADMIN), 422)
    revoked = await client.post(
        f"{V1}/certificates/{issued.serial}/revoke", json={"reason": "keyCompromise"}, headers=ADMIN
    )
    assert revoked.status_code == 200, revoked.text
    assert revoked.json()["status"] == "revoked"
    assert revoked.json()["revocationReason"] == "keyCompromise"
    crl = x509.load_der_x509_crl((await client.get(f"{V1}/pki/crl")).content)
    assert crl.get_revoked_certificate_by_serial_number(int(issued.serial, 16)) is not None


async def test_authorization(client: httpx.AsyncClient, services: Services) -> None:
    issued, _ = await holder(services)
    for method, path in (
        ("GET", f"{V1}/certificates"),
        ("GET", f"{V1}/certificates/{issued.serial}"),
        ("POST", f"{V1}/certificates/{issued.serial}/revoke"),
    ):
        problem(await client.request(method, path, headers=ANONYMOUS, json={}), 401)
    await create_user(client, "nobody", roles=[])
    await create_user(client, "reader", permissions=[permission(f"{V1}/certificates/#", "read")])
    for method, path in (
        ("GET", f"{V1}/certificates"),
        ("GET", f"{V1}/certificates/{issued.serial}"),
        ("POST", f"{V1}/certificates/{issued.serial}/revoke"),
    ):
        problem(await client.request(method, path, headers=person("nobody"), json={}), 403)
    reader = person("reader")
    assert (await client.get(f"{V1}/certificates", headers=reader)).status_code == 200
    assert (await client.get(f"{V1}/certificates/{issued.serial}", headers=reader)).status_code == 200
    problem(await client.post(f"{V1}/certificates/{issued.serial}/revoke", json={}, headers=reader), 403)


async def test_renew_with_the_certificate_in_the_body(client: httpx.AsyncClient, services: Services) -> None:
    issued, key = await holder(services)
    csr = make_csr(key, "meter_1")  # type: ignore[arg-type]
    body = {"csr": base64.b64encode(csr_pem(csr).encode()).decode(), "certificate": issued.certificate_pem}
    renewed = await client.post(f"{V1}/certificates/renew", json=body)
    assert renewed.status_code == 201, renewed.text
    document = renewed.json()
    assert document["issuedVia"] == "renewal"
    assert document["owner"] == "meter_1"
    assert renewed.headers["location"] == document["self"]
    x509.load_pem_x509_certificate(document["certificate"].encode())
    # another key than the certificate's: no proof of possession
    other = {"csr": csr_pem(make_csr(ec_key(), "meter_1")), "certificate": issued.certificate_pem}
    problem(await client.post(f"{V1}/certificates/renew", json=other), 401)
    # no certificate at all
    problem(await client.post(f"{V1}/certificates/renew", json={"csr": csr_pem(csr)}), 401)
    # malformed
    problem(await client.post(f"{V1}/certificates/renew", json={"csr": "garbage"}), 400)
    problem(await client.post(f"{V1}/certificates/renew", json={"csr": csr_pem(csr), "certificate": "x"}), 400)
    problem(await client.post(f"{V1}/certificates/renew", json={}), 400)
    # revoked
    await services.revocation.revoke(await principal(services), issued.serial, "superseded")
    problem(await client.post(f"{V1}/certificates/renew", json=body), 401)


@pytest.fixture
async def proxied(settings: Settings) -> AsyncIterator[tuple[httpx.AsyncClient, Services]]:
    """The app behind a trusted proxy (the test client's address) that forwards client certificates."""
    changed = settings.with_values(trusted_proxies="127.0.0.1")
    built = await build(changed)
    try:
        await first_start(built)
        transport = httpx.ASGITransport(app=create_app(changed, built), raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield http, built
    finally:
        await built.close()


async def test_renew_with_the_verified_client_certificate(proxied: tuple[httpx.AsyncClient, Services]) -> None:
    client, services = proxied
    issued, _ = await holder(services)
    forwarded = {"x-client-cert": quote(issued.certificate_pem)}
    new_key = ec_key()
    csr = base64.b64encode(csr_der(make_csr(new_key, "meter_1"))).decode()
    renewed = await client.post(f"{V1}/certificates/renew", json={"csr": csr}, headers=forwarded)
    assert renewed.status_code == 201, renewed.text
    certificate = x509.load_pem_x509_certificate(renewed.json()["certificate"].encode())
    assert certificate.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    ) == new_key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    # the CN must stay the same
    wrong = base64.b64encode(csr_der(make_csr(new_key, "meter_2"))).decode()
    problem(await client.post(f"{V1}/certificates/renew", json={"csr": wrong}, headers=forwarded), 422)
    assert cert_pem(certificate) == renewed.json()["certificate"]
