"""The device PKI's use cases: the CA at start, issuing, finding, renewing and revoking certificates,
the CRL, certificate authentication, and the trusted store behind /api/certificates.

The CA's private key lives in the database sealed (kernel/sealing, purpose `ca-key`, the
certificate's SHA-256 as context) and in this process's memory once opened; it is never logged
and never returned. Every state change is one transaction with its audit event.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import NoReturn, Protocol

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from admittance.audit import AuditEvent, AuditTag
from admittance.kernel.clock import Clock
from admittance.kernel.errors import InvalidInput, InvalidState, MalformedInput, NotFound, PermissionDenied, Unavailable
from admittance.kernel.paging import Page, PageRequest
from admittance.kernel.principal import MANAGEMENT_TENANT, Principal, Role
from admittance.kernel.sealing import Sealer, SealError
from admittance.pki.ca import (
    CaMaterial,
    Revocation,
    build_crl,
    fingerprints,
    generate_ca,
    is_ca,
    issue_client_certificate,
    issue_server_certificate,
    order_chain,
    pem,
)
from admittance.pki.csr import check_csr, public_key_sha256
from admittance.pki.model import (
    DEVICE_CA_ID,
    ENTITY,
    REVOCATION_REASONS,
    IssuedCertificate,
    IssuedVia,
    StoredCa,
    TrustedCertificate,
    TrustPurpose,
)
from admittance.pki.store import PkiStorage, PkiTransaction

log = logging.getLogger("admittance.pki")
SEAL_PURPOSE = "ca-key"
MAX_TRUSTED_PER_REQUEST = 50
CERTIFICATE_GRANT = "certificate"
SYSTEM_ACTOR = "system"


class FailureGate(Protocol):
    """The Authenticator's uniform failure: rate limit by source, one answer, one minimum delay."""

    def started(self) -> float: ...

    def check_source(self, source: str) -> None: ...

    async def reject_token(self, source: str, started: float, reason: str) -> NoReturn: ...


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


@dataclass(frozen=True, slots=True)
class _Crl:
    key: str
    this_update: datetime
    der: bytes


def _trusted_row(
    certificate: x509.Certificate, purpose: TrustPurpose, row_id: str, removable: bool
) -> TrustedCertificate:
    sha1, sha256 = fingerprints(certificate)
    return TrustedCertificate(row_id, purpose.value, pem(certificate), sha1, sha256, removable)


def _chain_id(sha256: str) -> str:
    return f"chain-{sha256[:30]}"


def _normal_serial(serial: str) -> str | None:
    text = serial.strip().lower().replace(":", "")
    if not text or len(text) > 64 or any(char not in "0123456789abcdef" for char in text):
        return None
    return text.lstrip("0") or "0"


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


