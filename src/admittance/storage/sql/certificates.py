"""The device PKI in SQL: trusted certificates (the device CA with its sealed key, its chain, the CAs
operators added) and every certificate the CA issued."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from admittance.broker.model import parse_grant_types
from admittance.kernel.clock import Clock, from_millis, to_millis
from admittance.kernel.paging import Page, PageRequest
from admittance.pki.model import DEVICE_CA_ID, CertificateUser, IssuedCertificate, StoredCa, TrustedCertificate
from admittance.storage.database import Executor, Row
from admittance.storage.sql.directory import stored_permissions
from admittance.storage.sql.paging import fetch_page
from admittance.storage.sql.rows import roles_of

_TRUSTED = "id, purpose, certificate_pem, sha1, sha256, removable"
_ISSUED = (
    "serial, tenant_id, owner, subject, sha1, sha256, public_key_sha256, not_before, not_after, issued_via, "
    "certificate_pem, revoked_at, revocation_reason"
)
# The device CA, then its chain, then what operators added, each oldest first.
_TRUSTED_ORDER = "ORDER BY CASE purpose WHEN 'device-ca' THEN 0 WHEN 'chain' THEN 1 ELSE 2 END, created_at, id"


def _trusted(row: Row) -> TrustedCertificate:
    return TrustedCertificate(
        row["id"], row["purpose"], row["certificate_pem"], row["sha1"], row["sha256"], bool(row["removable"])
    )


def _issued(row: Row) -> IssuedCertificate:
    revoked = row["revoked_at"]
    return IssuedCertificate(
        serial=row["serial"],
        tenant_id=row["tenant_id"],
        owner=row["owner"],
        subject=row["subject"],
        sha1=row["sha1"],
        sha256=row["sha256"],
        public_key_sha256=row["public_key_sha256"],
        not_before=from_millis(row["not_before"]),
        not_after=from_millis(row["not_after"]),
        issued_via=row["issued_via"],
        certificate_pem=row["certificate_pem"],
        revoked_at=from_millis(revoked) if revoked is not None else None,
        revocation_reason=row["revocation_reason"],
    )


class SqlCertificateStore:
    def __init__(self, executor: Executor, clock: Clock) -> None:
        self._db = executor
        self._clock = clock

    async def device_ca(self) -> StoredCa | None:
        row = await self._db.fetch_one(
            f"SELECT {_TRUSTED}, key_sealed FROM trusted_certificates WHERE id = :id", {"id": DEVICE_CA_ID}
        )
        if row is None or not row["key_sealed"]:
            return None
        return StoredCa(_trusted(row), row["key_sealed"])

    async def insert_trusted(self, certificate: TrustedCertificate, key_sealed: str | None, now: datetime) -> bool:
        changed = await self._db.execute(
            f"INSERT INTO trusted_certificates ({_TRUSTED}, key_sealed, created_at) "
            "VALUES (:id, :purpose, :pem, :sha1, :sha256, :removable, :key, :now) ON CONFLICT DO NOTHING",
            {
                "id": certificate.id,
                "purpose": certificate.purpose,
                "pem": certificate.certificate_pem,
                "sha1": certificate.sha1,
                "sha256": certificate.sha256,
                "removable": certificate.removable,
                "key": key_sealed,
                "now": to_millis(now),
            },
        )
        return changed > 0

    async def replace_device_ca(self, certificate: TrustedCertificate, key_sealed: str) -> None:
        await self._db.execute(
            "UPDATE trusted_certificates SET certificate_pem = :pem, sha1 = :sha1, sha256 = :sha256, "
            "key_sealed = :key, created_at = :now WHERE id = :id",
            {
                "id": DEVICE_CA_ID,
                "pem": certificate.certificate_pem,
                "sha1": certificate.sha1,
                "sha256": certificate.sha256,
                "key": key_sealed,
                "now": to_millis(self._clock.now()),
            },
        )

    async def trusted(self) -> list[TrustedCertificate]:
        found = await self._db.fetch_all(f"SELECT {_TRUSTED} FROM trusted_certificates {_TRUSTED_ORDER}")
        return [_trusted(row) for row in found]

    async def get_trusted(self, certificate_id: str) -> TrustedCertificate | None:
        row = await self._db.fetch_one(
            f"SELECT {_TRUSTED} FROM trusted_certificates WHERE id = :id", {"id": certificate_id}
        )
        return _trusted(row) if row else None

    async def delete_trusted(self, certificate_id: str) -> bool:
        changed = await self._db.execute("DELETE FROM trusted_certificates WHERE id = :id", {"id": certificate_id})
        return changed > 0

    async def delete_chain(self) -> None:
        await self._db.execute("DELETE FROM trusted_certificates WHERE purpose = 'chain'")

    async def insert_issued(self, certificate: IssuedCertificate, now: datetime) -> None:
        await self._db.execute(
            f"INSERT INTO issued_certificates ({_ISSUED}, created_at) VALUES (:serial, :tenant, :owner, :subject, "
            ":sha1, :sha256, :pk, :not_before, :not_after, :via, :pem, NULL, NULL, :now)",
            {
                "serial": certificate.serial,
                "tenant": certificate.tenant_id,
                "owner": certificate.owner,
                "subject": certificate.subject,
                "sha1": certificate.sha1,
                "sha256": certificate.sha256,
                "pk": certificate.public_key_sha256,
                "not_before": to_millis(certificate.not_before),
                "not_after": to_millis(certificate.not_after),
                "via": certificate.issued_via,
                "pem": certificate.certificate_pem,
                "now": to_millis(now),
            },
        )

    async def issued_by_serial(self, serial: str) -> IssuedCertificate | None:
        row = await self._db.fetch_one(f"SELECT {_ISSUED} FROM issued_certificates WHERE serial = :s", {"s": serial})
        return _issued(row) if row else None

    async def issued_by_sha256(self, sha256: str) -> IssuedCertificate | None:
        row = await self._db.fetch_one(f"SELECT {_ISSUED} FROM issued_certificates WHERE sha256 = :s", {"s": sha256})
        return _issued(row) if row else None

    async def issued_page(self, tenant_id: str | None, owner: str | None, page: PageRequest) -> Page[IssuedCertificate]:
        conditions: list[str] = []
        params: dict[str, Any] = {}
        if tenant_id is not None:
            conditions.append("tenant_id = :tenant")
            params["tenant"] = tenant_id
        if owner is not None:
            conditions.append("owner = :owner")
            params["owner"] = owner
        where = f"WHERE {' AND '.join(conditions)}" if conditions else ""
        return await fetch_page(
            self._db,
            f"SELECT {_ISSUED} FROM issued_certificates {where} ORDER BY created_at DESC, serial",
            f"SELECT count(*) AS n FROM issued_certificates {where}",
            params,
            page,
            _issued,
        )

    async def revoke(self, serial: str, at: datetime, reason: str) -> bool:
        changed = await self._db.execute(
            "UPDATE issued_certificates SET revoked_at = :at, revocation_reason = :reason "
            "WHERE serial = :serial AND revoked_at IS NULL",
            {"serial": serial, "at": to_millis(at), "reason": reason},
        )
        return changed > 0

    async def revoked_unexpired(self, now: datetime) -> list[IssuedCertificate]:
        found = await self._db.fetch_all(
            f"SELECT {_ISSUED} FROM issued_certificates WHERE revoked_at IS NOT NULL AND not_after > :now "
            "ORDER BY revoked_at, serial",
            {"now": to_millis(now)},
        )
        return [_issued(row) for row in found]

    async def crl_version(self) -> str:
        row = await self._db.fetch_one(
            "SELECT count(*) AS n, max(revoked_at) AS latest FROM issued_certificates WHERE revoked_at IS NOT NULL"
        )
        return f"{row['n']}:{row['latest']}" if row else "0:None"

    async def certificate_user(self, tenant_id: str, username: str) -> CertificateUser | None:
        row = await self._db.fetch_one(
            f"SELECT u.id, u.tenant_id, u.username, u.enabled, {self._db.dialect.role_list} AS roles, u.grant_types "
            "FROM users u WHERE u.tenant_id = :tenant AND u.username = :username",
            {"tenant": tenant_id, "username": username},
        )
        if row is None:
            return None
        roles = roles_of(row["roles"])
        return CertificateUser(
            user_id=row["id"],
            tenant_id=row["tenant_id"],
            username=row["username"],
            enabled=bool(row["enabled"]),
            roles=roles,
            stored_permissions=await stored_permissions(self._db, row["id"], roles),
            grant_methods=frozenset(grant.method for grant in parse_grant_types(row["grant_types"])),
        )

    async def registered_holders(self, sha256: str, sha1: str) -> list[tuple[str, str]]:
        found = await self._db.fetch_all(
            "SELECT DISTINCT u.id, u.tenant_id, u.username FROM user_certificates c JOIN users u ON u.id = c.user_id "
            "WHERE c.fingerprint IN (:sha256, :sha1) AND (c.expires_at IS NULL OR c.expires_at > :now) "
            "ORDER BY u.id LIMIT 2",
            {"sha256": sha256, "sha1": sha1, "now": to_millis(self._clock.now())},
        )
        return [(row["tenant_id"], row["username"]) for row in found]
