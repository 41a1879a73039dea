"""The modem's identity attestation token (`AT%ATTESTTOKEN`), the claim token of nRF Cloud.

`base64url(attestation message) "." base64url(COSE_Sign1)`, no padding (padding is tolerated).
The message is CBOR with the self-describe tag 55799 around an array of exactly 5 items: message
type (1 = device identity message v1), device UUID bstr(16), device type int, modem firmware UUID
bstr(16), nonce bstr(16). The COSE_Sign1 (tag 18) is `[protected bstr({1: -7}) (ES256),
{4: bstr(cbor(kid))}, nil (detached payload), signature bstr(64) raw r||s]`.

Signature convention (the public sources do not say which payload the modem signs; see
docs/compat/nrfcloud/tokens.md): the detached payload is the message bytes exactly as they appear
in part 1 (self-describe tag included), so the signed bytes are the COSE Sig_structure
`["Signature1", protected, h'', message]`.
"""

from __future__ import annotations

import base64
import binascii
import io
import os
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import cbor2
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, utils

from admittance.kernel.errors import MalformedInput

MAX_TOKEN_CHARS = 4096  # real tokens are about 200 characters
SELF_DESCRIBE_TAG = 55799
COSE_SIGN1_TAG = 18
MESSAGE_TYPE_DEVICE_IDENTITY = 1
ALG_ES256 = -7
KID_IDENTITY_KEY = -2
_SELF_DESCRIBE_PREFIX = b"\xd9\xd9\xf7"
_HEADER_ALG = 1
_HEADER_KID = 4
_MAX_CBOR_DEPTH = 8
_MAX_DEVICE_TYPE = 2**31 - 1
_BASE64URL = re.compile(r"[A-Za-z0-9_-]*={0,2}")

# `device_type_dict` of nrfcloud_utils/modem_credentials_parser.py (spec a.1).
DEVICE_TYPE_NAMES: dict[int, str] = {
    1: "nRF9160 SIAA",
    2: "nRF9160 SIBA",
    3: "NRF9160 SIAA",
    4: "nRF9161 LACA",
    5: "nRF9131 LACA",
    6: "nRF9151 LACA",
}

# `header_key_type_dict`: which modem key signed the token.
KID_NAMES: dict[int, str] = {
    -2: "identity_key",
    -4: "nordic_base_production_key",
    -5: "nordic_base_rd_key",
}


def device_type_label(device_type: int) -> str:
    """The claimed device's `deviceType` string, nRF Cloud style ("nrf9160_SICA"): the chip in
    lower case, an underscore, the package variant in upper case. Unknown types: "unknown"."""
    name = DEVICE_TYPE_NAMES.get(device_type)
    if name is None:
        return "unknown"
    chip, _, variant = name.partition(" ")
    return f"{chip.lower()}_{variant.upper()}"


@dataclass(frozen=True, slots=True)
class ClaimToken:
    message_type: int
    device_uuid: str  # lower case 8-4-4-4-12
    device_type: int
    firmware_uuid: str
    nonce: bytes  # 16 bytes
    kid: int | None
    signature: bytes  # 64 bytes, raw r||s
    body: bytes  # part 1 as decoded from base64url: the detached payload
    protected: bytes  # the protected header bstr as sent

    @property
    def nonce_hex(self) -> str:
        return self.nonce.hex()

    @property
    def device_type_name(self) -> str | None:
        return DEVICE_TYPE_NAMES.get(self.device_type)


def _b64decode(part: str, which: str) -> bytes:
    if not part:
        raise MalformedInput(f"The claim token's {which} is empty")
    if _BASE64URL.fullmatch(part) is None:
        raise MalformedInput(f"The claim token's {which} is not base64url (characters A-Z a-z 0-9 - _ only)")
    bare = part.rstrip("=")
    if len(bare) % 4 == 1:
        raise MalformedInput(f"The claim token's {which} is not valid base64url: its length is impossible")
    try:
        return base64.b64decode(bare + "=" * (-len(bare) % 4), altchars=b"-_", validate=True)
    except (binascii.Error, ValueError) as error:
        raise MalformedInput(f"The claim token's {which} is not valid base64url") from error


