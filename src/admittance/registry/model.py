"""The client registry's types and pure rules: entries, requests, outcomes, pairing codes, the limits."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from cryptography import x509

from admittance.identity.directory_model import GrantType
from admittance.kernel.access import Permission
from admittance.kernel.errors import InvalidInput, MalformedInput
from admittance.kernel.text import has_control_chars

ENTITY = "client_registration"
DEFAULT_DURATION_MS = 30_000  # the seed's default for POST /api/client-registry/open
MIN_DURATION_MS = 1_000
MAX_DURATION_MS = 24 * 3600 * 1000
MAX_ROLES = 50
MAX_ROLE_CHARS = 200
MAX_PERMISSIONS = 100
MAX_CONTEXT_CHARS = 1000
PAIRING_CODE_CHARS = 6
# A matching poll of a pending entry refreshes it (last seen, source) at most this often unless it changed.
REFRESH_SECONDS = 60.0


class CredentialType(StrEnum):
    PASSWORD = "password"  # noqa: S105 - a credential type name
    CERTIFICATE = "certificate"


class EntryStatus(StrEnum):
    PENDING = "pending"
    GRANTED = "granted"


class Outcome(StrEnum):
    LOCKED = "locked"  # 423
    PENDING = "pending"  # 202
    GRANTED = "granted"  # 201


@dataclass(frozen=True, slots=True)
class ClientRegistration:
    id: str
    tenant_id: str
    username: str
    credential_type: CredentialType
    password_digest: str | None  # keyed digest: recognises the requester
    password_hash: str | None  # argon2id, for the user created at the grant
    csr_pem: str | None
    public_key_sha256: str | None
    roles: tuple[str, ...]
    permissions: tuple[Permission, ...]
    context: str
    pairing_code: str
    status: EntryStatus
    certificate_serial: str | None
    user_id: int | None
    source: str
    created_at: datetime
    updated_at: datetime
    certificate_pem: str | None = None  # of the certificate issued at the grant (read with the entry)

    @property
    def granted(self) -> bool:
        return self.status is EntryStatus.GRANTED

    def __repr__(self) -> str:  # digests and hashes stay out of log lines
        return f"ClientRegistration({self.tenant_id}/{self.username}, {self.status.value})"


@dataclass(frozen=True, slots=True)
class RegistrationRequest:
    """POST /api/client-registry/register as the client sent it."""

    tenant_id: str
    username: str
    password: str | None
    csr: str | None
    roles: tuple[str, ...]
    permissions: tuple[Permission, ...]
    context: str
    source: str

    def __repr__(self) -> str:  # the password must never reach a log line
        return f"RegistrationRequest({self.tenant_id}/{self.username} from {self.source})"


@dataclass(frozen=True, slots=True)
class RegisterResult:
    outcome: Outcome
    pairing_code: str | None = None
    certificate_pem: str | None = None
    user_id: int | None = None


@dataclass(frozen=True, slots=True)
class Confirmation:
    """POST /api/client-registry/confirm. None: what the request asked for (roles, permissions) or
    what its credentials call for (grant types)."""

    username: str
    tenant_id: str | None = None
    mqtt_publish_prefix: str | None = None
    grant_types: tuple[GrantType, ...] | None = None
    permissions: tuple[Permission, ...] | None = None
    roles: tuple[str, ...] | None = None


@dataclass(frozen=True, slots=True)
class CheckedRequest:
    """A request that passed the rules, with what recognises its requester."""

    credential_type: CredentialType
    password_digest: str | None
    csr: x509.CertificateSigningRequest | None
    csr_pem: str | None
    public_key_sha256: str | None


@dataclass(frozen=True, slots=True)
class RegistryPolicy:
    new_per_source: int = 30  # new entries an address may create before it waits
    new_wait_seconds: float = 60.0  # ... one more increment per `new_per_source` entries
    new_max_wait_seconds: float = 900.0
    new_reset_seconds: float = 600.0  # ... counted afresh after this long without a new entry


def pairing_code_for_key(username: str, key_sha256: str) -> str:
    """The code of a CSR request, which the device can compute itself: the first 6 hex digits of
    SHA-256 over `<username>\\n<hex SHA-256 of the public key's SubjectPublicKeyInfo DER>`."""
    return hashlib.sha256(f"{username}\n{key_sha256}".encode()).hexdigest()[:PAIRING_CODE_CHARS]


def random_pairing_code() -> str:
    """The code of a password request: random, returned in the 202 body for the device to show."""
    return secrets.token_hex(PAIRING_CODE_CHARS // 2)


def check_duration(duration_ms: object) -> int:
    if duration_ms is None:
        return DEFAULT_DURATION_MS
    if isinstance(duration_ms, bool) or not isinstance(duration_ms, int):
        raise MalformedInput("duration must be a whole number of milliseconds", entity=ENTITY, field="duration")
    if not MIN_DURATION_MS <= duration_ms <= MAX_DURATION_MS:
        raise InvalidInput(
            f"duration must be between {MIN_DURATION_MS} and {MAX_DURATION_MS} milliseconds",
            entity=ENTITY,
            field="duration",
        )
    return duration_ms


def check_wishes(request: RegistrationRequest) -> None:
    if len(request.roles) > MAX_ROLES:
        raise InvalidInput(f"roles may name at most {MAX_ROLES} roles", entity=ENTITY, field="roles")
    for role in request.roles:
        if not role or len(role) > MAX_ROLE_CHARS or has_control_chars(role, c1=True):
            raise InvalidInput(
                f"each role must have 1 to {MAX_ROLE_CHARS} characters and no control characters",
                entity=ENTITY,
                field="roles",
            )
    if len(request.permissions) > MAX_PERMISSIONS:
        raise InvalidInput(
            f"permissions may list at most {MAX_PERMISSIONS} permissions", entity=ENTITY, field="permissions"
        )
    if len(request.context) > MAX_CONTEXT_CHARS or has_control_chars(request.context):
        raise InvalidInput(
            f"context must have at most {MAX_CONTEXT_CHARS} characters and no control characters",
            entity=ENTITY,
            field="context",
        )
