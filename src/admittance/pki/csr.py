"""Certificate signing requests: parsing whatever encoding a client sends, and the policy a CSR must meet.

Encodings accepted by `parse_csr`: PEM, base64 of PEM (Connectware's registry `csr`), base64 of DER
(EST, RFC 7030) and raw DER. The policy (`check_csr`) is applied before anything is written:
signature valid, exactly one non-empty CN equal to the expected name, key EC P-256/P-384 or RSA of
2048-8192 bits. Nothing of the CSR but its public key and CN is ever used: extensions, SANs and other
subject attributes it asks for are ignored (the issuing policy sets them).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import warnings

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes
from cryptography.x509.oid import NameOID

from admittance.kernel.errors import InvalidInput, MalformedInput

MAX_CSR_BYTES = 64 * 1024
MIN_RSA_BITS = 2048
MAX_RSA_BITS = 8192
ALLOWED_CURVES = (ec.SECP256R1, ec.SECP384R1)
_PEM_MARK = b"-----BEGIN"
_NOT_A_CSR = "csr is not a PKCS#10 certificate signing request (PEM, base64 of PEM or DER, or DER)"


def _malformed(message: str = _NOT_A_CSR) -> MalformedInput:
    return MalformedInput(message, entity="csr", field="csr")


def _load(raw: bytes) -> x509.CertificateSigningRequest:
    try:
        csr = x509.load_pem_x509_csr(raw) if raw.startswith(_PEM_MARK) else x509.load_der_x509_csr(raw)
        # Parsing is partly lazy: read what the policy reads now, so broken content fails here.
        _subject(csr).rfc4514_string()
        csr.extensions  # noqa: B018 - forces the attributes to parse
    except (ValueError, TypeError) as exc:
        raise _malformed() from exc
    return csr


def _subject(csr: x509.CertificateSigningRequest) -> x509.Name:
    """The subject; cryptography warns (UserWarning) on attributes outside their length limits, such
    as an empty CN, which the policy refuses with a clear message instead."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return csr.subject


def parse_csr(data: bytes | str) -> x509.CertificateSigningRequest:
    """A CSR from any accepted encoding; MalformedInput (field `csr`) when it is none of them."""
    if isinstance(data, str):
        try:
            raw = data.encode("ascii")
        except UnicodeEncodeError:
            raise _malformed("csr must be ASCII (PEM or base64) or DER bytes") from None
    else:
        raw = bytes(data)
    if len(raw) > MAX_CSR_BYTES:
        raise _malformed(f"csr is larger than {MAX_CSR_BYTES} bytes")
    if raw[:1] == b"\x30" and not _looks_like_base64(raw):
        return _load(raw)  # DER: never stripped (its last bytes may be white space)
    stripped = raw.strip()
    if not stripped:
        raise _malformed("csr is empty")
    if stripped.startswith(_PEM_MARK):
        return _load(stripped)
    try:
        decoded = base64.b64decode(b"".join(stripped.split()), validate=True)
    except (binascii.Error, ValueError):
        raise _malformed("csr is neither PEM nor valid base64 nor DER") from None
    decoded = decoded.strip() if decoded.lstrip().startswith(_PEM_MARK) else decoded
    if not decoded:
        raise _malformed("csr is empty")
    return _load(decoded)


def _looks_like_base64(raw: bytes) -> bool:
    """'0' (0x30) also starts base64 text; DER almost never consists of base64 characters only."""
    alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=\r\n \t"
    return all(byte in alphabet for byte in raw[:256])


def public_key_sha256(public_key: CertificatePublicKeyTypes) -> str:
    """Hex SHA-256 of the SubjectPublicKeyInfo DER: the same key gives the same value in a CSR and a certificate."""
    spki = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(spki).hexdigest()


def common_name(csr: x509.CertificateSigningRequest) -> str:
    """The CSR's one CN; InvalidInput when it has none, several, or an empty one."""
    names = _subject(csr).get_attributes_for_oid(NameOID.COMMON_NAME)
    if len(names) != 1:
        raise InvalidInput(
            f"the CSR subject must contain exactly one CN (it has {len(names)})", entity="csr", field="csr"
        )
    value = names[0].value
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput("the CSR's CN must not be empty", entity="csr", field="csr")
    return value


def check_key(public_key: object) -> None:
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        if not isinstance(public_key.curve, ALLOWED_CURVES):
            raise InvalidInput(
                f"the CSR's EC curve {public_key.curve.name} is not allowed (P-256 or P-384)", entity="csr", field="csr"
            )
        return
    if isinstance(public_key, rsa.RSAPublicKey):
        if not MIN_RSA_BITS <= public_key.key_size <= MAX_RSA_BITS:
            raise InvalidInput(
                f"the CSR's RSA key has {public_key.key_size} bits; {MIN_RSA_BITS} to {MAX_RSA_BITS} are allowed",
                entity="csr",
                field="csr",
            )
        return
    raise InvalidInput("the CSR's key type is not allowed (EC P-256, P-384 or RSA)", entity="csr", field="csr")


def check_csr(csr: x509.CertificateSigningRequest, expected_common_name: str) -> None:
    """The policy: signature valid, exactly one non-empty CN equal to `expected_common_name`, key allowed.

    Raises InvalidInput (field `csr`) with the reason."""
    try:
        public_key = csr.public_key()
    except (UnsupportedAlgorithm, ValueError):
        raise InvalidInput("the CSR's key type is not supported", entity="csr", field="csr") from None
    check_key(public_key)
    try:
        signature_ok = csr.is_signature_valid
    except (UnsupportedAlgorithm, ValueError):
        signature_ok = False
    if not signature_ok:
        raise InvalidInput("the CSR's signature does not verify", entity="csr", field="csr")
    name = common_name(csr)
    if not expected_common_name or name != expected_common_name:
        raise InvalidInput("the CSR's CN must equal the username", entity="csr", field="csr")