class CertificateService:
    def __init__(
        self,
        storage: PkiStorage,
        sealer: Sealer,
        clock: Clock,
        gate: FailureGate,
        policy: PkiPolicy | None = None,
        *,
        imported: CaMaterial | None = None,
    ) -> None:
        self._storage = storage
        self._sealer = sealer
        self._clock = clock
        self._gate = gate
        self._policy = policy or PkiPolicy()
        self._imported = imported
        self._ca: CaMaterial | None = None
        self._ca_sha256: str | None = None
        self._crl: _Crl | None = None
        self._lock = asyncio.Lock()

    def __repr__(self) -> str:
        return "CertificateService(<redacted>)"

    @property
    def policy(self) -> PkiPolicy:
        return self._policy

    # --- the CA -------------------------------------------------------------------------------

    async def ensure_ca(self) -> None:
        """Generate the device CA, or store the operator's; idempotent, and safe when several
        processes start at once (the issuing CA row has a fixed id: the first insert wins, every
        process then uses what is stored)."""
        async with self._storage.read() as tx:
            stored = await tx.certificates.device_ca()
        if self._imported is not None:
            if stored is None or stored.certificate.sha256 != fingerprints(self._imported.certificate)[1]:
                await self._store_imported(self._imported)
            else:
                await self._store_chain_if_missing(self._imported)
        elif stored is None:
            policy = self._policy
            material = await asyncio.to_thread(
                generate_ca, policy.ca_common_name, policy.ca_key_type, policy.ca_validity_days, self._clock.now()
            )
            row = _trusted_row(material.certificate, TrustPurpose.DEVICE_CA, DEVICE_CA_ID, removable=False)
            async with self._storage.transaction() as tx:
                if await tx.certificates.insert_trusted(row, self._seal(material, row.sha256), self._clock.now()):
                    await tx.audit.record(self._ca_event(AuditTag.CA_CREATED, row, {"keyType": policy.ca_key_type}))
                    log.info("generated the device CA %s (%s)", row.sha256, policy.ca_key_type)
        async with self._storage.read() as tx:
            await self._current_ca(tx)

    async def _store_imported(self, material: CaMaterial) -> None:
        row = _trusted_row(material.certificate, TrustPurpose.DEVICE_CA, DEVICE_CA_ID, removable=False)
        now = self._clock.now()
        async with self._storage.transaction() as tx:
            store = tx.certificates
            current = await store.device_ca()
            if current is not None and current.certificate.sha256 == row.sha256:
                return  # another process stored it meanwhile
            await self._drop_same(tx, row.sha256)
            if current is None:
                await store.insert_trusted(row, self._seal(material, row.sha256), now)
            else:
                # The previous CA stays trusted (its certificates still chain), as a removable entry.
                previous = replace(
                    current.certificate, id=str(uuid.uuid4()), purpose=TrustPurpose.TRUSTED.value, removable=True
                )
                await store.replace_device_ca(row, self._seal(material, row.sha256))
                await store.insert_trusted(previous, None, now)
            await store.delete_chain()
            for parent in material.chain:
                await self._put_chain(tx, parent, now)
            await tx.audit.record(
                self._ca_event(
                    AuditTag.CA_IMPORTED,
                    row,
                    {"chain": len(material.chain), "replaced": current.certificate.sha256 if current else None},
                )
            )
        log.info("stored the operator's device CA %s with %d chain certificates", row.sha256, len(material.chain))

    async def _store_chain_if_missing(self, material: CaMaterial) -> None:
        if not material.chain:
            return
        async with self._storage.read() as tx:
            present = {item.sha256 for item in await tx.certificates.trusted() if item.purpose == TrustPurpose.CHAIN}
        if all(fingerprints(parent)[1] in present for parent in material.chain):
            return
        async with self._storage.transaction() as tx:
            for parent in material.chain:
                await self._put_chain(tx, parent, self._clock.now())

    async def _put_chain(self, tx: PkiTransaction, parent: x509.Certificate, now: datetime) -> None:
        row = _trusted_row(parent, TrustPurpose.CHAIN, "", removable=False)
        row = replace(row, id=_chain_id(row.sha256))
        await self._drop_same(tx, row.sha256, keep=row.id)
        await tx.certificates.insert_trusted(row, None, now)

    @staticmethod
    async def _drop_same(tx: PkiTransaction, sha256: str, keep: str = DEVICE_CA_ID) -> None:
        """An operator-added trusted row for the same certificate gives way to the CA's own row."""
        for item in await tx.certificates.trusted():
            if item.sha256 == sha256 and item.id != keep and item.purpose == TrustPurpose.TRUSTED:
                await tx.certificates.delete_trusted(item.id)

    def _seal(self, material: CaMaterial, sha256: str) -> str:
        return self._sealer.seal(material.key_pem(), sha256)

    def _ca_event(self, tag: AuditTag, row: TrustedCertificate, detail: dict[str, object]) -> AuditEvent:
        return AuditEvent(
            tag,
            MANAGEMENT_TENANT,
            SYSTEM_ACTOR,
            f"ca:{row.sha256}",
            self._clock.now(),
            {"sha256": row.sha256, **detail},
        )

    async def _current_ca(self, tx: PkiTransaction) -> CaMaterial:
        """The issuing CA as stored now (another process may have replaced it), opened once."""
        stored = await tx.certificates.device_ca()
        if stored is None:
            raise Unavailable("the device CA is not set up yet")
        if self._ca is not None and stored.certificate.sha256 == self._ca_sha256:
            return self._ca
        async with self._lock:
            chain = [
                item.certificate() for item in await tx.certificates.trusted() if item.purpose == TrustPurpose.CHAIN
            ]
            material = self._open(stored, chain)
            self._ca, self._ca_sha256, self._crl = material, stored.certificate.sha256, None
            return material

    def _open(self, stored: StoredCa, chain: Sequence[x509.Certificate]) -> CaMaterial:
        try:
            key_pem = self._sealer.open(stored.key_sealed, stored.certificate.sha256)
        except SealError:
            log.error("the device CA key cannot be opened: was the server secret key changed?")
            raise Unavailable("the device CA key cannot be opened") from None
        key = serialization.load_pem_private_key(key_pem.encode("ascii"), None)
        assert isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey)
        certificate = stored.certificate.certificate()
        try:
            ordered = order_chain(certificate, chain)
        except ValueError:
            ordered = tuple(chain)
        return CaMaterial(certificate, key, ordered)

    async def ca_certificates(self) -> list[x509.Certificate]:
        """The issuing CA first, then its chain up to the root."""
        async with self._storage.read() as tx:
            material = await self._current_ca(tx)
        return [material.certificate, *material.chain]

    async def ca_pem(self) -> str:
        return "".join(pem(certificate) for certificate in await self.ca_certificates())

    async def trust_anchors(self) -> list[x509.Certificate]:
        """Every certificate of the trusted store (device CA, its chain, the CAs operators added)."""
        async with self._storage.read() as tx:
            return [item.certificate() for item in await tx.certificates.trusted()]

    async def issue_server_certificate(self, names: Sequence[str]) -> tuple[bytes, bytes]:
        """A TLS server certificate for `admittance serve` and a new EC P-256 key: (certificate PEM
        followed by the CA chain, key PEM). Not recorded as a device certificate (it cannot
        authenticate a client: its only EKU is serverAuth); audited."""
        if not names:
            raise InvalidInput("a server certificate needs at least one name")
        key = ec.generate_private_key(ec.SECP256R1())
        now = self._clock.now()
        async with self._storage.transaction() as tx:
            ca = await self._current_ca(tx)
            certificate = issue_server_certificate(
                ca, key.public_key(), names, now, self._policy.certificate_validity_days
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
        ca = await self._current_ca(tx)
        now = self._clock.now()
        certificate = issue_client_certificate(
            ca, csr.public_key(), common_name, now, self._policy.certificate_validity_days
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
        normal = _normal_serial(serial)
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
        grace = self._policy.renewal_grace_days
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

    # --- revocation and the CRL ---------------------------------------------------------------

    async def revoke(self, principal: Principal, serial: str, reason: str = "unspecified") -> IssuedCertificate:
        """Revoke (final; revoking again changes nothing). `reason`: an RFC 5280 CRLReason name."""
        if reason not in REVOCATION_REASONS:
            raise InvalidInput(f"reason must be one of {', '.join(REVOCATION_REASONS)}", entity=ENTITY, field="reason")
        normal = _normal_serial(serial)
        now = self._clock.now()
        async with self._storage.transaction() as tx:
            found = await tx.certificates.issued_by_serial(normal) if normal else None
            if found is None or not principal.can_see_tenant(found.tenant_id):
                raise NotFound("No certificate with that serial number", entity=ENTITY)
            if found.revoked:
                return found
            await tx.certificates.revoke(found.serial, now, reason)
            await tx.audit.record(
                AuditEvent(
                    AuditTag.CERTIFICATE_REVOKED,
                    found.tenant_id,
                    f"{principal.tenant_id}/{principal.username}",
                    found.owner,
                    now,
                    {"serial": found.serial, "sha256": found.sha256, "reason": reason},
                )
            )
        self._crl = None
        log.info("revoked certificate %s of %s/%s (%s)", found.serial, found.tenant_id, found.owner, reason)
        return replace(found, revoked_at=now, revocation_reason=reason)

    async def crl_der(self) -> bytes:
        """The CRL (DER), signed by the device CA: every revoked certificate not yet expired. Built
        again when a revocation happened (in any process) or half its validity has passed."""
        now = self._clock.now()
        async with self._storage.read() as tx:
            version = await tx.certificates.crl_version()
            ca = await self._current_ca(tx)
            key = f"{self._ca_sha256}:{version}"
            cached = self._crl
            half = timedelta(hours=self._policy.crl_validity_hours / 2)
            if cached is not None and cached.key == key and now - cached.this_update < half:
                return cached.der
            revoked = await tx.certificates.revoked_unexpired(now)
        entries = [
            Revocation(
                item.serial,
                item.revoked_at,
                REVOCATION_REASONS.get(item.revocation_reason or "", x509.ReasonFlags.unspecified),
            )
            for item in revoked
            if item.revoked_at is not None
        ]
        crl = build_crl(ca, entries, now, self._policy.crl_validity_hours)
        der = crl.public_bytes(serialization.Encoding.DER)
        self._crl = _Crl(key, now, der)
        return der

    async def crl_pem(self) -> str:
        crl = x509.load_der_x509_crl(await self.crl_der())
        return crl.public_bytes(serialization.Encoding.PEM).decode("ascii")

    # --- the trusted store (/api/certificates) ------------------------------------------------

    async def list_trusted(self, principal: Principal) -> list[TrustedCertificate]:
        async with self._storage.read() as tx:
            return await tx.certificates.trusted()

    def _require_store_admin(self, principal: Principal) -> None:
        if principal.tenant_id not in self._policy.trusted_store_tenants:
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
                row = _trusted_row(certificate, TrustPurpose.TRUSTED, str(uuid.uuid4()), removable=True)
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
