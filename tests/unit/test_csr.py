"""CSR parsing (every accepted encoding, every malformed input) and the CSR policy (every refusal)."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from admittance.kernel.errors import InvalidInput, MalformedInput
from admittance.pki.ca import generate_ca, issue_client_certificate
from admittance.pki.csr import check_csr, parse_csr, public_key_sha256
from tests.support.pki import csr_der, csr_pem, ec_key, make_csr

KEY = ec_key()
CSR = make_csr(KEY, "device-1")


@pytest.mark.parametrize(
    "encode",
    [
        lambda csr: csr_pem(csr),
        lambda csr: csr_pem(csr).encode(),
        lambda csr: base64.b64encode(csr_pem(csr).encode()).decode(),
        lambda csr: base64.encodebytes(csr_pem(csr).encode()).decode(),  # with line breaks, as the seed shows
        lambda csr: base64.b64encode(csr_der(csr)).decode(),
        lambda csr: base64.encodebytes(csr_der(csr)),  # EST: base64 DER with line breaks
        lambda csr: csr_der(csr),
        lambda csr: "\n  " + csr_pem(csr) + "\n\n",
        lambda csr: csr_pem(csr).replace("CERTIFICATE REQUEST", "NEW CERTIFICATE REQUEST"),
    ],
    ids=["pem", "pem-bytes", "b64-pem", "b64-pem-lines", "b64-der", "b64-der-lines", "der", "pem-spaces", "new-pem"],
)
def test_every_encoding_parses(encode) -> None:  # type: ignore[no-untyped-def]
    parsed = parse_csr(encode(CSR))
    assert parsed == CSR
    check_csr(parsed, "device-1")


@pytest.mark.parametrize(
    "data",
    [
        "",
        "   ",
        b"",
        "not base64 at all!",
        "aGVsbG8gd29ybGQ=",  # base64 of "hello world": decodes, but not a CSR
        base64.b64encode(b"-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n").decode(),
        "-----BEGIN CERTIFICATE REQUEST-----\nnot base64\n-----END CERTIFICATE REQUEST-----\n",
        b"\x30\x03\x02\x01\x01",  # DER, but not a CSR
        "MIIB" + "@" * 10,
        "é" * 10,
        b"\x30" + b"\xff" * 100,
    ],
    ids=[
        "empty",
        "blank",
        "empty-bytes",
        "garbage",
        "b64-not-csr",
        "b64-bad-pem",
        "pem-bad-body",
        "der-not-csr",
        "bad-b64-chars",
        "non-ascii",
        "der-garbage",
    ],
)
def test_malformed_is_refused(data: str | bytes) -> None:
    with pytest.raises(MalformedInput) as caught:
        parse_csr(data)
    assert caught.value.field == "csr"


def test_a_certificate_is_not_a_csr() -> None:
    ca = generate_ca("Test CA", "ec-p256", 10, datetime.now(UTC))
    certificate = issue_client_certificate(ca, KEY.public_key(), "device-1", datetime.now(UTC), 1)
    from cryptography.hazmat.primitives import serialization

    with pytest.raises(MalformedInput):
        parse_csr(certificate.public_bytes(serialization.Encoding.PEM))


def test_oversized_is_refused() -> None:
    with pytest.raises(MalformedInput, match="larger"):
        parse_csr("A" * 70_000)


def test_tampered_signature_is_refused() -> None:
    der = bytearray(csr_der(CSR))
    der[-3] ^= 0x01  # inside the signature
    with pytest.raises(InvalidInput, match="signature"):
        check_csr(parse_csr(bytes(der)), "device-1")


def test_tampered_subject_is_refused() -> None:
    der = csr_der(make_csr(KEY, "device-1"))
    tampered = der.replace(b"device-1", b"device-2")
    with pytest.raises(InvalidInput, match="signature"):
        check_csr(parse_csr(tampered), "device-2")


def test_cn_must_match() -> None:
    with pytest.raises(InvalidInput, match="CN must equal"):
        check_csr(CSR, "device-2")
    with pytest.raises(InvalidInput, match="CN must equal"):
        check_csr(CSR, "Device-1")  # exact, not case-insensitive
    with pytest.raises(InvalidInput):
        check_csr(CSR, "")


def test_two_cns_are_refused() -> None:
    with pytest.raises(InvalidInput, match="exactly one CN"):
        check_csr(make_csr(KEY, "device-1", "device-1"), "device-1")


def test_no_cn_is_refused() -> None:
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "ACME")]))
        .sign(KEY, hashes.SHA256())
    )
    with pytest.raises(InvalidInput, match="exactly one CN"):
        check_csr(csr, "device-1")


def test_empty_cn_is_refused() -> None:
    csr = make_csr(KEY, " ")
    with pytest.raises(InvalidInput, match="must not be empty"):
        check_csr(csr, " ")


def test_rsa_1024_is_refused() -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=1024)  # noqa: S505 - the refused size
    with pytest.raises(InvalidInput, match="1024 bits"):
        check_csr(make_csr(key, "device-1"), "device-1")


def test_rsa_2048_is_accepted() -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    check_csr(parse_csr(csr_pem(make_csr(key, "device-1"))), "device-1")


@pytest.mark.parametrize("curve", [ec.SECP521R1(), ec.SECP256K1(), ec.SECP224R1()], ids=lambda c: c.name)
def test_unsupported_curve_is_refused(curve: ec.EllipticCurve) -> None:
    with pytest.raises(InvalidInput, match="curve"):
        check_csr(make_csr(ec.generate_private_key(curve), "device-1"), "device-1")


def test_p384_is_accepted() -> None:
    check_csr(make_csr(ec_key(ec.SECP384R1()), "device-1"), "device-1")


def test_ed25519_is_refused() -> None:
    key = ed25519.Ed25519PrivateKey.generate()
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "device-1")]))
        .sign(key, None)
    )
    with pytest.raises(InvalidInput, match="key type"):
        check_csr(parse_csr(csr_pem(csr)), "device-1")


def test_extensions_of_the_csr_are_not_copied() -> None:
    asked = make_csr(
        KEY,
        "device-1",
        extensions=[
            x509.BasicConstraints(ca=True, path_length=None),
            x509.SubjectAlternativeName([x509.DNSName("evil.example")]),
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CODE_SIGNING]),
        ],
    )
    check_csr(asked, "device-1")  # allowed: what it asks for is simply ignored
    ca = generate_ca("Test CA", "ec-p256", 10, datetime.now(UTC))
    issued = issue_client_certificate(ca, asked.public_key(), "device-1", datetime.now(UTC), 30)
    assert issued.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
    with pytest.raises(x509.ExtensionNotFound):
        issued.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    assert list(issued.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value) == [
        ExtendedKeyUsageOID.CLIENT_AUTH
    ]


def test_public_key_sha256_is_the_same_in_csr_and_certificate() -> None:
    ca = generate_ca("Test CA", "ec-p256", 10, datetime.now(UTC))
    issued = issue_client_certificate(ca, CSR.public_key(), "device-1", datetime.now(UTC), 30)
    assert public_key_sha256(issued.public_key()) == public_key_sha256(CSR.public_key())
    assert public_key_sha256(ec_key().public_key()) != public_key_sha256(CSR.public_key())
