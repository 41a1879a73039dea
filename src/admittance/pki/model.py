"""What the PKI records: the certificates the device CA issued, and the certificates the server trusts."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from cryptography import x509

from admittance.kernel.access import Permission
from admittance.kernel.principal import MANAGEMENT_TENANT

ENTITY = "certificate"
DEVICE_CA_ID = "device-ca"  # the one issuing CA row: a fixed id, so concurrent first starts agree


class IssuedVia(StrEnum):
    REGISTRY = "registry"
    EST = "est"
    RENEWAL = "renewal"
    API = "api"
    NRF_PROVISIONING = "nrf-provisioning"  # a CSR a device answered a provisioning rule with


class TrustPurpose(StrEnum):
    DEVICE_CA = "device-ca"  # the issuing CA; its key is stored sealed
    CHAIN = "chain"  # the issuing CA's issuers, up to the root (an operator-supplied intermediate)
    TRUSTED = "trusted"  # a CA certificate an operator added to the trusted store (trust only)


# RFC 5280 CRLReason names that a revocation may give (no certificateHold: revocations are final).
REVOCATION_REASONS: dict[str, x509.ReasonFlags] = {
    "unspecified": x509.ReasonFlags.unspecified,
    "keyCompromise": x509.ReasonFlags.key_compromise,
    "affiliationChanged": x509.ReasonFlags.affiliation_changed,
    "superseded": x509.ReasonFlags.superseded,
    "cessationOfOperation": x509.ReasonFlags.cessation_of_operation,
    "privilegeWithdrawn": x509.ReasonFlags.privilege_withdrawn,
}


@dataclass(frozen=True, slots=True)
class IssuedCertificate:
    serial: str  # lower-case hex
    tenant_id: str
    owner: str  # the username the certificate authenticates
    subject: str  # RFC 4514
    sha1: str  # lower-case hex of the DER
    sha256: str
    public_key_sha256: str  # hex SHA-256 of the SubjectPublicKeyInfo DER
    not_before: datetime
    not_after: datetime
    issued_via: str
    certificate_pem: str
    revoked_at: datetime | None = None
    revocation_reason: str | None = None

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None

    def valid_at(self, moment: datetime) -> bool:
        return self.not_before <= moment < self.not_after

    def state_at(self, moment: datetime) -> str:
        """REVOKED, EXPIRED, NOT_YET_VALID or VALID: what a list of certificates shows."""
        if self.revoked:
            return "REVOKED"
        if moment >= self.not_after:
            return "EXPIRED"
        if moment < self.not_before:
            return "NOT_YET_VALID"
        return "VALID"

    def certificate(self) -> x509.Certificate:
        return x509.load_pem_x509_certificate(self.certificate_pem.encode("ascii"))


@dataclass(frozen=True, slots=True)
class TrustedCertificate:
    id: str
    purpose: str  # TrustPurpose value
    certificate_pem: str
    sha1: str
    sha256: str
    removable: bool

    def certificate(self) -> x509.Certificate:
        return x509.load_pem_x509_certificate(self.certificate_pem.encode("ascii"))


@dataclass(frozen=True, slots=True)
class StoredCa:
    """The issuing CA row: its certificate and its sealed private key (never leaves the service)."""

    certificate: TrustedCertificate
    key_sealed: str

    def __repr__(self) -> str:
        return f"StoredCa({self.certificate.sha256})"


@dataclass(frozen=True, slots=True)
class CertificateUser:
    """What certificate authentication needs of a user, read fresh."""

    user_id: int
    tenant_id: str
    username: str
    enabled: bool
    roles: frozenset[str]
    stored_permissions: frozenset[Permission]
    grant_methods: frozenset[str]  # of users.grant_types: "password", "certificate", "token"


@dataclass(frozen=True)
class PkiPolicy:
    ca_key_type: str = "ec-p256"
    ca_common_name: str = "Admittance Device CA"
    ca_validity_days: int = 3650
    certificate_validity_days: int = 365
    crl_validity_hours: float = 24.0
    renewal_grace_days: float = 0.0  # 0: an expired certificate cannot be renewed
    # Tenants whose administrators may change the trusted store (global to the server).
    trusted_store_tenants: frozenset[str] = field(default_factory=lambda: frozenset({MANAGEMENT_TENANT}))


def normal_serial(serial: str) -> str | None:
    """A serial number as stored (lower-case hex, no colons or leading zeros); None when it is not one."""
    text = serial.strip().lower().replace(":", "")
    if not text or len(text) > 64 or any(char not in "0123456789abcdef" for char in text):
        return None
    return text.lstrip("0") or "0"
