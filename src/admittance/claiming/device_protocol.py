"""The device side of the nRF Cloud Provisioning Service (sdk-nrf subsys/net/lib/nrf_provisioning):
the device JWT, the CBOR command and response arrays (nrf_provisioning_cbor.cddl) and the mapping of
our command types to modem AT commands.

Commands: `[correlation_id tstr, 0, set_command, parameters, [ignore_cme_errors]]` (at_command),
`[id, 1, {tstr => tstr}]` (config), `[id, 2]` (finished). Responses: `[id, 99, cme_error, message]`
(error), `[id, 100, message]` (at_response), `[id, 101]` (config_ack), `[id, 102]` (finished_ack).
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any

import cbor2
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, utils

from admittance.claiming.provisioning_model import CommandType, ProvisioningCommand
from admittance.kernel.errors import MalformedInput, PermissionDenied, Unauthenticated

AT_COMMAND = 0
CONFIG = 1
FINISHED = 2
ERROR = 99
AT_RESPONSE = 100
CONFIG_ACK = 101
FINISHED_ACK = 102

MAX_JWT_CHARS = 4096
MAX_RESPONSE_BYTES = 64 * 1024
JWT_SKEW_SECONDS = 60
IDENTITY_SUFFIX = ".identity"  # the second correlation id of a preSharedKey command (the PSK identity write)

# %KEYGEN=<sec_tag>,<key_type 2: client private key>,<output 0: PKCS#10 CSR | 1: public key>
#         [,"<attributes>"[,"<key_usage>"]]
# %CMNG=0 (write),<sec_tag>,<type>,"<content>"[,"<password>"]
#       type: 0 root CA, 1 client certificate, 2 client private key, 3 PSK, 4 PSK identity
_CMNG_TYPES = {
    CommandType.SERVER_CERTIFICATE: 0,
    CommandType.CLIENT_CERTIFICATE: 1,
    CommandType.CLIENT_PRIVATE_KEY: 2,
}


def _b64url_decode(text: str) -> bytes:
    if not text or any(c not in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_" for c in text):
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


# --- the device JWT ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DeviceJwt:
    device_id: str
    issued_at: int | None
    expires_at: int
    signing_input: bytes
    signature: bytes  # raw r || s


def parse_device_jwt(token: str) -> DeviceJwt:
    """Structure only (Unauthenticated with a reason when it is not an ES256 JWT naming a device)."""
    if len(token) > MAX_JWT_CHARS:
        raise Unauthenticated("The device JWT is too long", reason="device-jwt-malformed")
    parts = token.split(".")
    if len(parts) != 3:
        raise Unauthenticated("The device JWT must have three parts", reason="device-jwt-malformed")
    try:
        header = json.loads(_b64url_decode(parts[0]))
        payload = json.loads(_b64url_decode(parts[1]))
        signature = _b64url_decode(parts[2])
    except (ValueError, UnicodeDecodeError):
        raise Unauthenticated("The device JWT is not base64url JSON", reason="device-jwt-malformed") from None
    if not isinstance(header, dict) or not isinstance(payload, dict):
        raise Unauthenticated("The device JWT is not base64url JSON", reason="device-jwt-malformed")
    if header.get("alg") != "ES256":
        raise Unauthenticated("The device JWT must be signed with ES256", reason="device-jwt-alg")
    if len(signature) != 64:
        raise Unauthenticated("The device JWT signature must be 64 bytes (r || s)", reason="device-jwt-malformed")
    subject = payload.get("iss") or payload.get("sub")
    if not isinstance(subject, str) or not subject:
        raise Unauthenticated("The device JWT must name the device UUID in iss", reason="device-jwt-no-iss")
    expires = payload.get("exp")
    if isinstance(expires, bool) or not isinstance(expires, int):
        raise Unauthenticated("The device JWT must have an integer exp", reason="device-jwt-no-exp")
    issued = payload.get("iat")
    if issued is not None and (isinstance(issued, bool) or not isinstance(issued, int)):
        raise Unauthenticated("The device JWT iat must be an integer", reason="device-jwt-malformed")
    return DeviceJwt(subject.strip().lower(), issued, expires, f"{parts[0]}.{parts[1]}".encode("ascii"), signature)


def check_device_jwt(jwt: DeviceJwt, public_key_pem: str, now: int, max_lifetime_seconds: int) -> None:
    """Signature with the device's identity key, then the times (PermissionDenied: wrong credentials)."""
    try:
        key = serialization.load_pem_public_key(public_key_pem.encode("ascii"))
    except ValueError:
        raise PermissionDenied("The device has no usable identity key") from None
    if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, ec.SECP256R1):
        raise PermissionDenied("The device has no usable identity key")
    r = int.from_bytes(jwt.signature[:32], "big")
    s = int.from_bytes(jwt.signature[32:], "big")
    try:
        key.verify(utils.encode_dss_signature(r, s), jwt.signing_input, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        raise PermissionDenied("The device JWT signature does not verify with the device's identity key") from None
    if jwt.expires_at <= now:
        raise PermissionDenied("The device JWT has expired")
    if jwt.issued_at is not None and jwt.issued_at > now + JWT_SKEW_SECONDS:
        raise PermissionDenied("The device JWT was issued in the future")
    start = jwt.issued_at if jwt.issued_at is not None else now
    if jwt.expires_at - start > max_lifetime_seconds + JWT_SKEW_SECONDS:
        raise PermissionDenied(f"The device JWT lives longer than the allowed {max_lifetime_seconds} seconds")


def mint_device_jwt(private_key: ec.EllipticCurvePrivateKey, device_id: str, *, now: int, lifetime: int = 300) -> str:
    """A device JWT as AT%JWT makes it (tests and the simulator)."""
    header = b64url(json.dumps({"alg": "ES256", "typ": "JWT"}, separators=(",", ":")).encode())
    claims = {"iss": device_id, "iat": now, "exp": now + lifetime, "jti": b64url(now.to_bytes(8, "big"))}
    payload = b64url(json.dumps(claims, separators=(",", ":")).encode())
    der = private_key.sign(f"{header}.{payload}".encode(), ec.ECDSA(hashes.SHA256()))
    r, s = utils.decode_dss_signature(der)
    return f"{header}.{payload}.{b64url(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"


# --- commands to CBOR ----------------------------------------------------------------------------


def _quoted(value: str) -> str:
    return '"' + value + '"'


def wire_commands(command: ProvisioningCommand) -> list[list[Any]]:
    """The CBOR command entries of one command (a preSharedKey writes the identity, then the key)."""
    fields = command.fields
    cid = command.id
    match command.type:
        case CommandType.CLOUD_ACCESS_KEY_GENERATION | CommandType.CLIENT_PRIVATE_KEY_GENERATION:
            return [[cid, AT_COMMAND, "%KEYGEN", f"{fields['secTag']},2,1", []]]
        case CommandType.CERTIFICATE_SIGNING_REQUEST:
            parameters = f"{fields['secTag']},2,0"
            if "attributes" in fields or "keyUsage" in fields:
                parameters += "," + _quoted(fields.get("attributes", ""))
            if "keyUsage" in fields:
                parameters += "," + _quoted(fields["keyUsage"])
            return [[cid, AT_COMMAND, "%KEYGEN", parameters, []]]
        case CommandType.SERVER_CERTIFICATE | CommandType.CLIENT_CERTIFICATE:
            kind = _CMNG_TYPES[command.type]
            return [[cid, AT_COMMAND, "%CMNG", f"0,{fields['secTag']},{kind},{_quoted(fields['content'])}", []]]
        case CommandType.CLIENT_PRIVATE_KEY:
            parameters = f"0,{fields['secTag']},2,{_quoted(fields['content'])}"
            if "password" in fields:
                parameters += "," + _quoted(fields["password"])
            return [[cid, AT_COMMAND, "%CMNG", parameters, []]]
        case CommandType.PRE_SHARED_KEY:
            return [
                [
                    cid + IDENTITY_SUFFIX,
                    AT_COMMAND,
                    "%CMNG",
                    f"0,{fields['secTag']},4,{_quoted(fields['identity'])}",
                    [],
                ],
                [cid, AT_COMMAND, "%CMNG", f"0,{fields['secTag']},3,{_quoted(fields['secret'])}", []],
            ]
        case CommandType.CONFIG:
            return [[cid, CONFIG, dict(fields)]]
        case CommandType.FINISHED:
            return [[cid, FINISHED]]
    raise AssertionError(command.type)  # pragma: no cover


def encode_commands(entries: list[list[Any]]) -> bytes:
    return cbor2.dumps(entries)


# --- responses from CBOR -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DeviceResponse:
    correlation_id: str
    kind: int  # ERROR, AT_RESPONSE, CONFIG_ACK, FINISHED_ACK
    message: str = ""
    cme_error: int | None = None


def _malformed(message: str) -> MalformedInput:
    return MalformedInput(message, entity="provisioning response", field="body")


def decode_responses(body: bytes) -> list[DeviceResponse]:
    if len(body) > MAX_RESPONSE_BYTES:
        raise _malformed(f"the responses are larger than {MAX_RESPONSE_BYTES} bytes")
    try:
        items = cbor2.loads(body)
    except Exception:  # noqa: BLE001 - cbor2 raises many kinds for hostile input; all are malformed
        raise _malformed("the body is not CBOR") from None
    if not isinstance(items, list) or not items:
        raise _malformed("the body must be a non-empty CBOR array of responses")
    responses = []
    for index, item in enumerate(items):
        if not isinstance(item, list) or len(item) < 2 or not isinstance(item[0], str) or not isinstance(item[1], int):
            raise _malformed(f"response {index} must be [correlation_id tstr, type int, ...]")
        cid, kind = item[0], item[1]
        if kind == ERROR and len(item) == 4 and isinstance(item[2], int) and isinstance(item[3], str):
            responses.append(DeviceResponse(cid, ERROR, item[3], item[2]))
        elif kind == AT_RESPONSE and len(item) == 3 and isinstance(item[2], str):
            responses.append(DeviceResponse(cid, AT_RESPONSE, item[2]))
        elif kind in (CONFIG_ACK, FINISHED_ACK) and len(item) == 2:
            responses.append(DeviceResponse(cid, kind))
        else:
            raise _malformed(
                f"response {index} is not error(99), at_response(100), config_ack(101) or finished_ack(102)"
            )
    return responses


def keygen_output(message: str) -> str:
    """The %KEYGEN string of an AT response: without a `%KEYGEN:` prefix, quotes and a final OK."""
    text = message.strip()
    if text.endswith("OK"):
        text = text[:-2].strip()
    if text.upper().startswith("%KEYGEN:"):
        text = text[len("%KEYGEN:") :].strip()
    return text.strip().strip('"').strip()


def csr_of_keygen(output: str) -> x509.CertificateSigningRequest:
    """The DER CSR of a %KEYGEN output (the base64url part before the first dot)."""
    try:
        der = _b64url_decode(output.split(".", 1)[0])
        return x509.load_der_x509_csr(der)
    except (ValueError, binascii.Error) as exc:
        raise _malformed("the %KEYGEN output is not a base64url DER CSR") from exc
