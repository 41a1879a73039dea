"""The reads broker decisions need: a subject (a user with its roles, permissions, publish prefix and
grant types; or an nRF claimed device), the password hash for a CONNECT, and certificates by
fingerprint or by the name they were issued to. Each call reads fresh (no cache), so a block, a
revoked permission or certificate, or a deleted device bites on the broker's next question."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from admittance.broker.model import (
    DEVICE_USERNAME_PREFIX,
    GrantMethod,
    GrantType,
    MqttLogin,
    MqttUser,
    SubjectKind,
    parse_grant_types,
)
from admittance.claiming.model import DeviceStatus
from admittance.identity.model import UserAuthRecord, UserKind
from admittance.kernel.clock import Clock, to_millis
from admittance.storage.database import Database, Executor
from admittance.storage.sql.directory import stored_permissions
from admittance.storage.sql.rows import roles_of

_VALID_ISSUED = "ic.revoked_at IS NULL AND ic.not_before <= :now AND ic.not_after > :now"
_VALID_REGISTERED = "(c.expires_at IS NULL OR c.expires_at > :now)"
_KINDS = {UserKind.DEVICE.value: SubjectKind.DEVICE, UserKind.BOOTSTRAP.value: SubjectKind.BOOTSTRAP}
_CERTIFICATE_ONLY = (GrantType(GrantMethod.CERTIFICATE.value, False),)


class SqlBrokerDirectory:
    def __init__(self, database: Database, clock: Clock) -> None:
        self._db = database
        self._clock = clock
        columns = (
            f"u.id, u.tenant_id, u.username, u.kind, u.enabled, {database.dialect.role_list} AS roles, "
            "u.mqtt_publish_prefix, u.grant_types"
        )
        where = "FROM users u WHERE u.tenant_id = :tenant AND u.username = :username"
        self._user_sql = f"SELECT {columns} {where}"
        self._login_sql = (
            f"SELECT {columns}, u.password_hash, u.mfa_secret IS NOT NULL AS mfa_enrolled, "
            f"u.enforce_mfa_enrollment {where}"
        )

    def _now(self) -> int:
        return to_millis(self._clock.now())

    async def mqtt_user(self, tenant_id: str, username: str) -> MqttUser | None:
        async with self._db.read() as executor:
            row = await executor.fetch_one(self._user_sql, {"tenant": tenant_id, "username": username})
            return None if row is None else await _user(executor, row)

    async def login(self, tenant_id: str, username: str) -> MqttLogin | None:
        async with self._db.read() as executor:
            row = await executor.fetch_one(self._login_sql, {"tenant": tenant_id, "username": username})
            if row is None:
                return None
            user = await _user(executor, row)
        record = UserAuthRecord(
            user_id=user.user_id,
            tenant_id=user.tenant_id,
            username=user.username,
            password_hash=row["password_hash"],
            enabled=user.enabled,
            roles=user.roles,
            stored_permissions=user.stored_permissions,
            mfa_enrolled=bool(row["mfa_enrolled"]),
            mfa_enforced=bool(row["enforce_mfa_enrollment"]),
        )
        return MqttLogin(user, record)

    async def certificate_subjects(self, common_name: str, tenant_id: str | None = None) -> list[MqttUser]:
        params: dict[str, Any] = {
            "name": common_name,
            "device": DEVICE_USERNAME_PREFIX + common_name,
            "now": self._now(),
        }
        in_tenant = ""
        if tenant_id is not None:
            in_tenant = " AND ic.tenant_id = :tenant"
            params["tenant"] = tenant_id
        async with self._db.read() as executor:
            owners = await executor.fetch_all(
                "SELECT DISTINCT ic.tenant_id, ic.owner FROM issued_certificates ic "
                f"WHERE ic.owner IN (:name, :device) AND {_VALID_ISSUED}{in_tenant} "
                "ORDER BY ic.tenant_id, ic.owner LIMIT 3",
                params,
            )
            return await self._owners(executor, [(row["tenant_id"], row["owner"]) for row in owners])

    async def certificate_owners(self, fingerprints: Sequence[str]) -> list[MqttUser]:
        sha256, sha1 = _pair(fingerprints)
        now = self._now()
        async with self._db.read() as executor:
            issued = await executor.fetch_one(
                "SELECT ic.tenant_id, ic.owner, "
                f"CASE WHEN {_VALID_ISSUED} THEN 1 ELSE 0 END AS valid "
                "FROM issued_certificates ic WHERE ic.sha256 = :sha256",
                {"sha256": sha256, "now": now},
            )
            if issued is not None:  # ours: valid or not, its fingerprint names nobody else
                return await self._owners(executor, [(issued["tenant_id"], issued["owner"])]) if issued["valid"] else []
            found = await executor.fetch_all(
                "SELECT DISTINCT u.id, u.tenant_id, u.username FROM user_certificates c "
                f"JOIN users u ON u.id = c.user_id WHERE c.fingerprint IN (:sha256, :sha1) AND {_VALID_REGISTERED} "
                "ORDER BY u.id LIMIT 2",
                {"sha256": sha256, "sha1": sha1, "now": now},
            )
            return await self._owners(executor, [(row["tenant_id"], row["username"]) for row in found])

    async def holds_certificate(self, user: MqttUser) -> bool:
        now = self._now()
        row = await self._db.fetch_one(
            "SELECT 1 AS present FROM issued_certificates ic WHERE ic.tenant_id = :tenant AND ic.owner = :owner "
            f"AND {_VALID_ISSUED}",
            {"tenant": user.tenant_id, "owner": user.username, "now": now},
        )
        if row is not None or user.user_id <= 0:
            return row is not None
        registered = await self._db.fetch_one(
            f"SELECT 1 AS present FROM user_certificates c WHERE c.user_id = :user_id AND {_VALID_REGISTERED}",
            {"user_id": user.user_id, "now": now},
        )
        return registered is not None

    async def has_certificate(self, user: MqttUser, fingerprints: Sequence[str]) -> bool:
        sha256, sha1 = _pair(fingerprints)
        now = self._now()
        issued = await self._db.fetch_one(
            "SELECT ic.tenant_id, ic.owner, "
            f"CASE WHEN {_VALID_ISSUED} THEN 1 ELSE 0 END AS valid "
            "FROM issued_certificates ic WHERE ic.sha256 = :sha256",
            {"sha256": sha256, "now": now},
        )
        if issued is not None:
            return bool(issued["valid"]) and (issued["tenant_id"], issued["owner"]) == (user.tenant_id, user.username)
        if user.user_id <= 0:
            return False
        row = await self._db.fetch_one(
            "SELECT 1 AS present FROM user_certificates c WHERE c.user_id = :user_id "
            f"AND c.fingerprint IN (:sha256, :sha1) AND {_VALID_REGISTERED}",
            {"user_id": user.user_id, "sha256": sha256, "sha1": sha1, "now": now},
        )
        return row is not None

    async def _owners(self, executor: Executor, owners: list[tuple[str, str]]) -> list[MqttUser]:
        """Each (tenant, owner) as a subject: the user of that name, else the claimed device of that id."""
        subjects: list[MqttUser] = []
        for tenant_id, owner in owners:
            row = await executor.fetch_one(self._user_sql, {"tenant": tenant_id, "username": owner})
            if row is not None:
                subjects.append(await _user(executor, row))
                continue
            device = await executor.fetch_one(
                "SELECT id, tenant_id, status FROM claimed_devices WHERE id = :id AND tenant_id = :tenant",
                {"id": owner, "tenant": tenant_id},
            )
            if device is not None:
                subjects.append(
                    MqttUser(
                        user_id=0,
                        tenant_id=device["tenant_id"],
                        username=device["id"],
                        enabled=device["status"] == DeviceStatus.READY.value,
                        roles=frozenset(),
                        grant_types=_CERTIFICATE_ONLY,
                        kind=SubjectKind.NRF_DEVICE,
                    )
                )
        return subjects


async def _user(executor: Executor, row: Any) -> MqttUser:
    roles = roles_of(row["roles"])
    return MqttUser(
        user_id=row["id"],
        tenant_id=row["tenant_id"],
        username=row["username"],
        enabled=bool(row["enabled"]),
        roles=roles,
        stored_permissions=await stored_permissions(executor, row["id"], roles),
        publish_prefix=row["mqtt_publish_prefix"] or None,
        grant_types=parse_grant_types(row["grant_types"]),
        kind=_KINDS.get(row["kind"], SubjectKind.USER),
    )


def _pair(fingerprints: Sequence[str]) -> tuple[str, str]:
    """Two values for the IN list (the second repeats the first when only one is given)."""
    first = fingerprints[0]
    return first, fingerprints[1] if len(fingerprints) > 1 else first
