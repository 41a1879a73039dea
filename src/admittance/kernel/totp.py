"""TOTP (RFC 6238 over RFC 4226 HOTP): HMAC-SHA1, 6 digits, 30-second steps, as every authenticator
app and Keycloak's default policy use. Secrets are 160 random bits, shown in base32."""

from __future__ import annotations

import base64
import hmac
import secrets
import struct
from urllib.parse import quote, urlencode

DIGITS = 6
PERIOD_SECONDS = 30
SECRET_BYTES = 20  # 160 bits, the size RFC 4226 recommends for HMAC-SHA1


def new_secret() -> str:
    """A fresh secret in base32 without padding (what otpauth:// URIs carry)."""
    return base64.b32encode(secrets.token_bytes(SECRET_BYTES)).decode("ascii").rstrip("=")


def _key(secret_b32: str) -> bytes:
    text = secret_b32.strip().replace(" ", "").upper()
    return base64.b32decode(text + "=" * (-len(text) % 8))


def hotp(key: bytes, counter: int, digits: int = DIGITS, digest: str = "sha1") -> str:
    mac = hmac.new(key, struct.pack(">Q", counter), digest).digest()
    offset = mac[-1] & 0x0F
    code = struct.unpack(">I", mac[offset : offset + 4])[0] & 0x7FFFFFFF
    return str(code % 10**digits).zfill(digits)


def step_at(unix_seconds: float, period: int = PERIOD_SECONDS) -> int:
    return int(unix_seconds // period)


def code_at(secret_b32: str, unix_seconds: float) -> str:
    return hotp(_key(secret_b32), step_at(unix_seconds))


def matching_step(secret_b32: str, code: str, unix_seconds: float, window: int = 1) -> int | None:
    """The time step (within ±window of now) whose code equals `code`, or None.

    Every candidate is compared in constant time and all of them are computed, whatever matches."""
    if len(code) != DIGITS or not code.isascii() or not code.isdigit():
        return None
    key = _key(secret_b32)
    now = step_at(unix_seconds)
    found: int | None = None
    for step in range(now - window, now + window + 1):
        if hmac.compare_digest(hotp(key, step).encode(), code.encode()) and found is None:
            found = step
    return found


def provisioning_uri(secret_b32: str, account: str, issuer: str) -> str:
    """otpauth://totp/<issuer>:<account>?issuer=...&secret=...&algorithm=SHA1&digits=6&period=30"""
    label = quote(f"{issuer}:{account}", safe=":@")
    query = urlencode(
        {"issuer": issuer, "secret": secret_b32, "algorithm": "SHA1", "digits": DIGITS, "period": PERIOD_SECONDS},
        quote_via=quote,
    )
    return f"otpauth://totp/{label}?{query}"


__all__ = ["DIGITS", "PERIOD_SECONDS", "code_at", "hotp", "matching_step", "new_secret", "provisioning_uri"]
