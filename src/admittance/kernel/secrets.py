"""Random secrets and keyed hashes for server-generated secrets.

Server-generated secrets carry >= 128 bits of entropy, so a keyed HMAC-SHA256 (with a server
pepper) is a safe way to store them (NIST SP 800-63B) and costs microseconds to verify.
Human-chosen passwords never take this path: they go to argon2id (see passwords.py).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import string

HMAC_SCHEME = "hmac-sha256"
_PASSWORD_ALPHABET = string.ascii_letters + string.digits


def random_password(length: int = 32) -> str:
    """A generated password: letters and digits only, so it survives every shell, CSV and URL."""
    return "".join(secrets.choice(_PASSWORD_ALPHABET) for _ in range(length))


def random_token(prefix: str, nbytes: int = 32) -> str:
    """A bearer token with a recognisable prefix (for secret scanners), e.g. `adm_...`."""
    return f"{prefix}_{secrets.token_urlsafe(nbytes)}"


class Pepper:
    """The server-wide key for keyed hashes of high-entropy secrets. Never logged."""

    def __init__(self, key: bytes) -> None:
        if len(key) < 32:
            raise ValueError("the pepper must be at least 32 bytes")
        self._key = key

    def __repr__(self) -> str:
        return "Pepper(<redacted>)"

    def digest(self, purpose: str, secret: str) -> str:
        """Hex HMAC of a secret, domain-separated by purpose so one digest never serves two uses."""
        mac = hmac.new(self._key, purpose.encode() + b"\0" + secret.encode(), hashlib.sha256)
        return mac.hexdigest()

    def password_hash(self, password: str) -> str:
        return f"{HMAC_SCHEME}${self.digest('password', password)}"

    def verify_password_hash(self, password: str, stored: str) -> bool:
        expected = self.password_hash(password)
        return hmac.compare_digest(expected.encode(), stored.encode())

    def matches(self, purpose: str, secret: str, stored_digest: str) -> bool:
        return hmac.compare_digest(self.digest(purpose, secret).encode(), stored_digest.encode())
