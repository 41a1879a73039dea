"""Issuing device certificates and finding them; authentication by client certificate and renewal by
the holder of one we issued. `CertificateIssuer` is what other contexts issue through (the client
registry, EST, nRF provisioning), inside their own transaction.

Every certificate issued is recorded and audited in the transaction that issues it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Protocol

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from admittance.audit import AuditEvent, AuditTag
from admittance.kernel.clock import Clock
from admittance.kernel.errors import InvalidInput, NotFound
from admittance.kernel.paging import Page, PageRequest
from admittance.kernel.principal import MANAGEMENT_TENANT, Principal, Role
from admittance.kernel.storage import Storage
from admittance.pki.authority import SYSTEM_ACTOR, CertificateAuthority
from admittance.pki.ca import fingerprints, issue_client_certificate, issue_server_certificate, pem
from admittance.pki.csr import check_csr, public_key_sha256
from admittance.pki.model import ENTITY, IssuedCertificate, IssuedVia, normal_serial
from admittance.pki.store import FailureGate, PkiTransaction

log = logging.getLogger("admittance.pki")
CERTIFICATE_GRANT = "certificate"


class CertificateIssuer(Protocol):
    """What other contexts need of the PKI to issue a certificate (IssuingService)."""

    async def ca_certificates(self) -> list[x509.Certificate]:
        """The issuing CA first, then its chain up to the root."""
        ...

    async def issue_in(
        self,
        tx: PkiTransaction,
        csr: x509.CertificateSigningRequest,
        *,
        tenant_id: str,
        owner: str,
        common_name: str,
        issued_via: str,
        actor: str | None = None,
    ) -> IssuedCertificate:
        """Check the CSR against the policy, issue, record and audit, in the caller's transaction."""
        ...

    async def renew(
        self, holder_der: bytes, csr: x509.CertificateSigningRequest, *, via: str = ..., source: str = ...
    ) -> IssuedCertificate: ...


def _issued_record(certificate: x509.Certificate, tenant_id: str, owner: str, issued_via: str) -> IssuedCertificate:
    sha1, sha256 = fingerprints(certificate)
    return IssuedCertificate(
        serial=format(certificate.serial_number, "x"),
        tenant_id=tenant_id,
        owner=owner,
        subject=certificate.subject.rfc4514_string(),
        sha1=sha1,
        sha256=sha256,
        public_key_sha256=public_key_sha256(certificate.public_key()),
        not_before=certificate.not_valid_before_utc,
        not_after=certificate.not_valid_after_utc,
        issued_via=issued_via,
        certificate_pem=pem(certificate),
    )


