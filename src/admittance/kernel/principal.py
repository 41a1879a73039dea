"""Who is calling: the authenticated principal, its roles and the permissions they grant."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from admittance.kernel.access import (
    BUILTIN_ROLES,
    IDENTITY_ROLES,
    Context,
    Operation,
    Permission,
    RoleName,
    covers_all,
    operation_of_method,
    permissions_of_roles,
)
from admittance.kernel.errors import PermissionDenied

Role = RoleName  # the name the domain has always used for built-in roles

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
        Role.CONNECTWARE_ADMIN,
    }
)

MANAGEMENT_TENANT = "management"


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller. `permissions` are the effective ones: those of its built-in roles
    and of its stored roles; build it with `Principal.of` so that the built-in ones are included."""

    user_id: int
    tenant_id: str
    username: str
    roles: frozenset[str]
    permissions: frozenset[Permission] = field(default=frozenset(), compare=False)
    # MFA enrollment is enforced and not done yet: only the enrollment endpoints are open to it.
    mfa_enrollment_pending: bool = field(default=False, compare=False)

    @classmethod
    def of(
        cls,
        user_id: int,
        tenant_id: str,
        username: str,
        roles: Iterable[str],
        stored_permissions: Iterable[Permission] = (),
        *,
        mfa_enrollment_pending: bool = False,
    ) -> Principal:
        role_set = frozenset(roles)
        return cls(
            user_id,
            tenant_id,
            username,
            role_set,
            permissions_of_roles(role_set) | frozenset(stored_permissions),
            mfa_enrollment_pending,
        )

    @property
    def in_management_tenant(self) -> bool:
        return self.tenant_id == MANAGEMENT_TENANT

    def has(self, role: Role) -> bool:
        """Holds the role, or (for capability roles) permissions that cover all of the role's."""
        if role.value in self.roles:
            return True
        if role in IDENTITY_ROLES:
            return False
        return covers_all(self.permissions, BUILTIN_ROLES[role.value].permissions)

    def require(self, *any_of: Role) -> None:
        """Raise PermissionDenied unless the principal has at least one of the roles."""
        if not any(self.has(role) for role in any_of):
            raise PermissionDenied("Access is denied")

    def permits(self, context: Context, operation: Operation, resource: str) -> bool:
        return any(grant.allows(context, operation, resource) for grant in self.permissions)

    def permits_request(self, method: str, path: str) -> bool:
        return self.permits(Context.HTTP, operation_of_method(method), path)

    def require_request(self, method: str, path: str) -> None:
        if not self.permits_request(method, path):
            raise PermissionDenied("Access is denied")

    def can_see_tenant(self, tenant_id: str) -> bool:
        """The management tenant oversees every tenant; others see only their own."""
        return self.in_management_tenant or tenant_id == self.tenant_id
