"""Console pages: users, and the sessions and tokens of a user.

Each page and form stands for the Connectware-compatible API request that does the same
(`/api/users/...`) and is gated by the same policy on it; the user service then applies its own
rules (visibility, no privilege escalation). Revoking another user's tokens is checked here on
`DELETE /api/users/{id}/tokens`, as the API route does."""

from __future__ import annotations

from urllib.parse import urlencode

from starlette.responses import Response

from admittance.http.console.core import PREFIX
from admittance.http.console.page import Page, PageRoute
from admittance.http.console.roles import DESCRIPTIONS
from admittance.identity.directory_model import DirectoryUser, NewUser, Role, UserChanges, UserQuery, is_identity_role
from admittance.identity.roles import RoleService
from admittance.identity.sessions import SessionService
from admittance.identity.users import UserService
from admittance.kernel.access import covers_all

USERS = PREFIX + "/users"
API = "/api/users"
LIST = ("GET", API)
CREATE = ("POST", API)
ROWS_PER_PAGE = 50
_MOST_PAGES = 1_000_000
_MAX_SEARCH = 200


def routes(pages: UserPages) -> list[PageRoute]:
    one = USERS + "/{id:id}"  # a stored id: 1 to 18 ASCII digits
    return [
        PageRoute("GET", USERS, pages.list_users, needs=LIST),
        PageRoute("POST", USERS, pages.create_user, needs=CREATE),
        PageRoute("GET", USERS + "/new", pages.new_user_form, needs=CREATE),
        PageRoute("GET", one, pages.user_detail, needs=LIST),
        PageRoute("POST", one, pages.update_user, needs=LIST),
        PageRoute("POST", one + "/enable", pages.enable_user, needs=LIST),
        PageRoute("POST", one + "/disable", pages.disable_user, needs=LIST),
        PageRoute("POST", one + "/reset-mfa", pages.reset_mfa, needs=LIST),
        PageRoute("POST", one + "/tokens/revoke", pages.revoke_tokens, needs=LIST),
        PageRoute("POST", one + "/delete", pages.delete_user, needs=LIST),
    ]


def user_url(user_id: int) -> str:
    return f"{USERS}/{user_id}"


