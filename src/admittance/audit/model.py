"""The audit event and its tags ("scope:subject:action", as warehouse names its events)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


class AuditTag(StrEnum):
    REGISTRATION_CREATED = "devices:registration:create"
    REGISTRATION_POLLED = "devices:registration:first-poll"
    REGISTRATION_ACCEPTED = "devices:registration:accept"
    REGISTRATION_TOKEN_MISMATCH = "devices:registration:token-mismatch"  # noqa: S105 - an audit tag name, not a secret
    REGISTRATION_BLOCKED = "devices:registration:block"
    REGISTRATION_DELETED = "devices:registration:delete"
    CREDENTIALS_ISSUED = "devices:credentials:issue"
    MANAGED_OBJECT_CREATED = "inventory:managed-object:create"
    EXTERNAL_ID_CREATED = "inventory:external-id:create"
    TENANT_CREATED = "identity:tenant:create"
    USER_CREATED = "identity:user:create"
    USER_PASSWORD_CHANGED = "identity:user:set-password"  # noqa: S105 - an audit tag name, not a secret
    AUTH_FAILED = "identity:authentication:fail"


@dataclass(frozen=True, slots=True)
class AuditEvent:
    tag: AuditTag
    tenant_id: str
    actor: str  # "tenant/username", or "system"
    subject: str
    at: datetime
    detail: dict[str, Any] = field(default_factory=dict)
