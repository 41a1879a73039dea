"""Console pages: roles and their permissions.

Each page and form stands for the Connectware-compatible API request that does the same
(`/api/roles/...`) and is gated by the same policy on it; the role service then applies its own
rules (visibility, no privilege escalation, built-in roles read-only)."""

from __future__ import annotations

from urllib.parse import quote

from starlette.responses import Response

from admittance.http.console.core import PREFIX
from admittance.http.console.page import Page, PageRoute
from admittance.identity.directory_model import NewRole, Role, RoleChanges, RoleQuery, is_identity_role
from admittance.identity.roles import RoleService
from admittance.kernel.access import BUILTIN_ROLES, Context, Operation, parse_permission

ROLES = PREFIX + "/roles"
API = "/api/roles"
LIST = ("GET", API)
CREATE = ("POST", API)
DESCRIPTIONS = {name: role.description for name, role in BUILTIN_ROLES.items()}
_OPERATION_TEXT = {Operation.READ: "Read", Operation.WRITE: "Write", Operation.READ_WRITE: "Read and write"}


def routes(pages: RolePages) -> list[PageRoute]:
    one = ROLES + "/{id}"
    return [
        PageRoute("GET", ROLES, pages.list_roles, needs=LIST),
        PageRoute("POST", ROLES, pages.create_role, needs=CREATE),
        PageRoute("GET", one, pages.role_detail, needs=LIST),
        PageRoute("POST", one, pages.update_role, needs=LIST),
        PageRoute("POST", one + "/permissions", pages.add_permission, needs=LIST),
        PageRoute("POST", one + "/permissions/{permission}/delete", pages.remove_permission, needs=LIST),
        PageRoute("POST", one + "/delete", pages.delete_role, needs=LIST),
    ]


def role_url(role_id: str) -> str:
    return f"{ROLES}/{quote(role_id, safe='')}"


class RolePages:
    """The role pages: they read and change roles through the role service."""

    def __init__(self, roles: RoleService) -> None:
        self._roles = roles

    async def list_roles(self, current: Page) -> Response:
        found = await self._roles.list_roles(current.principal)
        listed = [role for role in found if role.personal_user_id is None]
        return current.render(
            "roles.html",
            title="Roles",
            custom=[role for role in listed if not role.builtin],
            builtin=[role for role in listed if role.builtin and not is_identity_role(role.id)],
            descriptions=DESCRIPTIONS,
            can_create=current.can(*CREATE),
        )

    async def create_role(self, current: Page) -> Response:
        name = current.field("name")
        if not name:
            return current.back(("error", "Enter a name for the new role."))
        role = await self._roles.create_role(
            current.principal, NewRole(name=name, is_shared=current.field("shared") == "on")
        )
        return current.redirect(role_url(role.id), f"The role {role.name} was created. Now add its permissions.")

    async def role_detail(self, current: Page) -> Response:
        role_id = current.path_param("id")
        current.require("GET", f"{API}/{role_id}")
        role = await self._roles.get_role(current.principal, role_id)
        mutable = not role.builtin and role.personal_user_id is None
        return current.render(
            "roles_detail.html",
            title=f"Role {role.name}",
            role=role,
            members=await self._members(current, role),
            description=BUILTIN_ROLES[role.id].description if role.builtin and role.id in BUILTIN_ROLES else None,
            can_edit=mutable and current.can("PUT", f"{API}/{role_id}"),
            can_add=not role.builtin and current.can("POST", f"{API}/{role_id}/permissions"),
            can_remove=not role.builtin and current.can("DELETE", f"{API}/{role_id}/permissions/x"),
            can_delete=mutable and current.can("DELETE", f"{API}/{role_id}"),
            contexts=[(c.value, c.value.upper()) for c in Context],
            operations=[(o.value, _OPERATION_TEXT[o]) for o in Operation],
        )

    async def _members(self, current: Page, role: Role) -> list[tuple[int, str]]:
        """(id, name) of the users who hold the role."""
        usage = await self._roles.roles_page(current.principal, RoleQuery(names=(role.name,)))
        return next((found.users for found in usage.items if found.role.id == role.id), [])

    async def update_role(self, current: Page) -> Response:
        role_id = current.path_param("id")
        current.require("PUT", f"{API}/{role_id}")
        role = await self._roles.update_role(
            current.principal,
            role_id,
            RoleChanges(name=current.field("name"), is_shared=current.field("shared") == "on"),
        )
        return current.redirect(role_url(role.id), f"The role {role.name} was saved.")

    async def add_permission(self, current: Page) -> Response:
        role_id = current.path_param("id")
        current.require("POST", f"{API}/{role_id}/permissions")
        grant = parse_permission(current.field("context"), current.field("operation"), current.field("resource"))
        await self._roles.add_permission(current.principal, role_id, grant)
        return current.redirect(
            role_url(role_id),
            f"Added: {_OPERATION_TEXT[grant.operation].lower()} on {grant.context.value} {grant.resource}.",
        )

    async def remove_permission(self, current: Page) -> Response:
        role_id = current.path_param("id")
        permission_id = current.path_param("permission")
        current.require("DELETE", f"{API}/{role_id}/permissions/{permission_id}")
        await self._roles.delete_permission(current.principal, role_id, permission_id)
        return current.redirect(role_url(role_id), "The permission was removed.")

    async def delete_role(self, current: Page) -> Response:
        role_id = current.path_param("id")
        current.require("DELETE", f"{API}/{role_id}")
        role = await self._roles.get_role(current.principal, role_id)
        await self._roles.delete_role(current.principal, role_id)
        return current.redirect(ROLES, f"The role {role.name} was deleted.")
