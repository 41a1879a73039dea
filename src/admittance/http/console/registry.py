"""Console pages: Connectware's client registry (the registration window, pairing codes, grant or
reject).

Each page and form stands for the /api/client-registry request it mirrors (`needs`). Every change
goes through ClientRegistryService with the signed-in principal (which authorizes, writes in one
transaction and audits)."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from admittance.http.console.core import PREFIX
from admittance.http.console.page import Page, PageRoute
from admittance.identity.roles import RoleService
from admittance.kernel.access import BUILTIN_ROLES, IDENTITY_ROLES
from admittance.kernel.errors import InvalidInput
from admittance.registry.model import ClientRegistration, Confirmation, EntryStatus
from admittance.registry.service import ClientRegistryService

REGISTRY = PREFIX + "/client-registry"
API = "/api/client-registry"
CONFIRM = ("POST", API + "/confirm")
MAX_WINDOW_MINUTES = 24 * 60
MAX_PENDING_SHOWN = 500  # the registry rate-limits new requests per address; a flood stays readable
GRANTED_SHOWN = 20


def routes(pages: RegistryPages) -> list[PageRoute]:
    entry = REGISTRY + "/requests/{tenant_id}/{username}"
    return [
        PageRoute("GET", REGISTRY, pages.registry_page, needs=("GET", API)),
        PageRoute("GET", REGISTRY + "/live", pages.registry_live, needs=("GET", API), background=True),
        PageRoute("POST", REGISTRY + "/open", pages.open_window, needs=("POST", API + "/open")),
        PageRoute("POST", REGISTRY + "/close", pages.close_window, needs=("POST", API + "/close")),
        PageRoute("GET", entry, pages.grant_page, needs=CONFIRM),
        PageRoute("POST", entry + "/grant", pages.grant, needs=CONFIRM),
        # Refused by permission before the entry is looked up, like every other form.
        PageRoute("POST", entry + "/reject", pages.reject, needs=("DELETE", f"{API}/x")),
    ]


class RegistryPages:
    """The registry page and its forms: the client registry, and the role service for the roles a
    granted client may be given."""

    def __init__(self, registry: ClientRegistryService, roles: RoleService) -> None:
        self._registry = registry
        self._roles = roles

    async def registry_page(self, current: Page) -> Response:
        return current.render(
            "registry.html",
            title="Client registry",
            can_open=current.can("POST", API + "/open"),
            can_close=current.can("POST", API + "/close"),
            **await self._entries(current),
        )

    async def registry_live(self, current: Page) -> Response:
        return current.render("registry_entries.html", **await self._entries(current))

    async def _entries(self, current: Page) -> dict[str, Any]:
        """The registry's state: the window, the pending requests oldest first, the latest granted ones."""
        until = await self._registry.open_until(current.principal.tenant_id)
        pending = await self._registry.entries_by_status(current.principal, EntryStatus.PENDING, MAX_PENDING_SHOWN)
        granted = await self._registry.entries_by_status(current.principal, EntryStatus.GRANTED, GRANTED_SHOWN + 1)
        return {
            "open_until": until,
            "pending": pending,
            "granted": granted[:GRANTED_SHOWN],
            "more_granted": len(granted) > GRANTED_SHOWN,
            "pending_capped": len(pending) >= MAX_PENDING_SHOWN,
            "can_confirm": current.can(*CONFIRM),
            "can_reject": current.can("DELETE", API + "/x"),
            "show_tenant": current.principal.in_management_tenant,
        }

    async def open_window(self, current: Page) -> Response:
        text = current.field("minutes") or "5"
        try:
            minutes = float(text)
        except ValueError:
            raise InvalidInput("The number of minutes must be a number, such as 5.") from None
        if not 0 < minutes <= MAX_WINDOW_MINUTES:
            raise InvalidInput(f"Open the registry for more than 0 and at most {MAX_WINDOW_MINUTES} minutes.")
        until = await self._registry.open(current.principal, round(minutes * 60_000))
        return current.redirect(REGISTRY, f"The registry is open until {until.strftime('%H:%M:%S')} UTC.")

    async def close_window(self, current: Page) -> Response:
        await self._registry.close(current.principal)
        return current.redirect(REGISTRY, "The registry is closed: new clients are refused (423).")

    async def grant_page(self, current: Page) -> Response:
        entry = await self._entry(current)
        if entry.granted:
            return current.redirect(REGISTRY, ("info", f"{entry.username} was granted already."))
        roles = await self._roles.list_roles(current.principal)
        identity = {r.value for r in IDENTITY_ROLES}
        options = [
            (role.id, role.name, role.builtin)
            for role in roles
            if role.tenant_id in (None, entry.tenant_id) and role.id not in identity
        ]
        known = {role_id for role_id, _, _ in options} | set(BUILTIN_ROLES)
        names = {name for _, name, _ in options}
        return current.render(
            "registry_grant.html",
            title=f"Grant {entry.username}",
            entry=entry,
            roles=options,
            asked={role_id for role_id, name, _ in options if name in entry.roles or role_id in entry.roles},
            unknown=[name for name in entry.roles if name not in known and name not in names],
        )

    async def grant(self, current: Page) -> Response:
        entry = await self._entry(current)
        if current.field("pairing_code") != entry.pairing_code:
            raise InvalidInput("The request changed since the page was shown (another pairing code). Compare again.")
        confirmation = Confirmation(
            username=entry.username,
            tenant_id=entry.tenant_id,
            mqtt_publish_prefix=current.field("mqtt_publish_prefix") or None,
            roles=tuple(current.fields("roles")),
            permissions=entry.permissions if current.field("asked_permissions") == "1" else (),
        )
        user = await self._registry.confirm(current.principal, confirmation)
        return current.redirect(
            REGISTRY, f"{user.username} was granted; the client collects its credentials at its next request."
        )

    async def reject(self, current: Page) -> Response:
        entry = await self._entry(current)
        current.require("DELETE", f"{API}/{entry.username}")
        await self._registry.remove(current.principal, entry.username, entry.tenant_id)
        verb = "forgotten (the user stays)" if entry.granted else "rejected"
        return current.redirect(REGISTRY, f"The request of {entry.username} was {verb}.")

    async def _entry(self, current: Page) -> ClientRegistration:
        return await self._registry.entry(
            current.principal, current.path_param("username"), current.path_param("tenant_id")
        )
