"""/api/certificates: the trusted CA store with the seed's exact JSON, on both databases; 400, 401,
403, 404, 409-free duplicates (idempotent) and 422 boundaries."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import NameOID

from admittance.bootstrap import Services
from admittance.kernel.errors import PermissionDenied
from admittance.kernel.principal import Principal
from tests.support.connectware import ADMIN, ANONYMOUS, api, assert_error, create_user, permission, person
from tests.support.pki import cert_pem, ec_key, self_signed_ca

CERTIFICATE_KEYS = {
    "id",
    "issuedBy",
    "issuedTo",
    "keyUsage",
    "extendedKeyUsage",
    "basicConstraints",
    "issuedOn",
    "expiresOn",
    "fingerprints",
    "removable",
}


def named_ca(name: str) -> x509.Certificate:
    certificate, _ = self_signed_ca(name, path_length=1)
    return certificate


def organized_ca() -> x509.Certificate:
    """A CA with O, OU and a SAN, as organisations' CAs have."""
    key = ec_key()
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, "ACME Root"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "ACME"),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "Plant 7"),
        ]
    )
    now = datetime.now(UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=2), critical=True)
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("pki.acme.example")]), critical=False)
        .sign(key, hashes.SHA256())
    )


async def test_list_shows_the_device_ca(client: httpx.AsyncClient, services: Services) -> None:
    response = await api(client, "GET", "/api/certificates")
    assert response.status_code == 200, response.text
    [document] = response.json()
    assert set(document) == CERTIFICATE_KEYS
    [ca] = await services.certificates.ca_certificates()
    assert document["id"] == "device-ca"
    assert document["issuedBy"] == {
        "commonName": "Admittance Device CA",
        "organization": None,
        "organizationalUnit": None,
    }
    assert document["issuedTo"] == {
        "commonName": "Admittance Device CA",
        "organization": None,
        "organizationalUnit": None,
        "alternativeNames": [],
    }
    assert document["keyUsage"] == ["keyCertSign", "cRLSign"]
    assert document["extendedKeyUsage"] == []
    assert document["basicConstraints"] == {"isCA": True, "pathLength": 0}
    assert document["issuedOn"] == int(ca.not_valid_before_utc.timestamp() * 1000)
    assert document["expiresOn"] == int(ca.not_valid_after_utc.timestamp() * 1000)
    assert document["fingerprints"] == {
        "sha1": ca.fingerprint(hashes.SHA1()).hex(),  # noqa: S303 - a fingerprint the seed asks for
        "sha256": ca.fingerprint(hashes.SHA256()).hex(),
    }
    assert document["removable"] is False
    content = await api(client, "GET", "/api/certificates/content", params={"id": "device-ca"})
    assert content.status_code == 200
    assert content.headers["content-type"].startswith("text/plain")
    assert content.text == cert_pem(ca)
    assert "PRIVATE" not in response.text + content.text


async def test_add_list_content_delete(client: httpx.AsyncClient) -> None:
    acme = organized_ca()
    other = named_ca("Other Root")
    response = await api(client, "POST", "/api/certificates", cert_pem(acme) + cert_pem(other))
    assert response.status_code == 200, response.text
    listed = response.json()
    assert [item["issuedTo"]["commonName"] for item in listed] == ["Admittance Device CA", "ACME Root", "Other Root"]
    added = listed[1]
    assert set(added) == CERTIFICATE_KEYS
    assert added["issuedTo"] == {
        "commonName": "ACME Root",
        "organization": "ACME",
        "organizationalUnit": "Plant 7",
        "alternativeNames": ["pki.acme.example"],
    }
    assert added["issuedBy"]["organization"] == "ACME"
    assert added["basicConstraints"] == {"isCA": True, "pathLength": 2}
    assert added["keyUsage"] == []
    assert added["removable"] is True
    # idempotent: the same certificate again adds nothing
    again = await api(client, "POST", "/api/certificates", cert_pem(acme))
    assert again.status_code == 200
    assert len(again.json()) == 3
    # PEM as text/plain is accepted too
    third = named_ca("Third Root")
    plain = await client.post(
        "/api/certificates",
        content=cert_pem(third),
        headers={**ADMIN, "content-type": "text/plain"},
    )
    assert plain.status_code == 200
    assert len(plain.json()) == 4
    content = await api(client, "GET", "/api/certificates/content", params={"id": added["id"]})
    assert content.text == cert_pem(acme)
    deleted = await api(client, "DELETE", f"/api/certificates/{added['id']}")
    assert deleted.status_code == 204
    by_query = await api(client, "DELETE", "/api/certificates", params={"id": listed[2]["id"]})
    assert by_query.status_code == 204
    remaining = (await api(client, "GET", "/api/certificates")).json()
    assert [item["issuedTo"]["commonName"] for item in remaining] == ["Admittance Device CA", "Third Root"]
    assert_error(await api(client, "GET", "/api/certificates/content", params={"id": added["id"]}), 404)
    assert_error(await api(client, "DELETE", f"/api/certificates/{added['id']}"), 404)


