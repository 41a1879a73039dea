"""Helpers for the nRF Cloud tests: device identity keys, minted claim tokens, key registration."""

from __future__ import annotations

import base64
import os
import uuid
from typing import Any

import cbor2
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, utils

from admittance.bootstrap import Services
from admittance.claiming.token import mint_claim_token, signed_bytes
from admittance.kernel.access import RoleName
from admittance.kernel.principal import Principal


def device_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def public_pem(key: ec.EllipticCurvePrivateKey) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def new_uuid() -> str:
    return str(uuid.uuid4())


def mint(
    key: ec.EllipticCurvePrivateKey | None = None,
    device_uuid: str | None = None,
    *,
    device_type: int = 6,
    nonce: bytes | None = None,
) -> str:
    """A claim token (a new key and UUID unless given)."""
    return mint_claim_token(key or device_key(), device_uuid or new_uuid(), device_type=device_type, nonce=nonce)


def b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def raw_token(
    items: Any = None,
    *,
    body: bytes | None = None,
    protected: bytes | None = None,
    unprotected: Any = None,
    payload: Any = None,
    signature: bytes | None = None,
    cose: bytes | None = None,
    key: ec.EllipticCurvePrivateKey | None = None,
) -> str:
    """A token built piece by piece, for malformed cases; valid and signed by default."""
    if body is None:
        if items is None:
            items = [1, uuid.uuid4().bytes, 6, uuid.uuid4().bytes, os.urandom(16)]
        body = cbor2.dumps(cbor2.CBORTag(55799, items))
    if protected is None:
        protected = cbor2.dumps({1: -7})
    if signature is None:
        r, s = utils.decode_dss_signature(
            (key or device_key()).sign(signed_bytes(protected, body), ec.ECDSA(hashes.SHA256()))
        )
        signature = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    if cose is None:
        header = {4: cbor2.dumps(-2)} if unprotected is None else unprotected
        cose = cbor2.dumps(cbor2.CBORTag(18, [protected, header, payload, signature]))
    return b64u(body) + "." + b64u(cose)


def nrf_owner(tenant_id: str = "t1") -> Principal:
    return Principal.of(0, tenant_id, "nrf-owner", [RoleName.NRF_OWNER.value])


async def register_key(
    services: Services, key: ec.EllipticCurvePrivateKey, device_uuid: str, tenant_id: str = "t1"
) -> None:
    """Register `key` as the identity key of `device_uuid` (known-keys verification)."""
    await services.identity_keys.import_keys(
        nrf_owner(tenant_id), f'{device_uuid},"{public_pem(key)}"\n'.encode(), "text/csv"
    )
