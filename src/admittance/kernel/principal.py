"""Who is calling: the authenticated principal and the role names the domain checks."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from admittance.kernel.errors import PermissionDenied


class Role(StrEnum):
    """Built-in roles. The names follow Cumulocity's, which operators already know."""

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


ADMIN_ROLES: frozenset[Role] = frozenset(
    {
        Role.DEVICE_CONTROL_READ,
        Role.DEVICE_CONTROL_ADMIN,
        Role.USER_MANAGEMENT_READ,
        Role.USER_MANAGEMENT_ADMIN,
        Role.INVENTORY_READ,
        Role.INVENTORY_ADMIN,
        Role.IDENTITY_READ,
        Role.IDENTITY_ADMIN,
        Role.TENANT_MANAGEMENT_ADMIN,
    }
)

MANAGEMENT_TENANT = "management"


@dataclass(frozen=True, slots=True)
class Principal:
    user_id: int
    tenant_id: str
    username: str
    roles: frozenset[str]

    @property
    def in_management_tenant(self) -> bool:
        return self.tenant_id == MANAGEMENT_TENANT

    def has(self, role: Role) -> bool:
        return role in self.roles

    def require(self, *any_of: Role) -> None:
        """Raise PermissionDenied unless the principal holds at least one of the roles."""
        if not any(role in self.roles for role in any_of):
            raise PermissionDenied("Access is denied")

    def can_see_tenant(self, tenant_id: str) -> bool:
        """The management tenant oversees every tenant; others see only their own."""
        return self.in_management_tenant or tenant_id == self.tenant_id
