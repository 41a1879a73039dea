"""The seed of the device registry: managed objects (devices, groups) and their external ids."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from admittance.kernel.errors import InvalidInput

MAX_NAME_CHARS = 1000
# Keys the server owns in a managed object; a client cannot set them through fragments.
RESERVED_KEYS = frozenset({"id", "self", "owner", "creationTime", "lastUpdated", "name", "type"})


@dataclass(frozen=True, slots=True)
class ManagedObject:
    id: int
    tenant_id: str
    owner: str
    created_at: datetime
    updated_at: datetime
    name: str | None = None
    type: str | None = None
    fragments: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ExternalId:
    tenant_id: str
    type: str
    value: str
    managed_object_id: int


def validate_external_id(id_type: str, value: str) -> None:
    for label, text in (("type", id_type), ("externalId", value)):
        if not text or len(text) > MAX_NAME_CHARS:
            raise InvalidInput(f"{label} must have 1 to {MAX_NAME_CHARS} characters", entity="external_id", field=label)
        if any(ord(ch) < 32 or ord(ch) == 127 for ch in text):
            raise InvalidInput(f"{label} must not contain control characters", entity="external_id", field=label)
    if len(id_type.encode()) + len(value.encode()) > 2000:
        raise InvalidInput(
            "type and externalId together must have at most 2000 bytes in UTF-8",
            entity="external_id",
            field="externalId",
        )


def validate_names(name: object, mo_type: object) -> None:
    for label, value in (("name", name), ("type", mo_type)):
        if value is None:
            continue
        if not isinstance(value, str) or len(value) > MAX_NAME_CHARS:
            raise InvalidInput(
                f"{label} must be a string of at most {MAX_NAME_CHARS} characters",
                entity="managed_object",
                field=label,
            )
