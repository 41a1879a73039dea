"""Revoking issued certificates (final) and the CRL that brokers and proxies check them against.

Revocation is checked by certificate authentication on every request against the database; the
signed CRL is for verifiers that check certificates themselves. It is built again when a
revocation happened (in any process: its version is read from the database) or half its validity
has passed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from admittance.audit import AuditEvent, AuditTag
from admittance.kernel.clock import Clock
from admittance.kernel.errors import InvalidInput, NotFound
from admittance.kernel.principal import Principal
from admittance.kernel.storage import Storage
from admittance.pki.authority import CertificateAuthority
from admittance.pki.ca import Revocation, build_crl
from admittance.pki.model import ENTITY, REVOCATION_REASONS, IssuedCertificate, normal_serial
from admittance.pki.store import PkiTransaction

log = logging.getLogger("admittance.pki")


@dataclass(frozen=True, slots=True)
class _Crl:
    key: str
    this_update: datetime
    der: bytes


class RevocationService:
    def __init__(self, storage: Storage[PkiTransaction], authority: CertificateAuthority, clock: Clock) -> None:
        self._storage = storage
        self._authority = authority
        self._clock = clock
        self._crl: _Crl | None = None

    async def revoke(self, principal: Principal, serial: str, reason: str = "unspecified") -> IssuedCertificate:
        """Revoke (final; revoking again changes nothing). `reason`: an RFC 5280 CRLReason name."""
        if reason not in REVOCATION_REASONS:
            raise InvalidInput(f"reason must be one of {', '.join(REVOCATION_REASONS)}", entity=ENTITY, field="reason")
        normal = normal_serial(serial)
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
            ca = await self._authority.current(tx)
            key = f"{self._authority.fingerprint}:{version}"
            cached = self._crl
            half = timedelta(hours=self._authority.policy.crl_validity_hours / 2)
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
        crl = build_crl(ca, entries, now, self._authority.policy.crl_validity_hours)
        der = crl.public_bytes(serialization.Encoding.DER)
        self._crl = _Crl(key, now, der)
        return der

    async def crl_pem(self) -> str:
        crl = x509.load_der_x509_crl(await self.crl_der())
        return crl.public_bytes(serialization.Encoding.PEM).decode("ascii")
