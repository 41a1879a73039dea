"""Helpers of the client registry tests: device keys and CSRs made with `cryptography`, and raw HTTP
against /api/client-registry. Every password sent is registered with tests/support/secrets.py."""

from __future__ import annotations

import base64
import hashlib
import warnings
from typing import Any

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.support import secrets
from tests.support.connectware import ADMIN, api

DEVICE_PASSWORD = "device-Secret-2024"
OTHER_PASSWORD = "other-Secret-2024"
secrets.register(DEVICE_PASSWORD, OTHER_PASSWORD)


def device_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def csr_pem(key: ec.EllipticCurvePrivateKey, common_name: str | None) -> str:
    names = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Example Devices")]
    if common_name is not None:
        # An empty CN is refused by cryptography's own checks unless they are skipped (with a warning).
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            names.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name, _validate=bool(common_name)))
    request = x509.CertificateSigningRequestBuilder().subject_name(x509.Name(names)).sign(key, hashes.SHA256())
    return request.public_bytes(serialization.Encoding.PEM).decode("ascii")


def csr_b64(key: ec.EllipticCurvePrivateKey, common_name: str | None) -> str:
    """As the seed sends it: base64 of the PEM, with line breaks."""
    return base64.encodebytes(csr_pem(key, common_name).encode("ascii")).decode("ascii")


def key_sha256(key: ec.EllipticCurvePrivateKey) -> str:
    spki = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(spki).hexdigest()


def expected_code(username: str, key: ec.EllipticCurvePrivateKey) -> str:
    """The documented pairing code of a CSR request, as a device computes it."""
    return hashlib.sha256(f"{username}\n{key_sha256(key)}".encode()).hexdigest()[:6]


def request_body(
    username: str,
    *,
    password: str | None = None,
    csr: str | None = None,
    roles: list[str] | None = None,
    permissions: list[dict[str, str]] | None = None,
    context: str = "IoT Device Serial Number <0123456>",
) -> dict[str, Any]:
    secrets.register(password)
    body: dict[str, Any] = {"username": username, "context": context, "roles": roles or []}
    if password is not None:
        body["password"] = password
    if csr is not None:
        body["csr"] = csr
    if permissions is not None:
        body["permissions"] = permissions
    return body


async def register(client: httpx.AsyncClient, username: str, **fields: Any) -> httpx.Response:
    """POST /api/client-registry/register without credentials, as a device does."""
    return await client.post("/api/client-registry/register", json=request_body(username, **fields))


async def open_registry(
    client: httpx.AsyncClient, duration: int | None = 60_000, *, auth: dict[str, str] | None = None
) -> httpx.Response:
    body = None if duration is None else {"duration": duration}
    return await api(client, "POST", "/api/client-registry/open", body, auth=auth)


async def opened(client: httpx.AsyncClient, duration: int = 60_000) -> None:
    response = await open_registry(client, duration)
    assert response.status_code == 204, response.text


async def entries(client: httpx.AsyncClient) -> list[dict[str, Any]]:
    response = await api(client, "GET", "/api/client-registry")
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()
    return found


async def entry(client: httpx.AsyncClient, username: str) -> dict[str, Any]:
    found = [item for item in await entries(client) if item["username"] == username]
    assert len(found) == 1, found
    return found[0]


async def confirm(client: httpx.AsyncClient, username: str, **body: Any) -> httpx.Response:
    return await api(client, "POST", "/api/client-registry/confirm", {"username": username, **body})


def certificate_of(response: httpx.Response) -> x509.Certificate:
    assert response.status_code == 201, response.text
    encoded = response.json()["certificate"]
    return x509.load_pem_x509_certificate(base64.b64decode(encoded))


__all__ = ["ADMIN", "api"]
