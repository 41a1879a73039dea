"""Helpers for the provisioning tests: claimed devices with known keys, device JWTs, CBOR calls."""

from __future__ import annotations

import time
from typing import Any

import cbor2
import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from admittance.bootstrap import Services
from admittance.claiming.device_protocol import b64url, mint_device_jwt
from tests.support.nrf import device_key, mint, new_uuid, nrf_owner, register_key
from tests.support.secrets import register
from tests.support.sessions import ADMIN

CSR_REQUEST = {"certificateSigningRequest": {"secTag": 16842753, "attributes": "CN=x", "keyUsage": "101010000"}}


async def claimed(services: Services, tags: list[str] | None = None) -> tuple[ec.EllipticCurvePrivateKey, str]:
    key, device_id = device_key(), new_uuid()
    await register_key(services, key, device_id)
    await services.claiming.claim(nrf_owner(), mint(key, device_id), tags)
    return key, device_id


def jwt(key: ec.EllipticCurvePrivateKey, device_id: str, *, now: int | None = None, lifetime: int = 300) -> str:
    token = mint_device_jwt(key, device_id, now=int(time.time()) if now is None else now, lifetime=lifetime)
    register(token)
    return token


async def fetch(client: httpx.AsyncClient, token: str, **params: Any) -> tuple[int, list[Any] | None]:
    response = await client.get(
        "/v1/provisioning/commands",
        params=params,
        headers={"Authorization": f"Bearer {token}", "Accept": "application/cbor"},
    )
    if response.status_code == 200:
        assert response.headers["content-type"].startswith("application/cbor")
        return 200, cbor2.loads(response.content)
    return response.status_code, None


async def answer(client: httpx.AsyncClient, token: str, responses: list[Any]) -> httpx.Response:
    return await client.post(
        "/v1/provisioning/response",
        content=cbor2.dumps(responses),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/cbor"},
    )


async def add_command(client: httpx.AsyncClient, device_id: str, request: dict[str, Any]) -> dict[str, Any]:
    response = await client.post(
        f"/v1/claimed-devices/{device_id}/provisioning", json={"request": request}, headers=ADMIN
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def command(client: httpx.AsyncClient, device_id: str, command_id: str) -> dict[str, Any]:
    response = await client.get(f"/v1/claimed-devices/{device_id}/provisioning/{command_id}", headers=ADMIN)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def keygen_csr(key: ec.EllipticCurvePrivateKey, common_name: str) -> str:
    """What %KEYGEN answers for a CSR: base64url(DER CSR) "." base64url(COSE) (a stand-in COSE part)."""
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
        .sign(key, hashes.SHA256())
    )
    return b64url(csr.public_bytes(serialization.Encoding.DER)) + "." + b64url(b"\xd2\x84cose")
