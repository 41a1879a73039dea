"""The one access model: permissions on resources, matched with MQTT topic-filter semantics.

A permission is `{resource, operation, context}` as Connectware defines it: `context` is `http`
(REST paths, which start with `/`) or `mqtt` (topics); `operation` is `read`, `write` or
`readWrite`; `resource` is an MQTT topic filter in both contexts (`+` one level, `#` the rest).
HTTP `read` is GET/HEAD/OPTIONS, `write` every other method; MQTT `read` is subscribe (and
receive), `write` is publish.

Roles are sets of permissions. The Cumulocity ROLE_* roles are built-in roles of this same model:
a principal "has" a capability role when its permissions cover every permission of that role, so a
custom role granting `readWrite /devicecontrol/#` can accept registrations exactly like
ROLE_DEVICE_CONTROL_ADMIN. Two roles say *what* the caller is rather than what it may do
(ROLE_DEVICE_BOOTSTRAP, ROLE_DEVICE); they are held only by membership (ADR 0007).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from admittance.kernel.errors import InvalidInput
from admittance.kernel.text import has_control_chars

MAX_RESOURCE_CHARS = 1000


class Context(StrEnum):
    HTTP = "http"
    MQTT = "mqtt"


class Operation(StrEnum):
    READ = "read"
    WRITE = "write"
    READ_WRITE = "readWrite"

    def covers(self, other: Operation) -> bool:
        return self is other or self is Operation.READ_WRITE


_READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def operation_of_method(method: str) -> Operation:
    return Operation.READ if method.upper() in _READ_METHODS else Operation.WRITE


@dataclass(frozen=True, slots=True, order=True)
class Permission:
    context: Context
    operation: Operation
    resource: str

    def covers(self, required: Permission) -> bool:
        """True when this grant allows everything `required` describes (its filter is a subset)."""
        return (
            self.context is required.context
            and self.operation.covers(required.operation)
            and filter_covers(self.resource, required.resource)
        )

    def allows(self, context: Context, operation: Operation, topic: str) -> bool:
        """True when this grant allows `operation` on one concrete topic or path."""
        return self.context is context and self.operation.covers(operation) and topic_matches(self.resource, topic)


def parse_permission(context: object, operation: object, resource: object) -> Permission:
    """A permission from untrusted input, with a clear error for each broken rule."""
    try:
        parsed_context = Context(str(context))
    except ValueError:
        raise InvalidInput(
            "permission context must be 'http' or 'mqtt'", entity="permission", field="context"
        ) from None
    try:
        parsed_operation = Operation(str(operation))
    except ValueError:
        raise InvalidInput(
            "permission operation must be 'read', 'write' or 'readWrite'", entity="permission", field="operation"
        ) from None
    if not isinstance(resource, str) or not resource:
        raise InvalidInput("permission resource must be a non-empty string", entity="permission", field="resource")
    validate_filter(resource)
    if parsed_context is Context.HTTP and not (resource.startswith("/") or resource == "#"):
        raise InvalidInput("an http permission resource must start with '/'", entity="permission", field="resource")
    return Permission(parsed_context, parsed_operation, resource)


def validate_filter(resource: str) -> None:
    """MQTT filter rules: `#` only as the whole last level, `+` only as a whole level."""
    if len(resource) > MAX_RESOURCE_CHARS:
        raise InvalidInput(
            f"permission resource must have at most {MAX_RESOURCE_CHARS} characters",
            entity="permission",
            field="resource",
        )
    if has_control_chars(resource):
        raise InvalidInput(
            "permission resource must not contain control characters", entity="permission", field="resource"
        )
    levels = resource.split("/")
    for index, level in enumerate(levels):
        if "#" in level and (level != "#" or index != len(levels) - 1):
            raise InvalidInput("'#' must be the whole last level of a resource", entity="permission", field="resource")
        if "+" in level and level != "+":
            raise InvalidInput("'+' must be a whole level of a resource", entity="permission", field="resource")


def topic_matches(topic_filter: str, topic: str) -> bool:
    """MQTT matching of one concrete topic (or HTTP path) against a filter.

    `#` matches the parent level too (`a/#` matches `a`); wildcards at the first level do not match
    topics starting with `$` (MQTT 3.1.1 §4.7.2), so `#` never reaches `$SYS` or `$CONTROL`.
    """
    levels = topic_filter.split("/")
    parts = topic.split("/")
    if topic.startswith("$") and levels[0] in ("#", "+"):
        return False
    for index, level in enumerate(levels):
        if level == "#":
            return True
        if index >= len(parts):
            return False
        if level != "+" and level != parts[index]:
            return False
    return len(parts) == len(levels)


def filter_covers(granted: str, required: str) -> bool:
    """True when every topic matched by `required` is matched by `granted` (filter subset)."""
    levels = granted.split("/")
    wanted = required.split("/")
    if required.startswith("$") and levels[0] in ("#", "+"):
        return False
    for index, level in enumerate(levels):
        if level == "#":
            return True
        if index >= len(wanted):
            return False
        part = wanted[index]
        if part == "#":
            return False
        if level != "+" and level != part:
            return False
    return len(wanted) == len(levels)


class RoleName(StrEnum):
    """Built-in roles. Connectware's two, and Cumulocity's names, which operators already know."""

    CONNECTWARE_ADMIN = "connectware-admin"
    MINIMUM_ACCESS = "minimum-access"
    DEVICE_CONTROL_READ = "ROLE_DEVICE_CONTROL_READ"
    DEVICE_CONTROL_ADMIN = "ROLE_DEVICE_CONTROL_ADMIN"
    USER_MANAGEMENT_READ = "ROLE_USER_MANAGEMENT_READ"
    USER_MANAGEMENT_ADMIN = "ROLE_USER_MANAGEMENT_ADMIN"
    INVENTORY_READ = "ROLE_INVENTORY_READ"
    INVENTORY_ADMIN = "ROLE_INVENTORY_ADMIN"
    IDENTITY_READ = "ROLE_IDENTITY_READ"
    IDENTITY_ADMIN = "ROLE_IDENTITY_ADMIN"
    TENANT_MANAGEMENT_ADMIN = "ROLE_TENANT_MANAGEMENT_ADMIN"
    DEVICE_BOOTSTRAP = "ROLE_DEVICE_BOOTSTRAP"
    DEVICE = "ROLE_DEVICE"
    NRF_VIEWER = "nrf-cloud-viewer"
    NRF_EDITOR = "nrf-cloud-editor"
    NRF_ADMIN = "nrf-cloud-admin"
    NRF_OWNER = "nrf-cloud-owner"


# Held only by membership: they name what the caller is (the shared bootstrap identity, a device).
IDENTITY_ROLES = frozenset({RoleName.DEVICE_BOOTSTRAP, RoleName.DEVICE})


def _grants(context: Context, operation: Operation, *resources: str) -> frozenset[Permission]:
    return frozenset(Permission(context, operation, resource) for resource in resources)


_R, _W, _RW = Operation.READ, Operation.WRITE, Operation.READ_WRITE
_HTTP, _MQTT = Context.HTTP, Context.MQTT
# nRF Cloud's team roles over the Provisioning Service API (/v1): viewers read; editors claim and
# manage devices, their tags and commands; admins and owners also rules and identity keys.
_NRF_EDITOR_PATHS = ("/v1/claimed-devices/#", "/v1/identities/claimed-devices/#", "/v1/bulk-ops-requests/#")
_USER_MANAGEMENT_PATHS = ("/user/#", "/api/listUsers", "/api/users/#", "/api/roles/#", "/api/permissions/#")


@dataclass(frozen=True, slots=True)
class BuiltinRole:
    name: RoleName
    description: str
    permissions: frozenset[Permission]


BUILTIN_ROLES: dict[str, BuiltinRole] = {
    role.name.value: role
    for role in (
        BuiltinRole(
            RoleName.CONNECTWARE_ADMIN,
            "Full read and write access to every HTTP path and MQTT topic",
            _grants(_HTTP, _RW, "#") | _grants(_MQTT, _RW, "#"),
        ),
        BuiltinRole(RoleName.MINIMUM_ACCESS, "Sign in and read one's own session", _grants(_HTTP, _R, "/api/session")),
        BuiltinRole(RoleName.DEVICE_CONTROL_READ, "Read device registrations", _grants(_HTTP, _R, "/devicecontrol/#")),
        BuiltinRole(
            RoleName.DEVICE_CONTROL_ADMIN, "Manage device registrations", _grants(_HTTP, _RW, "/devicecontrol/#")
        ),
        BuiltinRole(RoleName.USER_MANAGEMENT_READ, "Read users and roles", _grants(_HTTP, _R, *_USER_MANAGEMENT_PATHS)),
        BuiltinRole(
            RoleName.USER_MANAGEMENT_ADMIN, "Manage users and roles", _grants(_HTTP, _RW, *_USER_MANAGEMENT_PATHS)
        ),
        BuiltinRole(RoleName.INVENTORY_READ, "Read the device registry", _grants(_HTTP, _R, "/inventory/#")),
        BuiltinRole(RoleName.INVENTORY_ADMIN, "Manage the device registry", _grants(_HTTP, _RW, "/inventory/#")),
        BuiltinRole(RoleName.IDENTITY_READ, "Read external ids", _grants(_HTTP, _R, "/identity/#")),
        BuiltinRole(RoleName.IDENTITY_ADMIN, "Manage external ids", _grants(_HTTP, _RW, "/identity/#")),
        BuiltinRole(RoleName.TENANT_MANAGEMENT_ADMIN, "Manage tenants", _grants(_HTTP, _RW, "/tenant/#")),
        BuiltinRole(
            RoleName.NRF_VIEWER, "nRF Cloud team viewer: read the Provisioning Service", _grants(_HTTP, _R, "/v1/#")
        ),
        BuiltinRole(
            RoleName.NRF_EDITOR,
            "nRF Cloud team editor: claim devices, manage their tags and provisioning commands",
            _grants(_HTTP, _R, "/v1/#") | _grants(_HTTP, _RW, *_NRF_EDITOR_PATHS),
        ),
        BuiltinRole(
            RoleName.NRF_ADMIN, "nRF Cloud team admin: the whole Provisioning Service", _grants(_HTTP, _RW, "/v1/#")
        ),
        BuiltinRole(
            RoleName.NRF_OWNER, "nRF Cloud team owner: the whole Provisioning Service", _grants(_HTTP, _RW, "/v1/#")
        ),
        BuiltinRole(
            RoleName.DEVICE_BOOTSTRAP,
            "The shared bootstrap identity: poll for device credentials",
            _grants(_HTTP, _W, "/devicecontrol/deviceCredentials"),
        ),
        BuiltinRole(
            RoleName.DEVICE,
            "A device: its own user, managed object and external ids",
            _grants(_HTTP, _R, "/user/currentUser")
            | _grants(_HTTP, _RW, "/inventory/managedObjects", "/inventory/managedObjects/+")
            | _grants(_HTTP, _RW, "/identity/globalIds/+/externalIds", "/identity/externalIds/+/+"),
        ),
    )
}


def permissions_of_roles(role_ids: Iterable[str]) -> frozenset[Permission]:
    """The permissions the built-in roles among `role_ids` grant (custom roles are stored)."""
    granted: set[Permission] = set()
    for role_id in role_ids:
        builtin = BUILTIN_ROLES.get(role_id)
        if builtin is not None:
            granted |= builtin.permissions
    return frozenset(granted)


def covers_all(granted: Iterable[Permission], required: Iterable[Permission]) -> bool:
    held = tuple(granted)
    return all(any(grant.covers(need) for grant in held) for need in required)
