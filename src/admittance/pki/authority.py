"""The device CA: generated at the first start or the operator's, stored with its key sealed, and held
open in this process once read.

The CA's private key lives in the database sealed (kernel/sealing, purpose `ca-key`, the
certificate's SHA-256 as context) and in this process's memory once opened; it is never logged
and never returned. Another process may replace the stored CA (an operator's CA at its start):
`current` compares the stored fingerprint with the one held open on every use.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from admittance.audit import AuditEvent, AuditTag
from admittance.kernel.clock import Clock
from admittance.kernel.errors import Unavailable
from admittance.kernel.principal import MANAGEMENT_TENANT
from admittance.kernel.sealing import Sealer, SealError
from admittance.kernel.storage import Storage
from admittance.pki.ca import CaMaterial, fingerprints, generate_ca, order_chain, pem
from admittance.pki.model import DEVICE_CA_ID, PkiPolicy, StoredCa, TrustedCertificate, TrustPurpose
from admittance.pki.store import PkiTransaction

log = logging.getLogger("admittance.pki")
SEAL_PURPOSE = "ca-key"
SYSTEM_ACTOR = "system"


def trusted_row(
    certificate: x509.Certificate, purpose: TrustPurpose, row_id: str, removable: bool
) -> TrustedCertificate:
    sha1, sha256 = fingerprints(certificate)
    return TrustedCertificate(row_id, purpose.value, pem(certificate), sha1, sha256, removable)


def _chain_id(sha256: str) -> str:
    return f"chain-{sha256[:30]}"


class CertificateAuthority:
    def __init__(
        self,
        storage: Storage[PkiTransaction],
        sealer: Sealer,
        clock: Clock,
        policy: PkiPolicy | None = None,
        *,
        imported: CaMaterial | None = None,
    ) -> None:
        self._storage = storage
        self._sealer = sealer
        self._clock = clock
        self.policy = policy or PkiPolicy()
        self._imported = imported
        self._ca: CaMaterial | None = None
        self._ca_sha256: str | None = None
        self._lock = asyncio.Lock()

    def __repr__(self) -> str:
        return "CertificateAuthority(<redacted>)"

    @property
    def fingerprint(self) -> str | None:
        """The SHA-256 of the CA held open (None before the first use)."""
        return self._ca_sha256

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
            policy = self.policy
            material = await asyncio.to_thread(
                generate_ca, policy.ca_common_name, policy.ca_key_type, policy.ca_validity_days, self._clock.now()
            )
            row = trusted_row(material.certificate, TrustPurpose.DEVICE_CA, DEVICE_CA_ID, removable=False)
            async with self._storage.transaction() as tx:
                if await tx.certificates.insert_trusted(row, self._seal(material, row.sha256), self._clock.now()):
                    await tx.audit.record(self._ca_event(AuditTag.CA_CREATED, row, {"keyType": policy.ca_key_type}))
                    log.info("generated the device CA %s (%s)", row.sha256, policy.ca_key_type)
        async with self._storage.read() as tx:
            await self.current(tx)

    async def _store_imported(self, material: CaMaterial) -> None:
        row = trusted_row(material.certificate, TrustPurpose.DEVICE_CA, DEVICE_CA_ID, removable=False)
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
        row = trusted_row(parent, TrustPurpose.CHAIN, "", removable=False)
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

    async def current(self, tx: PkiTransaction) -> CaMaterial:
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
            self._ca, self._ca_sha256 = material, stored.certificate.sha256
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
            material = await self.current(tx)
        return [material.certificate, *material.chain]