class UserPages:
    """The user pages: the directory (users, and the roles to give them) and the sessions service
    (revoking a user's sessions and tokens)."""

    def __init__(self, users: UserService, roles: RoleService, sessions: SessionService) -> None:
        self._users = users
        self._roles = roles
        self._sessions = sessions

    async def list_users(self, current: Page) -> Response:
        search = current.query("q")[:_MAX_SEARCH]
        everyone = current.query("all") == "1"
        number = current.page_number_or_first(_MOST_PAGES)
        listed = await self._users.list_users(
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
            can_create=current.can(*CREATE),
        )

    async def new_user_form(self, current: Page) -> Response:
        return current.render(
            "users_new.html",
            title="New user",
            roles=await self._grantable_roles(current),
            username="",
            held=(),
            descriptions=DESCRIPTIONS,
        )

    async def create_user(self, current: Page) -> Response:
        username = current.field("username")
        password = current.secret("password")
        if not username or not password:
            return current.back(("error", "Enter a user name and a password for the new user."))
        if password != current.secret("password_again"):
            return current.back(("error", "The two passwords are not the same."))
        created = await self._users.create_user(
            current.principal,
            NewUser(
                username=username,
                password=password,
                roles=tuple(current.fields("roles")),
                enforce_mfa_enrollment=current.field("enforce_mfa") == "on",
            ),
        )
        return current.redirect(user_url(created.id), f"The user {created.username} was created.")

    async def user_detail(self, current: Page) -> Response:
        user_id = _user_id(current)
        current.require("GET", f"{API}/{user_id}")
        user = await self._users.get_user(current.principal, user_id)
        governable = _governable(current, user)
        writable = governable and current.can("PUT", f"{API}/{user_id}")
        own = user_id == current.principal.user_id
        return current.render(
            "users_detail.html",
            title=f"User {user.username}",
            user=user,
            roles=await self._grantable_roles(current) if writable else [],
            descriptions=DESCRIPTIONS,
            held={role.id for role in user.roles},
            personal=[role for role in user.roles if role.personal_user_id == user.id],
            can_edit=writable,
            can_delete=governable and current.can("DELETE", f"{API}/{user_id}") and not own,
            can_revoke=current.can("DELETE", f"{API}/{user_id}/tokens"),
            own=own,
            current_session=current.session_id,
        )

    async def update_user(self, current: Page) -> Response:
        user_id = _user_id(current)
        current.require("PUT", f"{API}/{user_id}")
        user = await self._users.get_user(current.principal, user_id)
        # The identity roles (device, bootstrap) are the system's: kept as they are.
        kept = [role.id for role in user.roles if is_identity_role(role.id)]
        changes = UserChanges(
            roles=tuple(kept + current.fields("roles")), enforce_mfa_enrollment=current.field("enforce_mfa") == "on"
        )
        await self._users.update_user(current.principal, user_id, changes)
        return current.redirect(user_url(user_id), f"The user {user.username} was saved.")

    async def enable_user(self, current: Page) -> Response:
        return await self._switch(current, enabled=True)

    async def disable_user(self, current: Page) -> Response:
        return await self._switch(current, enabled=False)

    async def _switch(self, current: Page, *, enabled: bool) -> Response:
        user_id = _user_id(current)
        current.require("PUT", f"{API}/{user_id}")
        user = await self._users.update_user(current.principal, user_id, UserChanges(enabled=enabled))
        state = "enabled: the user can sign in again" if enabled else "disabled: its sessions and tokens stop working"
        return current.redirect(user_url(user_id), f"The user {user.username} is {state}.")

    async def reset_mfa(self, current: Page) -> Response:
        user_id = _user_id(current)
        current.require("PUT", f"{API}/{user_id}")
        user = await self._users.get_user(current.principal, user_id)
        if not user.mfa_enrolled:
            return current.redirect(user_url(user_id), ("info", f"{user.username} has no two-factor sign-in set up."))
        await self._users.update_user(current.principal, user_id, UserChanges(disable_mfa=True))
        return current.redirect(
            user_url(user_id),
            f"Two-factor sign-in of {user.username} was reset"
            + (": they set it up again at their next sign-in." if user.enforce_mfa_enrollment else "."),
        )

    async def revoke_tokens(self, current: Page) -> Response:
        user_id = _user_id(current)
        current.require("DELETE", f"{API}/{user_id}/tokens")
        token_id = current.field("token") or None
        count = await self._sessions.revoke_tokens(current.principal, user_id, token_id)
        if token_id is not None and count == 0:
            return current.redirect(user_url(user_id), ("error", "That token had already ended."))
        what = "The token was revoked." if token_id else f"{count} sessions and tokens were revoked."
        return current.redirect(user_url(user_id), what)

    async def delete_user(self, current: Page) -> Response:
        user_id = _user_id(current)
        current.require("DELETE", f"{API}/{user_id}")
        user = await self._users.get_user(current.principal, user_id)
        await self._users.delete_user(current.principal, user_id)
        return current.redirect(USERS, f"The user {user.username} was deleted.")

    async def _grantable_roles(self, current: Page) -> list[Role]:
        """Roles that can be given to a user: no identity roles, no personal roles."""
        found = await self._roles.list_roles(current.principal)
        return [role for role in found if not is_identity_role(role.id) and role.personal_user_id is None]


def _user_id(current: Page) -> int:
    value = current.request.path_params["id"]
    assert isinstance(value, int)
    return value


def _governable(current: Page, user: DirectoryUser) -> bool:
    """The service's rule, to hide what it would refuse: a user the caller covers, in its tenants."""
    principal = current.principal
    return principal.can_see_tenant(user.tenant_id) and (
        user.id == principal.user_id or covers_all(principal.permissions, user.permissions)
    )
