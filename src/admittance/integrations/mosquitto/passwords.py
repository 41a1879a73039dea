"""Password entries exactly as Mosquitto 2.0.11's dynamic-security plugin stores them: PBKDF2-HMAC-
SHA512, 101 iterations, a 12-byte salt and a 64-byte digest, both base64 (`password_mosq.h`)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass

ITERATIONS = 101  # PW_DEFAULT_ITERATIONS of 2.0.x; 2.1 raises it and adds argon2id
SALT_BYTES = 12
DIGEST_BYTES = 64


@dataclass(frozen=True, slots=True)
class PasswordEntry:
    """The `password`, `salt` and `iterations` members of a client in dynsec.json."""

    password: str
    salt: str
    iterations: int = ITERATIONS

    def as_json(self) -> dict[str, str | int]:
        return {"password": self.password, "salt": self.salt, "iterations": self.iterations}


def hash_password(password: str, salt: bytes | None = None, iterations: int = ITERATIONS) -> PasswordEntry:
    """The entry Mosquitto would write for `password` (a fresh random salt unless one is given)."""
    if not password:
        raise ValueError("Mosquitto refuses empty passwords")
    salt = secrets.token_bytes(SALT_BYTES) if salt is None else salt
    if len(salt) != SALT_BYTES:
        raise ValueError(f"the salt must be {SALT_BYTES} bytes")
    digest = hashlib.pbkdf2_hmac("sha512", password.encode("utf-8"), salt, iterations, DIGEST_BYTES)
    return PasswordEntry(_b64(digest), _b64(salt), iterations)


def verify_password(password: str, entry: PasswordEntry) -> bool:
    """Whether Mosquitto would accept `password` for this entry (constant-time compare)."""
    salt = base64.b64decode(entry.salt)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode("utf-8"), salt, entry.iterations, DIGEST_BYTES)
    return hmac.compare_digest(_b64(digest), entry.password)


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")
