"""Use cases of roles and permissions as the Connectware-compatible API manages them: custom roles of a
tenant, their permissions, and the usage of each permission (/api/roles, /api/permissions).

Visibility: the built-in roles and the custom roles of the caller's tenant (every tenant for the
management tenant). Built-in roles are immutable (InvalidState); personal roles (a user's direct
permissions) follow their user and cannot be renamed, shared or deleted here. Every permission
given goes through the no-escalation rule of identity/grants.py.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from admittance.audit import AuditEvent, AuditTag
from admittance.identity.directory_model import (
    UNSET,
    NewRole,
    Paged,
    PermissionGroup,
    PermissionUse,
    Role,
    RoleChanges,
    RoleQuery,
    RoleUsage,
    StoredPermission,
    builtin_role,
    builtin_roles,
    validate_role_name,
)
from admittance.identity.grants import actor, replace_permissions, require_covers
from admittance.identity.store import DirectoryTransaction
from admittance.kernel.access import Permission, parse_permission
from admittance.kernel.clock import Clock
from admittance.kernel.errors import InvalidState, NotFound
from admittance.kernel.principal import Principal
from admittance.kernel.storage import Storage

MAX_ROLE_MEMBERS_LISTED = 1000


class RoleService:
    def __init__(self, storage: Storage[DirectoryTransaction], clock: Clock) -> None:
        self._storage = storage
        self._clock = clock

    async def create_role(self, principal: Principal, new: NewRole) -> Role:
        name = validate_role_name(new.name)
        permissions = tuple(dict.fromkeys(new.permissions))
        require_covers(principal, permissions, "these permissions")
        role = Role(
            str(uuid.uuid4()),
            principal.tenant_id,
            name,
            new.is_shared,
            new.auto_generated,
            False,
            tuple(StoredPermission(str(uuid.uuid4()), grant) for grant in permissions),
        )
        async with self._storage.transaction() as tx:
            await tx.directory.create_role(role, self._clock.now())
            await tx.audit.record(
                self._role_event(AuditTag.ROLE_CREATED, role, principal, name=name, permissions=len(permissions))
            )
        return role

    async def list_roles(self, principal: Principal, name: str | None = None) -> list[Role]:
        async with self._storage.read() as tx:
            roles = await self._visible_roles(tx, principal)
        return [role for role in roles if name is None or role.name == name]

    async def roles_page(self, principal: Principal, query: RoleQuery) -> Paged[RoleUsage]:
        async with self._storage.read() as tx:
            roles = [
                role
                for role in await self._visible_roles(tx, principal)
                if (not query.names or role.name in query.names)
                and (query.auto_generated is None or role.auto_generated is query.auto_generated)
                and (query.is_shared is None or role.is_shared is query.is_shared)
            ]
            offset = (query.page - 1) * query.rows_per_page
            page = roles[offset : offset + query.rows_per_page]
            scope = None if principal.in_management_tenant else principal.tenant_id
            members = await tx.directory.role_members([role.id for role in page], scope, MAX_ROLE_MEMBERS_LISTED)
        usages = [RoleUsage(role, members.get(role.id, [])) for role in page]
        return Paged(usages, len(roles), query.page, query.rows_per_page)

    async def get_role(self, principal: Principal, role_id: str) -> Role:
        async with self._storage.read() as tx:
            return await self._visible_role(tx, principal, role_id)

    async def update_role(self, principal: Principal, role_id: str, changes: RoleChanges) -> Role:
        async with self._storage.transaction() as tx:
            role = await self._mutable_role(tx, principal, role_id)
            name, shared = role.name, role.is_shared
            if changes.name is not UNSET and changes.name != role.name:
                self._personal_check(role, "renamed")
                name = validate_role_name(changes.name)
            if changes.is_shared is not UNSET and changes.is_shared is not role.is_shared:
                self._personal_check(role, "shared")
                shared = changes.is_shared
            if (name, shared) != (role.name, role.is_shared):
                await tx.directory.update_role(role.id, name, shared)
            if changes.permissions is not UNSET:
                await replace_permissions(tx, principal, role, changes.permissions)
            await tx.audit.record(self._role_event(AuditTag.ROLE_UPDATED, role, principal, name=name))
            updated = await tx.directory.role(role.id)
        assert updated is not None
        return updated

    async def delete_role(self, principal: Principal, role_id: str) -> None:
        async with self._storage.transaction() as tx:
            role = await self._mutable_role(tx, principal, role_id)
            self._personal_check(role, "deleted (delete the user or clear their permissions)")
            holders = await tx.directory.delete_role(role.id)
            await tx.audit.record(self._role_event(AuditTag.ROLE_DELETED, role, principal, users=holders))

    async def permission_of_role(self, principal: Principal, role_id: str, permission_id: str) -> StoredPermission:
        role = await self.get_role(principal, role_id)
        return self._permission_in(role, permission_id)

    async def add_permission(self, principal: Principal, role_id: str, permission: Permission) -> StoredPermission:
        require_covers(principal, [permission], "this permission")
        stored = StoredPermission(str(uuid.uuid4()), permission)
        async with self._storage.transaction() as tx:
            role = await self._mutable_role(tx, principal, role_id)
            await tx.directory.add_permission(role.id, stored)
            await tx.audit.record(
                self._role_event(AuditTag.ROLE_PERMISSION_ADDED, role, principal, **_describe(stored))
            )
        return stored

    async def update_permission(
        self,
        principal: Principal,
        role_id: str,
        permission_id: str,
        resource: object,
        operation: object,
        context: object | None,
    ) -> StoredPermission:
        async with self._storage.transaction() as tx:
            role = await self._mutable_role(tx, principal, role_id)
            current = self._permission_in(role, permission_id)
            grant = parse_permission(
                current.permission.context.value if context is None else context, operation, resource
            )
            require_covers(principal, [grant], "this permission")
            stored = StoredPermission(current.id, grant)
            if grant != current.permission:
                await tx.directory.update_permission(role.id, stored)
                await tx.audit.record(
                    self._role_event(AuditTag.ROLE_PERMISSION_UPDATED, role, principal, **_describe(stored))
                )
        return stored

    async def delete_permission(self, principal: Principal, role_id: str, permission_id: str) -> None:
        async with self._storage.transaction() as tx:
            role = await self._mutable_role(tx, principal, role_id)
            stored = self._permission_in(role, permission_id)
            await tx.directory.delete_permission(role.id, stored.id)
            await tx.audit.record(
                self._role_event(AuditTag.ROLE_PERMISSION_REMOVED, role, principal, **_describe(stored))
            )

    # -- permissions ------------------------------------------------------------------------------

    async def permission_groups(
        self, principal: Principal, ids: Sequence[str], page: int, rows_per_page: int
    ) -> Paged[PermissionGroup]:
        """Usage of each (resource, context) by roles and users, for /api/permissions/page."""
        async with self._storage.read() as tx:
            roles = await self._visible_roles(tx, principal)
            owners = await tx.directory.usernames(
                [owner for owner in (role.personal_user_id for role in roles) if owner is not None]
            )
        wanted = frozenset(ids)
        groups: dict[tuple[str, str], list[PermissionUse]] = {}
        for role in roles:
            owner = role.personal_user_id
            user = (owner, owners[owner]) if owner is not None and owner in owners else None
            for stored in role.permissions:
                if wanted and stored.id not in wanted:
                    continue
                grant = stored.permission
                key = (grant.resource, grant.context.value)
                groups.setdefault(key, []).append(PermissionUse(role, grant.operation.value, user))
        ordered = [PermissionGroup(resource, context, usage) for (resource, context), usage in sorted(groups.items())]
        offset = (page - 1) * rows_per_page
        return Paged(ordered[offset : offset + rows_per_page], len(ordered), page, rows_per_page)

    async def permission_ids(self, principal: Principal) -> list[tuple[Permission, list[str]]]:
        """Each distinct permission with the ids it has in the roles the caller can see."""
        async with self._storage.read() as tx:
            roles = await self._visible_roles(tx, principal)
        found: dict[Permission, list[str]] = {}
        for role in roles:
            for stored in role.permissions:
                found.setdefault(stored.permission, []).append(stored.id)
        return sorted(found.items(), key=lambda item: (item[0].resource, item[0].context, item[0].operation))

    # -- internals --------------------------------------------------------------------------------

    async def _visible_roles(self, tx: DirectoryTransaction, principal: Principal) -> list[Role]:
        scope = None if principal.in_management_tenant else principal.tenant_id
        return builtin_roles() + await tx.directory.roles(scope)

    async def _visible_role(self, tx: DirectoryTransaction, principal: Principal, role_id: str) -> Role:
        role = builtin_role(role_id) or await tx.directory.role(role_id)
        if role is None or (role.tenant_id is not None and not principal.can_see_tenant(role.tenant_id)):
            raise NotFound(f"There is no role with id {role_id}", entity="role")
        return role

    async def _mutable_role(self, tx: DirectoryTransaction, principal: Principal, role_id: str) -> Role:
        role = await self._visible_role(tx, principal, role_id)
        if role.builtin:
            raise InvalidState(f"The built-in role {role.name} cannot be changed or deleted", entity="role")
        return role

    @staticmethod
    def _personal_check(role: Role, what: str) -> None:
        if role.personal_user_id is not None:
            raise InvalidState(f"A user's personal role cannot be {what}", entity="role")

    @staticmethod
    def _permission_in(role: Role, permission_id: str) -> StoredPermission:
        for stored in role.permissions:
            if stored.id == permission_id:
                return stored
        raise NotFound(f"The role {role.id} has no permission with id {permission_id}", entity="permission")

    def _role_event(self, tag: AuditTag, role: Role, principal: Principal, **detail: object) -> AuditEvent:
        return AuditEvent(
            tag=tag,
            tenant_id=role.tenant_id or principal.tenant_id,
            actor=actor(principal),
            subject=f"role:{role.id}",
            at=self._clock.now(),
            detail=dict(detail),
        )


def _describe(stored: StoredPermission) -> dict[str, object]:
    grant = stored.permission
    return {
        "permission": stored.id,
        "context": grant.context.value,
        "operation": grant.operation.value,
        "resource": grant.resource,
    }
