"""Console pages: users, roles and permissions, and the session tokens of a user.

Each page and form stands for the Connectware-compatible API request that does the same
(`/api/users/...`, `/api/roles/...`) and is gated by the same policy on it; the directory service then
applies its own rules (visibility, no privilege escalation, built-in roles read-only). Revoking another
user's tokens is checked here on `DELETE /api/users/{id}/tokens`, as the API route does."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from urllib.parse import quote, urlencode

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from admittance.http.console.core import PREFIX, Console, Page, page
from admittance.http.params import digits_value
from admittance.identity.directory_model import (
    NewRole,
    NewUser,
    Role,
    RoleChanges,
    RoleQuery,
    UserChanges,
    UserQuery,
    is_identity_role,
)
from admittance.kernel.access import BUILTIN_ROLES, Context, Operation, covers_all, parse_permission

USERS = PREFIX + "/users"
ROLES = PREFIX + "/roles"
ROWS_PER_PAGE = 50
_MAX_SEARCH = 200


def routes(console: Console) -> list[BaseRoute]:
    # -- users ------------------------------------------------------------------------------------

    @page(console, needs=("GET", "/api/users"))
    async def users(current: Page) -> Response:
        search = current.query("q")[:_MAX_SEARCH]
        everyone = current.query("all") == "1"
        number = _page_number(current.query("page"))
        listed = await current.services.directory.list_users(
            current.principal,
            UserQuery(search=search, exclude_auto_generated=not everyone, page=number, rows_per_page=ROWS_PER_PAGE),
        )

        def link(to: int) -> str:
            query = {k: v for k, v in (("q", search), ("all", "1" if everyone else "")) if v}
            return f"{USERS}?{urlencode({**query, 'page': to})}"

        return current.render(
            "users.html",
            title="Users",
            users=listed.items,
            total=listed.total_rows,
            search=search,
            everyone=everyone,
            prev=link(number - 1) if number > 1 else None,
            next=link(listed.next_page) if listed.next_page else None,
            can_create=current.can("POST", "/api/users"),
        )

    @page(console, needs=("POST", "/api/users"))
    async def new_user_form(current: Page) -> Response:
        return current.render(
            "users_new.html",
            title="New user",
            roles=await _grantable_roles(current),
            username="",
            held=(),
            descriptions=_DESCRIPTIONS,
        )

    @page(console, needs=("POST", "/api/users"))
    async def create_user(current: Page) -> Response:
        username = current.field("username")
        password = _secret(current, "password")
        if not username or not password:
            return current.back(("error", "Enter a user name and a password for the new user."))
        if password != _secret(current, "password_again"):
            return current.back(("error", "The two passwords are not the same."))
        created = await current.services.directory.create_user(
            current.principal,
            NewUser(
                username=username,
                password=password,
                roles=tuple(current.fields("roles")),
                enforce_mfa_enrollment=current.field("enforce_mfa") == "on",
            ),
        )
        return current.redirect(f"{USERS}/{created.id}", f"The user {created.username} was created.")

    @page(console, needs=("GET", "/api/users"))
    async def user_detail(current: Page) -> Response:
        user_id = _user_id(current)
        current.require("GET", f"/api/users/{user_id}")
        user = await current.services.directory.get_user(current.principal, user_id)
        # The service's rule, to hide what it would refuse: a user the caller covers, in its tenants.
        principal = current.principal
        governable = principal.can_see_tenant(user.tenant_id) and (
            user_id == principal.user_id or covers_all(principal.permissions, user.permissions)
        )
        writable = governable and current.can("PUT", f"/api/users/{user_id}")
        return current.render(
            "users_detail.html",
            title=f"User {user.username}",
            user=user,
            roles=await _grantable_roles(current) if writable else [],
            descriptions=_DESCRIPTIONS,
            held={role.id for role in user.roles},
            personal=[role for role in user.roles if role.personal_user_id == user.id],
            can_edit=writable,
            can_delete=governable
            and current.can("DELETE", f"/api/users/{user_id}")
            and user_id != current.principal.user_id,
            can_revoke=current.can("DELETE", f"/api/users/{user_id}/tokens"),
            own=user_id == current.principal.user_id,
            current_session=current.session_id,
        )

    @page(console, needs=("GET", "/api/users"))
    async def update_user(current: Page) -> Response:
        user_id = _user_id(current)
        current.require("PUT", f"/api/users/{user_id}")
        directory = current.services.directory
        user = await directory.get_user(current.principal, user_id)
        # The identity roles (device, bootstrap) are the system's: kept as they are.
        kept = [role.id for role in user.roles if is_identity_role(role.id)]
        await directory.update_user(
            current.principal,
            user_id,
            UserChanges(
                roles=tuple(kept + current.fields("roles")),
                enforce_mfa_enrollment=current.field("enforce_mfa") == "on",
            ),
        )
        return current.redirect(f"{USERS}/{user_id}", f"The user {user.username} was saved.")

    def switch(enabled: bool) -> Callable[[Request], Awaitable[Response]]:
        @page(console, needs=("GET", "/api/users"))
        async def handler(current: Page) -> Response:
            user_id = _user_id(current)
            current.require("PUT", f"/api/users/{user_id}")
            user = await current.services.directory.update_user(
                current.principal, user_id, UserChanges(enabled=enabled)
            )
            state = (
                "enabled: the user can sign in again" if enabled else "disabled: its sessions and tokens stop working"
            )
            return current.redirect(f"{USERS}/{user_id}", f"The user {user.username} is {state}.")

        handler.__name__ = "enable_user" if enabled else "disable_user"
        return handler

    @page(console, needs=("GET", "/api/users"))
    async def reset_mfa(current: Page) -> Response:
        user_id = _user_id(current)
        current.require("PUT", f"/api/users/{user_id}")
        user = await current.services.directory.get_user(current.principal, user_id)
        if not user.mfa_enrolled:
            return current.redirect(
                f"{USERS}/{user_id}", ("info", f"{user.username} has no two-factor sign-in set up.")
            )
        await current.services.directory.update_user(current.principal, user_id, UserChanges(disable_mfa=True))
        return current.redirect(
            f"{USERS}/{user_id}",
            f"Two-factor sign-in of {user.username} was reset"
            + (": they set it up again at their next sign-in." if user.enforce_mfa_enrollment else "."),
        )

    @page(console, needs=("GET", "/api/users"))
    async def revoke_tokens(current: Page) -> Response:
        user_id = _user_id(current)
        current.require("DELETE", f"/api/users/{user_id}/tokens")
        token_id = current.field("token") or None
        count = await current.services.sessions.revoke_tokens(current.principal, user_id, token_id)
        if token_id is not None and count == 0:
            return current.redirect(f"{USERS}/{user_id}", ("error", "That token had already ended."))
        what = "The token was revoked." if token_id else f"{count} sessions and tokens were revoked."
        return current.redirect(f"{USERS}/{user_id}", what)

    @page(console, needs=("GET", "/api/users"))
    async def delete_user(current: Page) -> Response:
        user_id = _user_id(current)
        current.require("DELETE", f"/api/users/{user_id}")
        user = await current.services.directory.get_user(current.principal, user_id)
        await current.services.directory.delete_user(current.principal, user_id)
        return current.redirect(USERS, f"The user {user.username} was deleted.")

    # -- roles ------------------------------------------------------------------------------------

    @page(console, needs=("GET", "/api/roles"))
    async def roles(current: Page) -> Response:
        found = await current.services.directory.list_roles(current.principal)
        listed = [role for role in found if role.personal_user_id is None]
        return current.render(
            "roles.html",
            title="Roles",
            custom=[role for role in listed if not role.builtin],
            builtin=[role for role in listed if role.builtin and not is_identity_role(role.id)],
            descriptions=_DESCRIPTIONS,
            can_create=current.can("POST", "/api/roles"),
        )

    @page(console, needs=("POST", "/api/roles"))
    async def create_role(current: Page) -> Response:
        name = current.field("name")
        if not name:
            return current.back(("error", "Enter a name for the new role."))
        role = await current.services.directory.create_role(
            current.principal, NewRole(name=name, is_shared=current.field("shared") == "on")
        )
        return current.redirect(
            f"{ROLES}/{quote(role.id, safe='')}", f"The role {role.name} was created. Now add its permissions."
        )

    @page(console, needs=("GET", "/api/roles"))
    async def role_detail(current: Page) -> Response:
        role_id = current.request.path_params["id"]
        current.require("GET", f"/api/roles/{role_id}")
        role = await current.services.directory.get_role(current.principal, role_id)
        mutable = not role.builtin and role.personal_user_id is None
        usage = await current.services.directory.roles_page(current.principal, RoleQuery(names=(role.name,)))
        members = next((found.users for found in usage.items if found.role.id == role.id), [])
        return current.render(
            "roles_detail.html",
            title=f"Role {role.name}",
            role=role,
            members=members,
            description=BUILTIN_ROLES[role.id].description if role.builtin and role.id in BUILTIN_ROLES else None,
            can_edit=mutable and current.can("PUT", f"/api/roles/{role_id}"),
            can_add=not role.builtin and current.can("POST", f"/api/roles/{role_id}/permissions"),
            can_remove=not role.builtin and current.can("DELETE", f"/api/roles/{role_id}/permissions/x"),
            can_delete=mutable and current.can("DELETE", f"/api/roles/{role_id}"),
            contexts=[(c.value, c.value.upper()) for c in Context],
            operations=[(o.value, _OPERATION_TEXT[o]) for o in Operation],
        )

    @page(console, needs=("GET", "/api/roles"))
    async def update_role(current: Page) -> Response:
        role_id = current.request.path_params["id"]
        current.require("PUT", f"/api/roles/{role_id}")
        role = await current.services.directory.update_role(
            current.principal,
            role_id,
            RoleChanges(name=current.field("name"), is_shared=current.field("shared") == "on"),
        )
        return current.redirect(f"{ROLES}/{quote(role.id, safe='')}", f"The role {role.name} was saved.")

    @page(console, needs=("GET", "/api/roles"))
    async def add_permission(current: Page) -> Response:
        role_id = current.request.path_params["id"]
        current.require("POST", f"/api/roles/{role_id}/permissions")
        grant = parse_permission(current.field("context"), current.field("operation"), current.field("resource"))
        await current.services.directory.add_permission(current.principal, role_id, grant)
        return current.redirect(
            f"{ROLES}/{quote(role_id, safe='')}",
            f"Added: {_OPERATION_TEXT[grant.operation].lower()} on {grant.context.value} {grant.resource}.",
        )

    @page(console, needs=("GET", "/api/roles"))
    async def remove_permission(current: Page) -> Response:
        role_id = current.request.path_params["id"]
        permission_id = current.request.path_params["permission"]
        current.require("DELETE", f"/api/roles/{role_id}/permissions/{permission_id}")
        await current.services.directory.delete_permission(current.principal, role_id, permission_id)
        return current.redirect(f"{ROLES}/{quote(role_id, safe='')}", "The permission was removed.")

    @page(console, needs=("GET", "/api/roles"))
    async def delete_role(current: Page) -> Response:
        role_id = current.request.path_params["id"]
        current.require("DELETE", f"/api/roles/{role_id}")
        role = await current.services.directory.get_role(current.principal, role_id)
        await current.services.directory.delete_role(current.principal, role_id)
        return current.redirect(ROLES, f"The role {role.name} was deleted.")

    return [
        Route(USERS, users, methods=["GET"]),
        Route(USERS, create_user, methods=["POST"]),
        Route(USERS + "/new", new_user_form, methods=["GET"]),
        Route(USERS + "/{id:id}", user_detail, methods=["GET"]),
        Route(USERS + "/{id:id}", update_user, methods=["POST"]),
        Route(USERS + "/{id:id}/enable", switch(True), methods=["POST"]),
        Route(USERS + "/{id:id}/disable", switch(False), methods=["POST"]),
        Route(USERS + "/{id:id}/reset-mfa", reset_mfa, methods=["POST"]),
        Route(USERS + "/{id:id}/tokens/revoke", revoke_tokens, methods=["POST"]),
        Route(USERS + "/{id:id}/delete", delete_user, methods=["POST"]),
        Route(ROLES, roles, methods=["GET"]),
        Route(ROLES, create_role, methods=["POST"]),
        Route(ROLES + "/{id}", role_detail, methods=["GET"]),
        Route(ROLES + "/{id}", update_role, methods=["POST"]),
        Route(ROLES + "/{id}/permissions", add_permission, methods=["POST"]),
        Route(ROLES + "/{id}/permissions/{permission}/delete", remove_permission, methods=["POST"]),
        Route(ROLES + "/{id}/delete", delete_role, methods=["POST"]),
    ]


_DESCRIPTIONS = {name: role.description for name, role in BUILTIN_ROLES.items()}
_OPERATION_TEXT = {Operation.READ: "Read", Operation.WRITE: "Write", Operation.READ_WRITE: "Read and write"}


def _user_id(current: Page) -> int:
    value = current.request.path_params["id"]
    assert isinstance(value, int)
    return value


def _secret(current: Page, name: str) -> str:
    """A password field as typed (not stripped: blanks may belong to it)."""
    value = current.form.get(name) if current.form is not None else None
    return value if isinstance(value, str) else ""


def _page_number(raw: str) -> int:
    value = digits_value(raw, 1_000_000)
    return 1 if value is None else max(1, min(value, 1_000_000))


async def _grantable_roles(current: Page) -> list[Role]:
    """Roles that can be given to a user: no identity roles, no personal roles."""
    found = await current.services.directory.list_roles(current.principal)
    return [role for role in found if not is_identity_role(role.id) and role.personal_user_id is None]