async def test_refusals(client: httpx.AsyncClient) -> None:
    leaf, _ = self_signed_ca("A leaf", ca=False)
    assert_error(await api(client, "POST", "/api/certificates", cert_pem(leaf)), 422, "only CA certificates")
    # one leaf among CAs: nothing is added
    assert_error(await api(client, "POST", "/api/certificates", cert_pem(named_ca("Fine")) + cert_pem(leaf)), 422)
    assert len((await api(client, "GET", "/api/certificates")).json()) == 1
    assert_error(await api(client, "POST", "/api/certificates", "no certificate here"), 400)
    assert_error(await api(client, "POST", "/api/certificates", {"pem": "x"}), 400)
    broken = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"
    assert_error(await api(client, "POST", "/api/certificates", broken), 400)
    response = await client.post("/api/certificates", content=b"{", headers=ADMIN)
    assert_error(response, 400)
    # a body in another format: 415, as everywhere on /api (it was a 422)
    xml = await client.post(
        "/api/certificates", content=b"<pem/>", headers={**ADMIN, "content-type": "application/xml"}
    )
    assert_error(xml, 415, "Unsupported media type")
    assert_error(await api(client, "DELETE", "/api/certificates/device-ca"), 422, "cannot be removed")
    assert_error(await api(client, "DELETE", "/api/certificates", params={"id": "device-ca"}), 422)
    assert_error(await api(client, "GET", "/api/certificates/content"), 400)
    assert_error(await api(client, "GET", "/api/certificates/content", params={"id": "nope"}), 404)
    assert_error(await api(client, "DELETE", "/api/certificates/nope"), 404)


async def test_authorization(client: httpx.AsyncClient) -> None:
    for method, path in (
        ("GET", "/api/certificates"),
        ("POST", "/api/certificates"),
        ("GET", "/api/certificates/content?id=device-ca"),
        ("DELETE", "/api/certificates/device-ca"),
        ("DELETE", "/api/certificates?id=device-ca"),
    ):
        assert_error(await api(client, method, path, auth=ANONYMOUS), 401)
    await create_user(client, "nobody", roles=[])
    await create_user(client, "reader", permissions=[permission("/api/certificates/#", "read")])
    nobody, reader = person("nobody"), person("reader")
    assert_error(await api(client, "GET", "/api/certificates", auth=nobody), 403)
    assert_error(await api(client, "GET", "/api/certificates/content", params={"id": "device-ca"}, auth=nobody), 403)
    assert (await api(client, "GET", "/api/certificates", auth=reader)).status_code == 200
    content = await api(client, "GET", "/api/certificates/content", params={"id": "device-ca"}, auth=reader)
    assert content.status_code == 200
    assert_error(await api(client, "POST", "/api/certificates", cert_pem(named_ca("R")), auth=reader), 403)
    assert_error(await api(client, "DELETE", "/api/certificates/device-ca", auth=reader), 403)
    await create_user(client, "writer", permissions=[permission("/api/certificates/#")])
    added = await api(client, "POST", "/api/certificates", cert_pem(named_ca("W")), auth=person("writer"))
    assert added.status_code == 200


async def test_other_tenants_cannot_change_the_global_store(services: Services) -> None:
    """The store is the server's: administrators of tenants other than the management and the
    default tenant may read it but not change it."""
    outsider = Principal.of(99, "t2", "admin", ["connectware-admin"])
    assert len(await services.trust_store.list_trusted(outsider)) == 1
    with pytest.raises(PermissionDenied):
        await services.trust_store.add_trusted(outsider, cert_pem(named_ca("X")))
    with pytest.raises(PermissionDenied):
        await services.trust_store.remove_trusted(outsider, "device-ca")
