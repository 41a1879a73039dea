"""EST enrollment in SQL: consuming a registration request's one-time password exactly once, and the
certificate-only device user."""

from __future__ import annotations

from typing import Any

import orjson

from admittance.devices.model import RegistrationRequest, RegistrationStatus
from admittance.identity.model import UserKind
from admittance.kernel.clock import Clock, to_millis
from admittance.kernel.errors import Conflict
from admittance.storage.database import Executor
from admittance.storage.sql import rows
from admittance.storage.sql.registrations import COLUMNS

CERTIFICATE_GRANT = {"method": "certificate", "isRequired": False}


class SqlEnrollmentStore:
    def __init__(self, executor: Executor, clock: Clock) -> None:
        self._db = executor
        self._clock = clock

    async def take_for_enrollment(
        self, request_id: str, *, status: RegistrationStatus, enrollment_token_digest: str
    ) -> RegistrationRequest | None:
        # One statement decides who wins: a concurrent enrollment finds the row gone (PostgreSQL waits
        # for the row lock, then re-checks the WHERE clause; SQLite serializes write transactions).
        row = await self._db.fetch_one(
            f"DELETE FROM registration_requests WHERE id = :id AND status = :status "
            f"AND enrollment_token_digest = :digest RETURNING {COLUMNS}",
            {"id": request_id, "status": status.value, "digest": enrollment_token_digest},
        )
        return rows.registration(row) if row else None

    async def enable_certificate_user(self, tenant_id: str, username: str, password_hash: str, role: str) -> None:
        now = to_millis(self._clock.now())
        created = await self._db.fetch_one(
            "INSERT INTO users (tenant_id, username, password_hash, kind, enabled, created_at, "
            "password_changed_at, grant_types) VALUES (:tenant, :username, :hash, :kind, :enabled, :now, :now, "
            ":grants) ON CONFLICT (tenant_id, username) DO NOTHING RETURNING id",
            {
                "tenant": tenant_id,
                "username": username,
                "hash": password_hash,
                "kind": UserKind.DEVICE.value,
                "enabled": True,
                "now": now,
                "grants": rows.dumps([CERTIFICATE_GRANT]),
            },
        )
        if created is not None:
            user_id = created["id"]
        else:
            existing = await self._db.fetch_one(
                f"SELECT id, kind, grant_types FROM users WHERE tenant_id = :tenant AND username = :username"
                f"{self._db.dialect.for_update}",
                {"tenant": tenant_id, "username": username},
            )
            if existing is None or existing["kind"] != UserKind.DEVICE.value:
                raise Conflict(f"The user name {username} belongs to a user who is not a device.", entity="user")
            user_id = existing["id"]
            # The device keeps what it had (a password from an earlier BASIC row stays valid) and
            # may now authenticate with certificates too.
            await self._db.execute(
                "UPDATE users SET enabled = :enabled, grant_types = :grants WHERE id = :id",
                {"enabled": True, "grants": rows.dumps(_with_certificate(existing["grant_types"])), "id": user_id},
            )
        await self._db.execute(
            "INSERT INTO user_roles (user_id, role_id) VALUES (:user_id, :role) ON CONFLICT DO NOTHING",
            {"user_id": user_id, "role": role},
        )


def _with_certificate(text: str | None) -> list[Any]:
    try:
        grants = orjson.loads(text or "[]")
    except orjson.JSONDecodeError:
        grants = []
    if not isinstance(grants, list):
        grants = []
    kept = [grant for grant in grants if isinstance(grant, dict) and isinstance(grant.get("method"), str)]
    if not any(grant["method"] == "certificate" for grant in kept):
        kept.append(CERTIFICATE_GRANT)
    return kept