class IssuingService:
    def __init__(
        self, storage: Storage[PkiTransaction], authority: CertificateAuthority, clock: Clock, gate: FailureGate
    ) -> None:
        self._storage = storage
        self._authority = authority
        self._clock = clock
        self._gate = gate

    def __repr__(self) -> str:
        return "IssuingService(<redacted>)"

    async def ca_certificates(self) -> list[x509.Certificate]:
        """The issuing CA first, then its chain up to the root."""
        return await self._authority.ca_certificates()

    async def issue_server_certificate(self, names: Sequence[str]) -> tuple[bytes, bytes]:
        """A TLS server certificate for `admittance serve` and a new EC P-256 key: (certificate PEM
        followed by the CA chain, key PEM). Not recorded as a device certificate (it cannot
        authenticate a client: its only EKU is serverAuth); audited."""
        if not names:
            raise InvalidInput("a server certificate needs at least one name")
        key = ec.generate_private_key(ec.SECP256R1())
        now = self._clock.now()
        async with self._storage.transaction() as tx:
            ca = await self._authority.current(tx)
            certificate = issue_server_certificate(
                ca, key.public_key(), names, now, self._authority.policy.certificate_validity_days
            )
            await tx.audit.record(
                AuditEvent(
                    AuditTag.CERTIFICATE_ISSUED,
                    MANAGEMENT_TENANT,
                    SYSTEM_ACTOR,
                    "server",
                    now,
                    {"serial": format(certificate.serial_number, "x"), "via": "server", "names": list(names)},
                )
            )
        chain = "".join(pem(item) for item in (certificate, ca.certificate, *ca.chain))
        key_pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        return chain.encode("ascii"), key_pem

    # --- issuing and finding ------------------------------------------------------------------

    async def issue_in(
        self,
        tx: PkiTransaction,
        csr: x509.CertificateSigningRequest,
        *,
        tenant_id: str,
        owner: str,
        common_name: str,
        issued_via: str,
        actor: str | None = None,
    ) -> IssuedCertificate:
        """Check the CSR against the policy (its CN must be `common_name`), issue, record and audit,
        in the caller's transaction."""
        check_csr(csr, common_name)
        return await self._issue(
            tx, csr, tenant_id, owner, common_name, issued_via, actor, AuditTag.CERTIFICATE_ISSUED, {}
        )

    async def issue(
        self,
        csr: x509.CertificateSigningRequest,
        *,
        tenant_id: str,
        owner: str,
        common_name: str,
        issued_via: str,
        actor: str | None = None,
    ) -> IssuedCertificate:
        async with self._storage.transaction() as tx:
            return await self.issue_in(
                tx, csr, tenant_id=tenant_id, owner=owner, common_name=common_name, issued_via=issued_via, actor=actor
            )

    async def _issue(
        self,
        tx: PkiTransaction,
        csr: x509.CertificateSigningRequest,
        tenant_id: str,
        owner: str,
        common_name: str,
        issued_via: str,
        actor: str | None,
        tag: AuditTag,
        detail: dict[str, object],
    ) -> IssuedCertificate:
        if issued_via not in {via.value for via in IssuedVia}:
            raise ValueError(f"unknown issuing path {issued_via!r}")
        ca = await self._authority.current(tx)
        now = self._clock.now()
        certificate = issue_client_certificate(
            ca, csr.public_key(), common_name, now, self._authority.policy.certificate_validity_days
        )
        record = _issued_record(certificate, tenant_id, owner, issued_via)
        await tx.certificates.insert_issued(record, now)
        await tx.audit.record(
            AuditEvent(
                tag,
                tenant_id,
                actor or f"{tenant_id}/{owner}",
                owner,
                now,
                {
                    "serial": record.serial,
                    "sha256": record.sha256,
                    "via": issued_via,
                    "notAfter": record.not_after.isoformat(),
                    **detail,
                },
            )
        )
        log.info("issued certificate %s to %s/%s via %s", record.serial, tenant_id, owner, issued_via)
        return record

    async def find_by_sha256(self, sha256: str) -> IssuedCertificate | None:
        async with self._storage.read() as tx:
            return await tx.certificates.issued_by_sha256(sha256.strip().lower().replace(":", ""))

    async def find_by_serial(self, serial: str) -> IssuedCertificate | None:
        normal = normal_serial(serial)
        if normal is None:
            return None
        async with self._storage.read() as tx:
            return await tx.certificates.issued_by_serial(normal)

    async def get_issued(self, principal: Principal, serial: str) -> IssuedCertificate:
        found = await self.find_by_serial(serial)
        if found is None or not principal.can_see_tenant(found.tenant_id):
            raise NotFound("No certificate with that serial number", entity=ENTITY)
        return found

    async def list_issued(self, principal: Principal, owner: str | None, page: PageRequest) -> Page[IssuedCertificate]:
        """Certificates issued in the caller's tenant (every tenant for the management tenant), newest first."""
        tenant = None if principal.in_management_tenant else principal.tenant_id
        async with self._storage.read() as tx:
            return await tx.certificates.issued_page(tenant, owner, page)

    async def grant_methods_of(self, principal: Principal, username: str) -> frozenset[str] | None:
        """How a user of the caller's tenant may authenticate ("password", "certificate", "token");
        None when there is no such user. For showing a device's credentials state."""
        principal.require(
            Role.INVENTORY_READ, Role.INVENTORY_ADMIN, Role.USER_MANAGEMENT_READ, Role.USER_MANAGEMENT_ADMIN
        )
        async with self._storage.read() as tx:
            found = await tx.certificates.certificate_user(principal.tenant_id, username)
        return None if found is None else found.grant_methods

    # --- certificate authentication and renewal -----------------------------------------------

    async def principal_for_certificate(self, der: bytes, source: str) -> Principal:
        """The user a verified client certificate authenticates: one we issued (unexpired, unrevoked)
        or one whose fingerprint is registered for its CN's user; the owner must be enabled and hold
        the `certificate` grant type. Any failure: the uniform Unauthenticated."""
        self._gate.check_source(source)
        started = self._gate.started()
        tenant_id, username, _issued = await self._holder(der, source, started, grace=False)
        return await self._certificate_principal(tenant_id, username, source, started)

    async def _certificate_principal(self, tenant_id: str, username: str, source: str, started: float) -> Principal:
        async with self._storage.read() as tx:
            user = await tx.certificates.certificate_user(tenant_id, username)
        if user is None:
            await self._gate.reject_token(source, started, "certificate owner unknown")
        if not user.enabled:
            await self._gate.reject_token(source, started, "certificate owner disabled")
        if CERTIFICATE_GRANT not in user.grant_methods:
            await self._gate.reject_token(source, started, "certificate grant type not allowed for the owner")
        return Principal.of(user.user_id, user.tenant_id, user.username, user.roles, user.stored_permissions)

    async def _holder(
        self, der: bytes, source: str, started: float, *, grace: bool
    ) -> tuple[str, str, IssuedCertificate | None]:
        try:
            certificate = x509.load_der_x509_certificate(der)
            sha1, sha256 = fingerprints(certificate)
        except ValueError:
            await self._gate.reject_token(source, started, "unreadable client certificate")
        now = self._clock.now()
        async with self._storage.read() as tx:
            issued = await tx.certificates.issued_by_sha256(sha256)
            holders = [] if issued is not None else await tx.certificates.registered_holders(sha256, sha1)
        if issued is not None:
            if issued.revoked:
                await self._gate.reject_token(source, started, f"certificate {issued.serial} revoked")
            if now < issued.not_before:
                await self._gate.reject_token(source, started, f"certificate {issued.serial} not yet valid")
            if now >= issued.not_after and not (grace and self._within_grace(issued, now)):
                await self._gate.reject_token(source, started, f"certificate {issued.serial} expired")
            return issued.tenant_id, issued.owner, issued
        if grace:
            await self._gate.reject_token(source, started, "renewal of a certificate this CA did not issue")
        if not certificate.not_valid_before_utc <= now < certificate.not_valid_after_utc:
            await self._gate.reject_token(source, started, "registered certificate outside its validity")
        names = certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        name = names[0].value if len(names) == 1 else None
        matching = [holder for holder in holders if holder[1] == name]
        if len(matching) != 1:
            await self._gate.reject_token(source, started, "unknown client certificate")
        return matching[0][0], matching[0][1], None

    def _within_grace(self, issued: IssuedCertificate, now: datetime) -> bool:
        grace = self._authority.policy.renewal_grace_days
        return grace > 0 and now - issued.not_after < timedelta(days=grace)

    async def renew(
        self,
        holder_der: bytes,
        csr: x509.CertificateSigningRequest,
        *,
        via: str = IssuedVia.RENEWAL.value,
        source: str = "unknown",
    ) -> IssuedCertificate:
        """A new certificate for the holder of one we issued: same CN, owner and tenant; the holder's
        certificate unrevoked and unexpired, or expired less than `renewal_grace_days` ago, in which
        case the CSR must carry the same key (proof of possession). Authentication failures are the
        uniform Unauthenticated; a CSR outside the policy is InvalidInput."""
        self._gate.check_source(source)
        started = self._gate.started()
        tenant_id, owner, issued = await self._holder(holder_der, source, started, grace=True)
        assert issued is not None
        now = self._clock.now()
        same_key = public_key_sha256(csr.public_key()) == issued.public_key_sha256
        if now >= issued.not_after and not same_key:
            await self._gate.reject_token(source, started, "renewal after expiry with another key")
        await self._certificate_principal(tenant_id, owner, source, started)
        common_name = issued.certificate().subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
        assert isinstance(common_name, str)
        check_csr(csr, common_name)
        async with self._storage.transaction() as tx:
            return await self._issue(
                tx,
                csr,
                tenant_id,
                owner,
                common_name,
                via,
                f"{tenant_id}/{owner}",
                AuditTag.CERTIFICATE_RENEWED,
                {"previous": issued.serial, "afterExpiry": now >= issued.not_after},
            )
