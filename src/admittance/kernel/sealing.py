"""Sealing small secrets at rest (TOTP secrets) with AES-256-GCM under a key derived from the server
secret key, so a copy of the database alone does not reveal them.

The sealing key is HKDF-SHA256(server key, info=purpose): distinct from the pepper's uses, and a
different purpose gives a different key. Changing the server key makes sealed values unreadable
(as Connectware's CYBUS_MFA_ENCRYPTION_SECRET does): those users must enroll MFA again.
Format: `v1$<base64url(nonce 12 bytes || ciphertext || tag)>`, with the purpose and a caller-given
context (e.g. the user id) as associated data, so a sealed value copied to another row fails to open.
"""

from __future__ import annotations

import base64
import binascii
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

_VERSION = "v1"
_NONCE_BYTES = 12


class SealError(ValueError):
    """The sealed value cannot be opened (other key, other context, or damaged)."""


class Sealer:
    def __init__(self, server_key: bytes, purpose: str) -> None:
        key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=f"admittance-seal:{purpose}".encode()).derive(
            server_key
        )
        self._aead = AESGCM(key)
        self._purpose = purpose.encode()

    def __repr__(self) -> str:
        return "Sealer(<redacted>)"

    def seal(self, plaintext: str, context: str) -> str:
        nonce = os.urandom(_NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, plaintext.encode(), self._aad(context))
        return f"{_VERSION}${base64.urlsafe_b64encode(nonce + sealed).decode('ascii')}"

    def open(self, sealed: str, context: str) -> str:
        version, _, encoded = sealed.partition("$")
        if version != _VERSION:
            raise SealError("unknown sealing format")
        try:
            raw = base64.urlsafe_b64decode(encoded.encode("ascii"))
            return self._aead.decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], self._aad(context)).decode()
        except (InvalidTag, binascii.Error, ValueError, UnicodeError) as exc:
            raise SealError("the sealed value cannot be opened") from exc

    def _aad(self, context: str) -> bytes:
        return self._purpose + b"\0" + context.encode()
