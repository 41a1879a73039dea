"""Provisioning commands and rules (nRF Cloud Provisioning Service), their validation, and what the
provisioning part needs from storage (storage/sql/provisioning.py implements it as `tx.provisioning`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from admittance.kernel.errors import InvalidInput

MAX_COMMANDS_PER_DEVICE = 20  # commands PENDING or IN_PROGRESS in one device's queue
MAX_CONFIG_PROPERTIES = 10  # the device's CBOR config object holds at most 10 properties
MAX_CONTENT_CHARS = 16 * 1024
MAX_DESCRIPTION_CHARS = 1000
MAX_RULE_COMMANDS = MAX_COMMANDS_PER_DEVICE
MAX_SEC_TAG = 2**31 - 1


class CommandStatus(StrEnum):
    PENDING = "PENDING"
    IN_PROGRESS = "IN_PROGRESS"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"


OPEN_STATUSES = (CommandStatus.PENDING, CommandStatus.IN_PROGRESS)


class RuleState(StrEnum):
    DRAFT = "DRAFT"
    ACTIVE = "ACTIVE"


class CommandType(StrEnum):
    CLOUD_ACCESS_KEY_GENERATION = "cloudAccessKeyGeneration"
    CLIENT_PRIVATE_KEY_GENERATION = "clientPrivateKeyGeneration"
    CERTIFICATE_SIGNING_REQUEST = "certificateSigningRequest"
    SERVER_CERTIFICATE = "serverCertificate"
    CLIENT_CERTIFICATE = "clientCertificate"
    CLIENT_PRIVATE_KEY = "clientPrivateKey"
    PRE_SHARED_KEY = "preSharedKey"
    CONFIG = "config"
    FINISHED = "finished"


@dataclass(frozen=True, slots=True)
class ProvisioningCommand:
    id: str
    device_id: str
    tenant_id: str
    position: int
    description: str
    request: dict[str, Any]  # {<type>: {...}}, validated
    response: dict[str, Any] | None
    status: CommandStatus
    rule_id: str | None
    created_at: datetime
    updated_at: datetime

    @property
    def type(self) -> CommandType:
        return CommandType(next(iter(self.request)))

    @property
    def fields(self) -> dict[str, Any]:
        value = self.request[self.type.value]
        return value if isinstance(value, dict) else {}


@dataclass(frozen=True, slots=True)
class ProvisioningRule:
    id: str
    tenant_id: str
    name: str
    description: str
    state: RuleState
    commands: list[dict[str, Any]]  # [{description?, request}]
    tags: list[str]
    sign_csr: bool
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class ClaimedDeviceRef:
    """What provisioning needs to know of a claimed device."""

    id: str
    tenant_id: str
    status: str  # READY, BLOCKED
    restricted: bool
    identity_key_pem: str | None


def _invalid(message: str) -> InvalidInput:
    return InvalidInput(message, entity="provisioning command", field="request")


def _sec_tag(fields: Mapping[str, Any], kind: str) -> int:
    value = fields.get("secTag")
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_SEC_TAG:
        raise _invalid(f"{kind}.secTag must be an integer between 0 and {MAX_SEC_TAG}")
    return value


def _text(fields: Mapping[str, Any], name: str, kind: str, *, required: bool, limit: int = MAX_CONTENT_CHARS) -> str:
    value = fields.get(name)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value.strip()):
        raise _invalid(f"{kind}.{name} must be a non-empty string")
    if len(value) > limit:
        raise _invalid(f"{kind}.{name} is longer than {limit} characters")
    if '"' in value:
        raise _invalid(f"{kind}.{name} must not contain double quotes")
    return value


def _pem(fields: Mapping[str, Any], kind: str) -> str:
    content = _text(fields, "content", kind, required=True)
    if "-----BEGIN" not in content:
        raise _invalid(f"{kind}.content must be PEM text")
    return content


def _only(fields: Mapping[str, Any], kind: str, allowed: set[str]) -> None:
    extra = sorted(set(fields) - allowed)
    if extra:
        raise _invalid(f"{kind} has unknown fields: {', '.join(extra)}")


def validate_request(request: object) -> dict[str, Any]:
    """The request object `{<exactly one type>: {...}}`, checked field by field (InvalidInput)."""
    if not isinstance(request, dict) or len(request) != 1:
        raise _invalid("request must be an object with exactly one command type")
    kind, fields = next(iter(request.items()))
    try:
        command_type = CommandType(kind)
    except ValueError:
        names = ", ".join(item.value for item in CommandType)
        raise _invalid(f"unknown command type {str(kind)[:50]!r}; one of {names}") from None
    if not isinstance(fields, dict):
        raise _invalid(f"{kind} must be an object")
    clean: dict[str, Any]
    match command_type:
        case CommandType.CLOUD_ACCESS_KEY_GENERATION | CommandType.CLIENT_PRIVATE_KEY_GENERATION:
            _only(fields, kind, {"secTag"})
            clean = {"secTag": _sec_tag(fields, kind)}
        case CommandType.CERTIFICATE_SIGNING_REQUEST:
            _only(fields, kind, {"secTag", "attributes", "keyUsage"})
            clean = {"secTag": _sec_tag(fields, kind)}
            attributes = _text(fields, "attributes", kind, required=False, limit=500)
            if attributes:
                clean["attributes"] = attributes
            key_usage = _text(fields, "keyUsage", kind, required=False, limit=9)
            if key_usage:
                if len(key_usage) != 9 or set(key_usage) - {"0", "1"}:
                    raise _invalid(f"{kind}.keyUsage must be 9 characters of 0 and 1 (e.g. 101010000)")
                clean["keyUsage"] = key_usage
        case CommandType.SERVER_CERTIFICATE | CommandType.CLIENT_CERTIFICATE:
            _only(fields, kind, {"secTag", "content"})
            clean = {"secTag": _sec_tag(fields, kind), "content": _pem(fields, kind)}
        case CommandType.CLIENT_PRIVATE_KEY:
            _only(fields, kind, {"secTag", "content", "password"})
            clean = {"secTag": _sec_tag(fields, kind), "content": _pem(fields, kind)}
            password = _text(fields, "password", kind, required=False, limit=100)
            if password:
                clean["password"] = password
        case CommandType.PRE_SHARED_KEY:
            _only(fields, kind, {"secTag", "identity", "secret"})
            secret = _text(fields, "secret", kind, required=True, limit=256)
            if len(secret) % 2 or any(c not in "0123456789abcdefABCDEF" for c in secret):
                raise _invalid(f"{kind}.secret must be hexadecimal (an even number of digits)")
            clean = {
                "secTag": _sec_tag(fields, kind),
                "identity": _text(fields, "identity", kind, required=True, limit=256),
                "secret": secret,
            }
        case CommandType.CONFIG:
            if len(fields) > MAX_CONFIG_PROPERTIES:
                raise _invalid(f"config holds at most {MAX_CONFIG_PROPERTIES} properties")
            clean = {}
            for key, value in fields.items():
                if not key or len(key) > 100 or not isinstance(value, str) or len(value) > 1000:
                    raise _invalid("config properties must be strings (keys up to 100, values up to 1000 characters)")
                clean[key] = value
        case CommandType.FINISHED:
            _only(fields, kind, set())
            clean = {}
    return {command_type.value: clean}


def validate_description(value: object, default: str = "") -> str:
    if value is None:
        return default
    if not isinstance(value, str) or len(value) > MAX_DESCRIPTION_CHARS:
        raise InvalidInput(
            f"description must be a string of at most {MAX_DESCRIPTION_CHARS} characters",
            entity="provisioning command",
            field="description",
        )
    return value
