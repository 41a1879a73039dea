"""TOTP against the RFC 6238 SHA-1 test vectors, the ±1 step window, URIs, and sealing at rest."""

from __future__ import annotations

import base64

import pytest

from admittance.kernel import totp
from admittance.kernel.sealing import Sealer, SealError

RFC_SECRET = base64.b32encode(b"12345678901234567890").decode()
RFC_VECTORS = [  # RFC 6238 Appendix B, SHA-1 column (8 digits)
    (59, "94287082"),
    (1111111109, "07081804"),
    (1111111111, "14050471"),
    (1234567890, "89005924"),
    (2000000000, "69279037"),
    (20000000000, "65353130"),
]


@pytest.mark.parametrize(("at", "expected"), RFC_VECTORS)
def test_rfc6238_sha1_vectors(at: int, expected: str) -> None:
    assert totp.hotp(b"12345678901234567890", totp.step_at(at), digits=8) == expected
    assert totp.code_at(RFC_SECRET, at) == expected[-6:]


def test_codes_of_the_neighbouring_steps_match_and_no_others() -> None:
    now = 1_700_000_015.0
    step = totp.step_at(now)
    for offset in (-1, 0, 1):
        code = totp.code_at(RFC_SECRET, now + offset * 30)
        assert totp.matching_step(RFC_SECRET, code, now) == step + offset
    for offset in (-3, -2, 2, 3):
        code = totp.code_at(RFC_SECRET, now + offset * 30)
        assert totp.matching_step(RFC_SECRET, code, now) is None


@pytest.mark.parametrize("code", ["", "12345", "1234567", "abcdef", "１２３４５６", "12 456"])
def test_malformed_codes_never_match(code: str) -> None:
    assert totp.matching_step(RFC_SECRET, code, 1_700_000_000.0) is None


def test_new_secrets_are_160_bits_of_base32() -> None:
    secret = totp.new_secret()
    assert len(base64.b32decode(secret + "=" * (-len(secret) % 8))) == 20
    assert secret != totp.new_secret()


def test_provisioning_uri() -> None:
    uri = totp.provisioning_uri("JBSWY3DPEHPK3PXP", "alice", "Admittance")
    assert uri == (
        "otpauth://totp/Admittance:alice?issuer=Admittance&secret=JBSWY3DPEHPK3PXP&algorithm=SHA1&digits=6&period=30"
    )


def test_sealing_round_trip_and_binding() -> None:
    sealer = Sealer(b"k" * 32, "totp-secret")
    sealed = sealer.seal("JBSWY3DPEHPK3PXP", "user:1")
    assert "JBSWY3DPEHPK3PXP" not in sealed
    assert sealed != sealer.seal("JBSWY3DPEHPK3PXP", "user:1")  # fresh nonce each time
    assert sealer.open(sealed, "user:1") == "JBSWY3DPEHPK3PXP"
    with pytest.raises(SealError):
        sealer.open(sealed, "user:2")  # copied to another user's row
    with pytest.raises(SealError):
        Sealer(b"j" * 32, "totp-secret").open(sealed, "user:1")  # another server key
    with pytest.raises(SealError):
        Sealer(b"k" * 32, "other").open(sealed, "user:1")  # another purpose
    with pytest.raises(SealError):
        sealer.open(sealed[:-4] + "AAAA", "user:1")
    with pytest.raises(SealError):
        sealer.open("v2$abc", "user:1")