def _decode_cbor(data: bytes, which: str) -> Any:
    """Exactly one CBOR data item: no trailing bytes, bounded nesting."""
    stream = io.BytesIO(data)
    try:
        value = cbor2.CBORDecoder(stream, max_depth=_MAX_CBOR_DEPTH, allow_duplicate_keys=False).decode()
    except Exception as error:  # cbor2 raises many kinds for hostile input: all are malformed
        raise MalformedInput(f"The claim token's {which} is not valid CBOR") from error
    if stream.tell() != len(data):
        raise MalformedInput(f"The claim token's {which} has {len(data) - stream.tell()} bytes after its CBOR item")
    return value


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _uuid16(value: object, what: str) -> str:
    if not isinstance(value, bytes) or len(value) != 16:
        raise MalformedInput(f"The claim token's {what} must be a byte string of 16 bytes")
    return str(uuid.UUID(bytes=value))


def _parse_message(body: bytes) -> tuple[int, str, int, str, bytes]:
    if not body.startswith(_SELF_DESCRIBE_PREFIX):
        raise MalformedInput("The claim token's message does not start with the CBOR self-describe tag 55799")
    if len(body) <= len(_SELF_DESCRIBE_PREFIX) or body[len(_SELF_DESCRIBE_PREFIX)] >> 5 != 4:
        raise MalformedInput("The claim token's message must be a CBOR array inside the self-describe tag")
    items = _decode_cbor(body[len(_SELF_DESCRIBE_PREFIX) :], "message")
    if not isinstance(items, list | tuple):
        raise MalformedInput("The claim token's message must be a CBOR array inside the self-describe tag")
    if len(items) != 5:
        raise MalformedInput(f"The claim token's message must be an array of exactly 5 items, not {len(items)}")
    message_type, device, device_type, firmware, nonce = items
    if not _is_int(message_type):
        raise MalformedInput("The claim token's message type must be an integer")
    if message_type != MESSAGE_TYPE_DEVICE_IDENTITY:
        raise MalformedInput(
            f"Unknown claim token message type {message_type}: only 1 (device identity message v1) is accepted"
        )
    device_uuid = _uuid16(device, "device UUID")
    if not _is_int(device_type) or not 0 <= device_type <= _MAX_DEVICE_TYPE:
        raise MalformedInput("The claim token's device type must be a non-negative integer")
    firmware_uuid = _uuid16(firmware, "modem firmware UUID")
    if not isinstance(nonce, bytes) or len(nonce) != 16:
        raise MalformedInput("The claim token's nonce must be a byte string of 16 bytes")
    return message_type, device_uuid, device_type, firmware_uuid, nonce


def _parse_cose(cose: bytes) -> tuple[bytes, int | None, bytes]:
    value = _decode_cbor(cose, "signature part")
    if not isinstance(value, cbor2.CBORTag) or value.tag != COSE_SIGN1_TAG:
        raise MalformedInput("The claim token's signature part must be a COSE_Sign1 (CBOR tag 18)")
    items = value.value
    if not isinstance(items, list | tuple) or len(items) != 4:
        raise MalformedInput("The claim token's COSE_Sign1 must be an array of 4 items")
    protected, unprotected, payload, signature = items
    if not isinstance(protected, bytes):
        raise MalformedInput("The claim token's COSE protected header must be a byte string")
    header = _decode_cbor(protected, "COSE protected header") if protected else {}
    if not isinstance(header, Mapping):
        raise MalformedInput("The claim token's COSE protected header must be a CBOR map")
    alg = header.get(_HEADER_ALG)
    if alg != ALG_ES256 or not _is_int(alg):
        raise MalformedInput(f"Unsupported claim token signature algorithm {alg!r}: only ES256 (-7) is accepted")
    if not isinstance(unprotected, Mapping):
        raise MalformedInput("The claim token's COSE unprotected header must be a CBOR map")
    kid: int | None = None
    if _HEADER_KID in unprotected:
        raw_kid = unprotected[_HEADER_KID]
        if not isinstance(raw_kid, bytes):
            raise MalformedInput("The claim token's key id (kid) must be a byte string")
        decoded = _decode_cbor(raw_kid, "key id (kid)")
        if not _is_int(decoded):
            raise MalformedInput("The claim token's key id (kid) must hold a CBOR integer")
        kid = decoded
    if payload is not None:
        raise MalformedInput("The claim token's COSE payload must be nil (detached)")
    if not isinstance(signature, bytes) or len(signature) != 64:
        raise MalformedInput("The claim token's signature must be a byte string of 64 bytes (raw r||s)")
    return protected, kid, signature


