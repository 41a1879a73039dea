"""No privilege escalation: the rules every grant of a role or permission goes through, whether it is
given to a user (identity/users.py) or to a role (identity/roles.py)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence

from admittance.identity.directory_model import (
    PERSONAL_ROLE_PREFIX,
    DirectoryUser,
    Role,
    StoredPermission,
    builtin_role,
    is_identity_role,
)
from admittance.identity.store import DirectoryTransaction
from admittance.kernel.access import Permission, covers_all
from admittance.kernel.errors import InvalidInput, PermissionDenied
from admittance.kernel.principal import Principal


def actor(principal: Principal) -> str:
    return f"{principal.tenant_id}/{principal.username}"


def require_covers(principal: Principal, permissions: Iterable[Permission], what: str) -> None:
    if not covers_all(principal.permissions, permissions):
        raise PermissionDenied(f"You cannot grant {what}: you do not hold every permission it grants yourself")


async def grantable(
    tx: DirectoryTransaction, principal: Principal, user: DirectoryUser, role_ids: Sequence[str]
) -> list[Role]:
    """The roles named by id, each one the caller may grant to the user."""
    roles: list[Role] = []
    for role_id in role_ids:
        if not isinstance(role_id, str) or not role_id:
            raise InvalidInput("role ids must be non-empty strings", entity="user", field="roles")
        if is_identity_role(role_id):
            raise InvalidInput(
                f"The role {role_id} is given by the system only (it says what the caller is)",
                entity="user",
                field="roles",
            )
        role = builtin_role(role_id) or await tx.directory.role(role_id)
        if role is None or (not role.builtin and role.tenant_id != user.tenant_id):
            raise InvalidInput(f"There is no role with id {role_id} (roles are named by id)", field="roles")
        if role.id.startswith(PERSONAL_ROLE_PREFIX):
            raise InvalidInput(f"The role {role_id} is another user's personal role", field="roles")
        require_covers(principal, role.granted, f"the role {role.name}")
        roles.append(role)
    return roles


async def replace_permissions(
    tx: DirectoryTransaction, principal: Principal, role: Role, permissions: Iterable[Permission]
) -> None:
    """A role's permissions become `permissions`; the ones it keeps keep their ids."""
    wanted = tuple(dict.fromkeys(permissions))
    kept = {stored.permission: stored for stored in role.permissions}
    require_covers(principal, [grant for grant in wanted if grant not in kept], "these permissions")
    replaced = [kept.get(grant) or StoredPermission(str(uuid.uuid4()), grant) for grant in wanted]
    await tx.directory.replace_permissions(role.id, replaced)
