"""The device registry: managed objects (devices, groups), their external ids and group membership,
as pure rules."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from admittance.kernel.errors import InvalidInput, NotFound
from admittance.kernel.principal import Principal, Role
from admittance.kernel.text import has_control_chars

MAX_NAME_CHARS = 1000
# Keys the server owns in a managed object; a client cannot set them through fragments.
RESERVED_KEYS = frozenset({"id", "self", "owner", "creationTime", "lastUpdated", "name", "type"})
# Relations are kept in their own table (child assets) or not kept at all; never stored as fragments.
RELATION_KEYS = frozenset(
    {"childDevices", "childAssets", "childAdditions", "deviceParents", "assetParents", "additionParents"}
)
# How many references of each relation a managed object's representation embeds; the childAssets
# collection pages through all of them.
MAX_EMBEDDED_REFERENCES = 2000
ENTITY = "managed_object"


@dataclass(frozen=True, slots=True)
class AssetReference:
    """Another managed object, as a relation names it."""

    id: int
    name: str | None = None


@dataclass(frozen=True, slots=True)
class Relations:
    child_assets: tuple[AssetReference, ...] = ()  # subgroups and devices of a group
    asset_parents: tuple[AssetReference, ...] = ()  # the groups the object sits in


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
    relations: Relations = field(default_factory=Relations)  # filled only where a use case reads them


@dataclass(frozen=True, slots=True)
class ExternalId:
    tenant_id: str
    type: str
    value: str
    managed_object_id: int


@dataclass(frozen=True, slots=True)
class InventoryFilter:
    """Simple filters of the managed object collection; every given one must hold."""

    type: str | None = None
    fragment_type: str | None = None  # a top-level fragment is present (with any value, even null)
    text: str | None = None  # case-insensitive substring of the name, the type or an external id value
    owner: str | None = None
    ids: tuple[int, ...] | None = None  # None: any id; (): matches nothing
    parent: int | None = None  # only the child assets of this group (direct members)

    def __post_init__(self) -> None:
        for label, value in (
            ("type", self.type),
            ("fragmentType", self.fragment_type),
            ("text", self.text),
            ("owner", self.owner),
        ):
            if value is not None and (len(value) > MAX_NAME_CHARS or "\x00" in value):
                raise InvalidInput(f"{label} must have at most {MAX_NAME_CHARS} characters and no NUL", field=label)


@dataclass(frozen=True, slots=True)
class DeviceCredentials:
    """The state of a device's own user (the owner of its managed object, `device_<id>`)."""

    username: str | None  # None: the object is not owned by a device user
    exists: bool = False
    enabled: bool = False


def parse_id(mo_id: str) -> int:
    """Unknown and malformed ids are both "not found": a client cannot tell them apart."""
    if not (mo_id.isascii() and mo_id.isdecimal()) or len(mo_id) > 18:
        return -1
    return int(mo_id)


def parse_id_list(raw: str) -> tuple[int, ...]:
    """A comma-separated id list; entries that are no id can match nothing and are dropped."""
    return tuple(dict.fromkeys(parsed for part in raw.split(",") if (parsed := parse_id(part.strip())) >= 0))


def not_found(mo_id: str | int) -> NotFound:
    return NotFound(f"Finding device data from database failed : No managedObject for id '{mo_id}'!", entity=ENTITY)


def may_read(principal: Principal, mo: ManagedObject) -> bool:
    return principal.has(Role.INVENTORY_READ) or principal.has(Role.INVENTORY_ADMIN) or mo.owner == principal.username


def may_update(principal: Principal, mo: ManagedObject) -> bool:
    return principal.has(Role.INVENTORY_ADMIN) or mo.owner == principal.username


def fragments_of(body: dict[str, Any]) -> dict[str, Any]:
    """The fragments a client sent: everything but the keys the server owns and the relations."""
    return {key: value for key, value in body.items() if key not in RESERVED_KEYS and key not in RELATION_KEYS}


def apply_update(mo: ManagedObject, body: dict[str, Any], now: datetime) -> ManagedObject:
    """Cumulocity's PUT: each top-level fragment sent replaces that fragment, `null` removes it; `name`
    and `type` are replaced (null clears them); server-owned keys and relations are ignored."""
    name = body.get("name", mo.name)
    mo_type = body.get("type", mo.type)
    validate_names(name, mo_type)
    fragments = dict(mo.fragments)
    for key, value in fragments_of(body).items():
        if value is None:
            fragments.pop(key, None)
        else:
            fragments[key] = value
    return replace(mo, name=name, type=mo_type, fragments=fragments, updated_at=now)


def validate_external_id(id_type: str, value: str) -> None:
    for label, text in (("type", id_type), ("externalId", value)):
        if not text or len(text) > MAX_NAME_CHARS:
            raise InvalidInput(f"{label} must have 1 to {MAX_NAME_CHARS} characters", entity="external_id", field=label)
        if has_control_chars(text):
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
                entity=ENTITY,
                field=label,
            )