def parse_claim_token(text: str) -> ClaimToken:
    """Parse a claim token; MalformedInput with the reason for anything that is not one."""
    if not isinstance(text, str):
        raise MalformedInput("The claim token must be a string")
    if len(text) > MAX_TOKEN_CHARS:
        raise MalformedInput(f"The claim token is too long (more than {MAX_TOKEN_CHARS} characters)")
    text = text.strip()
    if not text:
        raise MalformedInput("The claim token is empty")
    parts = text.split(".")
    if len(parts) != 2:
        raise MalformedInput(f"The claim token must be two base64url parts joined by one dot, not {len(parts)} part(s)")
    body = _b64decode(parts[0], "message (part 1)")
    cose = _b64decode(parts[1], "signature part (part 2)")
    message_type, device_uuid, device_type, firmware_uuid, nonce = _parse_message(body)
    protected, kid, signature = _parse_cose(cose)
    return ClaimToken(
        message_type=message_type,
        device_uuid=device_uuid,
        device_type=device_type,
        firmware_uuid=firmware_uuid,
        nonce=nonce,
        kid=kid,
        signature=signature,
        body=body,
        protected=protected,
    )


def signed_bytes(protected: bytes, body: bytes) -> bytes:
    """The COSE Sig_structure of a COSE_Sign1 with the message as detached payload."""
    return cbor2.dumps(["Signature1", protected, b"", body])


def verify_signature(token: ClaimToken, public_key: ec.EllipticCurvePublicKey) -> bool:
    """ES256 over `["Signature1", protected, h'', message]`; the raw r||s is converted to DER."""
    r = int.from_bytes(token.signature[:32], "big")
    s = int.from_bytes(token.signature[32:], "big")
    try:
        public_key.verify(
            utils.encode_dss_signature(r, s), signed_bytes(token.protected, token.body), ec.ECDSA(hashes.SHA256())
        )
    except (InvalidSignature, ValueError):
        return False
    return True


def _b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def mint_claim_token(
    private_key: ec.EllipticCurvePrivateKey,
    device_uuid: str,
    *,
    device_type: int = 6,
    firmware_uuid: str | None = None,
    nonce: bytes | None = None,
) -> str:
    """A token as the modem makes one (spec a.1 recipe), signed with `private_key` by our convention."""
    body = cbor2.dumps(
        cbor2.CBORTag(
            SELF_DESCRIBE_TAG,
            [
                MESSAGE_TYPE_DEVICE_IDENTITY,
                uuid.UUID(device_uuid).bytes,
                device_type,
                (uuid.UUID(firmware_uuid) if firmware_uuid else uuid.uuid4()).bytes,
                nonce if nonce is not None else os.urandom(16),
            ],
        )
    )
    protected = cbor2.dumps({_HEADER_ALG: ALG_ES256})
    r, s = utils.decode_dss_signature(private_key.sign(signed_bytes(protected, body), ec.ECDSA(hashes.SHA256())))
    signature = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    cose = cbor2.dumps(
        cbor2.CBORTag(COSE_SIGN1_TAG, [protected, {_HEADER_KID: cbor2.dumps(KID_IDENTITY_KEY)}, None, signature])
    )
    return _b64u(body) + "." + _b64u(cose)
