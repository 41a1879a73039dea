"""Claim token state in SQL: identity keys (nrf_identity_keys), accepted nonces (nrf_token_nonces,
the primary key settles replays: an insert that loses changes no row), server-issued challenges
(nrf_challenges, used by a conditional UPDATE) and the tenant's verification mode."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from admittance.claiming.model import Challenge, IdentityKey
from admittance.kernel.clock import from_millis, to_millis
from admittance.storage.database import Executor

_CHUNK = 500


class SqlClaimTokenStore:
    def __init__(self, executor: Executor) -> None:
        self._db = executor

    async def claim_verification(self, tenant_id: str) -> str | None:
        row = await self._db.fetch_one("SELECT claim_verification FROM tenants WHERE id = :id", {"id": tenant_id})
        return row["claim_verification"] if row is not None else None

    async def set_claim_verification(self, tenant_id: str, mode: str) -> bool:
        count = await self._db.execute(
            "UPDATE tenants SET claim_verification = :mode WHERE id = :id", {"mode": mode, "id": tenant_id}
        )
        return count > 0

    async def identity_key(self, tenant_id: str, device_uuid: str) -> str | None:
        row = await self._db.fetch_one(
            "SELECT public_key_pem FROM nrf_identity_keys WHERE tenant_id = :tenant AND device_uuid = :uuid",
            {"tenant": tenant_id, "uuid": device_uuid},
        )
        return row["public_key_pem"] if row is not None else None

    async def upsert_identity_keys(self, tenant_id: str, keys: Sequence[tuple[str, str]], now: datetime) -> int:
        existing = 0
        for start in range(0, len(keys), _CHUNK):
            chunk = keys[start : start + _CHUNK]
            names = {f"u{index}": device for index, (device, _) in enumerate(chunk)}
            row = await self._db.fetch_one(
                "SELECT COUNT(*) AS n FROM nrf_identity_keys WHERE tenant_id = :tenant AND device_uuid IN ("
                + ", ".join(f":{name}" for name in names)
                + ")",
                {"tenant": tenant_id, **names},
            )
            existing += int(row["n"]) if row is not None else 0
        at = to_millis(now)
        await self._db.execute_many(
            "INSERT INTO nrf_identity_keys (tenant_id, device_uuid, public_key_pem, created_at) "
            "VALUES (:tenant, :uuid, :pem, :at) ON CONFLICT (tenant_id, device_uuid) "
            "DO UPDATE SET public_key_pem = excluded.public_key_pem, created_at = excluded.created_at",
            [{"tenant": tenant_id, "uuid": device, "pem": pem, "at": at} for device, pem in keys],
        )
        return len(keys) - existing

    async def identity_keys(self, tenant_id: str, after: str | None, limit: int) -> list[IdentityKey]:
        rows = await self._db.fetch_all(
            "SELECT device_uuid, public_key_pem, created_at FROM nrf_identity_keys WHERE tenant_id = :tenant "
            "AND device_uuid > :after ORDER BY device_uuid LIMIT :limit",
            {"tenant": tenant_id, "after": after or "", "limit": limit},
        )
        return [IdentityKey(r["device_uuid"], r["public_key_pem"], from_millis(r["created_at"])) for r in rows]

    async def count_identity_keys(self, tenant_id: str) -> int:
        row = await self._db.fetch_one(
            "SELECT COUNT(*) AS n FROM nrf_identity_keys WHERE tenant_id = :tenant", {"tenant": tenant_id}
        )
        return int(row["n"]) if row is not None else 0

    async def delete_identity_key(self, tenant_id: str, device_uuid: str) -> bool:
        count = await self._db.execute(
            "DELETE FROM nrf_identity_keys WHERE tenant_id = :tenant AND device_uuid = :uuid",
            {"tenant": tenant_id, "uuid": device_uuid},
        )
        return count > 0

    async def record_nonce(self, device_uuid: str, nonce: str, now: datetime) -> bool:
        count = await self._db.execute(
            "INSERT INTO nrf_token_nonces (device_uuid, nonce, seen_at) VALUES (:uuid, :nonce, :at) "
            "ON CONFLICT (device_uuid, nonce) DO NOTHING",
            {"uuid": device_uuid, "nonce": nonce, "at": to_millis(now)},
        )
        return count > 0

    async def nonce_seen(self, device_uuid: str, nonce: str) -> bool:
        row = await self._db.fetch_one(
            "SELECT 1 AS present FROM nrf_token_nonces WHERE device_uuid = :uuid AND nonce = :nonce",
            {"uuid": device_uuid, "nonce": nonce},
        )
        return row is not None

    async def insert_challenge(self, nonce: str, tenant_id: str, expires_at: datetime) -> None:
        await self._db.execute(
            "INSERT INTO nrf_challenges (nonce, tenant_id, expires_at, used_at) VALUES (:nonce, :tenant, :at, NULL)",
            {"nonce": nonce, "tenant": tenant_id, "at": to_millis(expires_at)},
        )

    async def challenge(self, nonce: str) -> Challenge | None:
        row = await self._db.fetch_one(
            "SELECT nonce, tenant_id, expires_at, used_at FROM nrf_challenges WHERE nonce = :nonce", {"nonce": nonce}
        )
        if row is None:
            return None
        used = row["used_at"]
        return Challenge(
            row["nonce"], row["tenant_id"], from_millis(row["expires_at"]), from_millis(used) if used else None
        )

    async def use_challenge(self, nonce: str, tenant_id: str, now: datetime) -> bool:
        count = await self._db.execute(
            "UPDATE nrf_challenges SET used_at = :now WHERE nonce = :nonce AND tenant_id = :tenant "
            "AND used_at IS NULL AND expires_at > :now",
            {"nonce": nonce, "tenant": tenant_id, "now": to_millis(now)},
        )
        return count > 0
