"""Row <-> domain dataclass conversions, in one place."""

from __future__ import annotations

from typing import Any

import orjson

from admittance.devices.inventory_model import ExternalId, ManagedObject
from admittance.devices.model import RegistrationRequest, RegistrationStatus
from admittance.identity.model import SecurityTokenPolicy, Tenant, User, UserAuthRecord, UserKind
from admittance.kernel.clock import from_millis
from admittance.storage.database import Row


def escape_like(text: str) -> str:
    """Text matched literally by LIKE ... ESCAPE '\\' (its own %, _ and backslash escaped)."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def roles_of(value: str | None) -> frozenset[str]:
    return frozenset(value.split(",")) if value else frozenset()


def tenant(row: Row) -> Tenant:
    return Tenant(
        id=row["id"],
        security_token_policy=SecurityTokenPolicy(row["security_token_policy"]),
        device_limit=row["device_limit"],
        created_at=from_millis(row["created_at"]),
    )


def user(row: Row) -> User:
    return User(
        id=row["id"],
        tenant_id=row["tenant_id"],
        username=row["username"],
        kind=UserKind(row["kind"]),
        enabled=bool(row["enabled"]),
        roles=roles_of(row["roles"]),
        created_at=from_millis(row["created_at"]),
    )


def auth_record(row: Row) -> UserAuthRecord:
    return UserAuthRecord(
        user_id=row["id"],
        tenant_id=row["tenant_id"],
        username=row["username"],
        password_hash=row["password_hash"],
        enabled=bool(row["enabled"]),
        roles=roles_of(row["roles"]),
    )


def registration(row: Row) -> RegistrationRequest:
    return RegistrationRequest(
        id=row["id"],
        tenant_id=row["tenant_id"],
        status=RegistrationStatus(row["status"]),
        owner=row["owner"],
        created_at=from_millis(row["created_at"]),
        updated_at=from_millis(row["updated_at"]),
        group_id=row["group_id"],
        type=row["type"],
        custom_properties=orjson.loads(row["custom_properties"]),
        security_token_digest=row["security_token_digest"],
        enrollment_token_digest=row["enrollment_token_digest"],
        token_failures=row["token_failures"],
    )


def managed_object(row: Row) -> ManagedObject:
    return ManagedObject(
        id=row["id"],
        tenant_id=row["tenant_id"],
        owner=row["owner"],
        name=row["name"],
        type=row["type"],
        fragments=orjson.loads(row["fragments"]),
        created_at=from_millis(row["created_at"]),
        updated_at=from_millis(row["updated_at"]),
    )


def external_id(row: Row) -> ExternalId:
    return ExternalId(row["tenant_id"], row["type"], row["value"], row["managed_object_id"])


def dumps(document: Any) -> str:
    return orjson.dumps(document).decode()
