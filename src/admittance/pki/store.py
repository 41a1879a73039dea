"""What the PKI needs: from storage (storage/sql/certificates.py implements it as `tx.certificates`), and
the uniform authentication failure of identity's Authenticator."""

from __future__ import annotations

from datetime import datetime
from typing import NoReturn, Protocol

from admittance.audit import AuditStore
from admittance.kernel.paging import Page, PageRequest
from admittance.pki.model import CertificateUser, IssuedCertificate, StoredCa, TrustedCertificate


class CertificateStore(Protocol):
    async def device_ca(self) -> StoredCa | None:
        """The issuing CA row with its sealed key, or None before the first start made one."""
        ...

    async def insert_trusted(self, certificate: TrustedCertificate, key_sealed: str | None, now: datetime) -> bool:
        """Insert unless the id or the SHA-256 is there already (False then); never fails on that."""
        ...

    async def replace_device_ca(self, certificate: TrustedCertificate, key_sealed: str) -> None:
        """Put another certificate and key in the issuing CA row (an operator's CA replaced the stored one)."""
        ...

    async def trusted(self) -> list[TrustedCertificate]:
        """Every trusted certificate: the device CA, its chain, then those added, oldest first."""
        ...

    async def get_trusted(self, certificate_id: str) -> TrustedCertificate | None: ...

    async def delete_trusted(self, certificate_id: str) -> bool: ...

    async def delete_chain(self) -> None:
        """Remove the rows of purpose 'chain' (before a new chain is stored)."""
        ...

    async def insert_issued(self, certificate: IssuedCertificate, now: datetime) -> None: ...

    async def issued_by_serial(self, serial: str) -> IssuedCertificate | None: ...

    async def issued_by_sha256(self, sha256: str) -> IssuedCertificate | None: ...

    async def issued_page(self, tenant_id: str | None, owner: str | None, page: PageRequest) -> Page[IssuedCertificate]:
        """Newest first; `tenant_id` None: every tenant."""
        ...

    async def revoke(self, serial: str, at: datetime, reason: str) -> bool:
        """Mark revoked unless it is already; False when nothing changed."""
        ...

    async def revoked_unexpired(self, now: datetime) -> list[IssuedCertificate]: ...

    async def crl_version(self) -> str:
        """Cheap to compute, changes with every revocation (count and latest time of revocations)."""
        ...

    async def certificate_user(self, tenant_id: str, username: str) -> CertificateUser | None: ...

    async def registered_holders(self, sha256: str, sha1: str) -> list[tuple[str, str]]:
        """(tenant, username) of users with one of these fingerprints in user_certificates, unexpired (at most 2)."""
        ...


class PkiTransaction(Protocol):
    @property
    def certificates(self) -> CertificateStore: ...

    @property
    def audit(self) -> AuditStore: ...


class FailureGate(Protocol):
    """The Authenticator's uniform failure: rate limit by source, one answer, one minimum delay."""

    def started(self) -> float: ...

    def check_source(self, source: str) -> None: ...

    async def reject_token(self, source: str, started: float, reason: str) -> NoReturn: ...
