"""The trusted store behind /api/certificates: the device CA, its chain, and the CA certificates operators
added (trust only: they authenticate clients whose certificates chain to them). Only administrators
of the server's own tenants may change it.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

from cryptography import x509

from admittance.audit import AuditEvent, AuditTag
from admittance.kernel.clock import Clock
from admittance.kernel.errors import InvalidInput, InvalidState, MalformedInput, NotFound, PermissionDenied
from admittance.kernel.principal import Principal
from admittance.kernel.storage import Storage
from admittance.pki.authority import CertificateAuthority, trusted_row
from admittance.pki.ca import is_ca, pem
from admittance.pki.model import ENTITY, TrustedCertificate, TrustPurpose
from admittance.pki.store import PkiTransaction

MAX_TRUSTED_PER_REQUEST = 50


class TrustStoreService:
    def __init__(self, storage: Storage[PkiTransaction], authority: CertificateAuthority, clock: Clock) -> None:
        self._storage = storage
        self._authority = authority
        self._clock = clock

    async def ca_certificates(self) -> list[x509.Certificate]:
        """The issuing CA first, then its chain up to the root."""
        return await self._authority.ca_certificates()

    async def ca_pem(self) -> str:
        return "".join(pem(certificate) for certificate in await self.ca_certificates())

    async def trust_anchors(self) -> list[x509.Certificate]:
        """Every certificate of the trusted store (device CA, its chain, the CAs operators added)."""
        async with self._storage.read() as tx:
            return [item.certificate() for item in await tx.certificates.trusted()]

    async def list_trusted(self, principal: Principal) -> list[TrustedCertificate]:
        async with self._storage.read() as tx:
            return await tx.certificates.trusted()

    def _require_store_admin(self, principal: Principal) -> None:
        if principal.tenant_id not in self._authority.policy.trusted_store_tenants:
            raise PermissionDenied("Only administrators of the server's own tenant may change the trusted store")

    async def add_trusted(self, principal: Principal, pem_text: str) -> list[TrustedCertificate]:
        """Add one or more PEM CA certificates; one already in the store is skipped (idempotent).
        Only CA certificates (basicConstraints CA:TRUE) are accepted; nothing is added otherwise."""
        self._require_store_admin(principal)
        if "-----BEGIN CERTIFICATE-----" not in pem_text:
            raise MalformedInput("the body must be a JSON string holding PEM certificates", entity=ENTITY)
        try:
            certificates = x509.load_pem_x509_certificates(pem_text.encode("ascii", "strict"))
        except (ValueError, UnicodeEncodeError):
            raise MalformedInput("the PEM text holds a certificate that cannot be read", entity=ENTITY) from None
        if len(certificates) > MAX_TRUSTED_PER_REQUEST:
            raise InvalidInput(f"at most {MAX_TRUSTED_PER_REQUEST} certificates per request", entity=ENTITY)
        for certificate in certificates:
            if not is_ca(certificate):
                raise InvalidInput(
                    f"only CA certificates can be trusted; {certificate.subject.rfc4514_string()} is not a CA",
                    entity=ENTITY,
                )
        now = self._clock.now()
        async with self._storage.transaction() as tx:
            for index, certificate in enumerate(certificates):
                row = trusted_row(certificate, TrustPurpose.TRUSTED, str(uuid.uuid4()), removable=True)
                # A millisecond apart: the list keeps the order of the request.
                if await tx.certificates.insert_trusted(row, None, now + timedelta(milliseconds=index)):
                    await tx.audit.record(
                        AuditEvent(
                            AuditTag.TRUSTED_CERTIFICATE_ADDED,
                            principal.tenant_id,
                            f"{principal.tenant_id}/{principal.username}",
                            f"certificate:{row.id}",
                            now,
                            {"sha256": row.sha256, "subject": certificate.subject.rfc4514_string()},
                        )
                    )
            return await tx.certificates.trusted()

    async def get_trusted(self, principal: Principal, certificate_id: str) -> TrustedCertificate:
        async with self._storage.read() as tx:
            found = await tx.certificates.get_trusted(certificate_id)
        if found is None:
            raise NotFound("No trusted certificate with that id", entity=ENTITY)
        return found

    async def trusted_pem(self, principal: Principal, certificate_id: str) -> str:
        return (await self.get_trusted(principal, certificate_id)).certificate_pem

    async def remove_trusted(self, principal: Principal, certificate_id: str) -> None:
        self._require_store_admin(principal)
        now = self._clock.now()
        async with self._storage.transaction() as tx:
            found = await tx.certificates.get_trusted(certificate_id)
            if found is None:
                raise NotFound("No trusted certificate with that id", entity=ENTITY)
            if not found.removable:
                raise InvalidState(
                    "the device CA and its chain cannot be removed (they are configured, not added)", entity=ENTITY
                )
            await tx.certificates.delete_trusted(certificate_id)
            await tx.audit.record(
                AuditEvent(
                    AuditTag.TRUSTED_CERTIFICATE_REMOVED,
                    principal.tenant_id,
                    f"{principal.tenant_id}/{principal.username}",
                    f"certificate:{certificate_id}",
                    now,
                    {"sha256": found.sha256},
                )
            )
