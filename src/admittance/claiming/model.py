"""Claimed devices and their tags (nRF Cloud's claimed-device object, spec a.3)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from admittance.kernel.errors import InvalidInput

MAX_TAG_CHARS = 100
MAX_TAGS_PER_DEVICE = 100
MAX_CSV_ROWS = 1000
DEVICE_ID_TYPE = "nrf_DeviceId"  # external id type of a claimed device's managed object
DEVICE_MO_TYPE = "nrf_Device"
OWNERSHIP_IDENTIFIED = "IDENTIFIED"


@dataclass(frozen=True, slots=True)
class ClaimingPolicy:
    challenge_seconds: int = 600  # claim token challenges (POST /admittance/v1/nrf/challenges) expire
    device_jwt_max_seconds: int = 604800  # longest lifetime (exp - iat) of a device JWT (sdk-nrf allows 604800)


class DeviceStatus(StrEnum):
    READY = "READY"
    BLOCKED = "BLOCKED"


class TagKind(StrEnum):
    CLAIMED = "claimed"
    PROVISIONING = "provisioning"


@dataclass(frozen=True, slots=True)
class ClaimedDevice:
    id: str  # the device UUID, lower case 8-4-4-4-12
    tenant_id: str
    device_type: int
    firmware_id: str
    imei: str | None
    ownership_status: str
    status: DeviceStatus
    claimed_by: str
    restricted: bool  # claimed by an nRF Cloud admin/owner: hidden from editors and viewers
    identity_key_pem: str | None
    managed_object_id: int | None
    claimed_at: datetime
    updated_at: datetime
    tags: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Tag:
    id: str
    tenant_id: str
    kind: TagKind
    tag: str
    description: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class DeviceFilter:
    tags: tuple[str, ...] = ()  # any of them
    status: DeviceStatus | None = None
    device_type: int | None = None
    include_restricted: bool = False


@dataclass(frozen=True, slots=True)
class DevicePage:
    items: list[ClaimedDevice]
    total: int
    next_after: tuple[int, str] | None  # (claimed_at millis, id) of the last item when more follow


@dataclass(frozen=True, slots=True)
class CsvClaimResult:
    claimed_ids: list[str]
    failed: list[dict[str, str]]


def normalize_tags(raw: object, *, what: str = "tags") -> tuple[str, ...]:
    """A list of strings; elements with commas are split (nrfcloud-utils sends ["a,b"]), blanks
    dropped, order kept, duplicates removed; each tag at most 100 characters."""
    if raw is None:
        return ()
    if not isinstance(raw, list) or not all(isinstance(item, str) for item in raw):
        raise InvalidInput(f"'{what}' must be a list of strings")
    tags: list[str] = []
    for item in raw:
        for part in item.split(","):
            tag = part.strip()
            if tag:
                validate_tag(tag)
                if tag not in tags:
                    tags.append(tag)
    if len(tags) > MAX_TAGS_PER_DEVICE:
        raise InvalidInput(f"At most {MAX_TAGS_PER_DEVICE} tags per device")
    return tuple(tags)


def validate_tag(tag: object) -> str:
    if not isinstance(tag, str) or not tag.strip():
        raise InvalidInput("'tag' must be a non-empty string")
    if len(tag) > MAX_TAG_CHARS:
        raise InvalidInput(f"A tag has at most {MAX_TAG_CHARS} characters")
    if "," in tag or any(ord(ch) < 32 for ch in tag):
        raise InvalidInput("A tag may not contain commas or control characters")
    return tag


@dataclass(frozen=True, slots=True)
class IdentityKey:
    device_uuid: str
    public_key_pem: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Challenge:
    nonce: str  # 32 hex digits
    tenant_id: str
    expires_at: datetime
    used_at: datetime | None
