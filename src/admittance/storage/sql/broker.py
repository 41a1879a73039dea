"""The reads broker authentication needs: a user with its permissions, publish prefix and grant
types; client certificates by fingerprint. Each call reads fresh (no cache), so a block or a
revoked permission bites on the broker's next hook call."""

from __future__ import annotations

from collections.abc import Sequence

from admittance.broker.model import MqttUser, parse_grant_types
from admittance.kernel.access import Context, Operation, Permission
from admittance.kernel.clock import Clock, to_millis
from admittance.storage.database import Database
from admittance.storage.sql.rows import roles_of

_PERMISSIONS_SQL = (
    "SELECT rp.context, rp.operation, rp.resource FROM user_roles ur "
    "JOIN role_permissions rp ON rp.role_id = ur.role_id WHERE ur.user_id = :user_id"
)
_UNEXPIRED = "(c.expires_at IS NULL OR c.expires_at > :now)"


class SqlBrokerDirectory:
    def __init__(self, database: Database, clock: Clock) -> None:
        self._db = database
        self._clock = clock
        self._user_sql = (
            f"SELECT u.id, u.tenant_id, u.username, u.enabled, {database.dialect.role_list} AS roles, "
            "u.mqtt_publish_prefix, u.grant_types FROM users u "
            "WHERE u.tenant_id = :tenant AND u.username = :username"
        )

    async def mqtt_user(self, tenant_id: str, username: str) -> MqttUser | None:
        async with self._db.read() as executor:
            row = await executor.fetch_one(self._user_sql, {"tenant": tenant_id, "username": username})
            if row is None:
                return None
            granted = await executor.fetch_all(_PERMISSIONS_SQL, {"user_id": row["id"]})
        permissions: set[Permission] = set()
        for grant in granted:
            try:
                permissions.add(Permission(Context(grant["context"]), Operation(grant["operation"]), grant["resource"]))
            except ValueError:
                continue  # a row outside the model grants nothing
        return MqttUser(
            user_id=row["id"],
            tenant_id=row["tenant_id"],
            username=row["username"],
            enabled=bool(row["enabled"]),
            roles=roles_of(row["roles"]),
            stored_permissions=frozenset(permissions),
            publish_prefix=row["mqtt_publish_prefix"] or None,
            grant_types=parse_grant_types(row["grant_types"]),
        )

    async def has_certificate(self, user_id: int, fingerprints: Sequence[str]) -> bool:
        sha256, sha1 = _pair(fingerprints)
        row = await self._db.fetch_one(
            "SELECT 1 AS present FROM user_certificates c WHERE c.user_id = :user_id "
            f"AND c.fingerprint IN (:sha256, :sha1) AND {_UNEXPIRED}",
            {"user_id": user_id, "sha256": sha256, "sha1": sha1, "now": to_millis(self._clock.now())},
        )
        return row is not None

    async def certificate_holders(self, fingerprints: Sequence[str]) -> list[tuple[str, str]]:
        sha256, sha1 = _pair(fingerprints)
        async with self._db.read() as executor:
            found = await executor.fetch_all(
                "SELECT DISTINCT u.id, u.tenant_id, u.username FROM user_certificates c "
                f"JOIN users u ON u.id = c.user_id WHERE c.fingerprint IN (:sha256, :sha1) AND {_UNEXPIRED} "
                "ORDER BY u.id LIMIT 2",
                {"sha256": sha256, "sha1": sha1, "now": to_millis(self._clock.now())},
            )
        return [(row["tenant_id"], row["username"]) for row in found]


def _pair(fingerprints: Sequence[str]) -> tuple[str, str]:
    """Two values for the IN list (the second repeats the first when only one is given)."""
    first = fingerprints[0]
    return first, fingerprints[1] if len(fingerprints) > 1 else first
