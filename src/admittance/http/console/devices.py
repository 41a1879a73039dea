"""Console pages: the device registry (managed objects) and its groups.

Each page and form stands for the Cumulocity inventory request it mirrors (`needs`, or
`current.require` with the object's own path) and calls InventoryService (or CertificateService for
a revocation) with the signed-in principal: the console sees and changes exactly what the API would,
and every change is audited by the service. A device's credentials are its own user (`device_<id>`,
the owner of its object): its state, the certificates issued to it, a new random password (shown
once) and the audit history of the object, its external ids and its user."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import orjson
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from admittance.devices.inventory_model import MAX_NAME_CHARS, InventoryFilter, ManagedObject
from admittance.http.console.core import PREFIX, Console, ConsoleError, Page, page
from admittance.kernel.errors import InvalidInput, NotFound
from admittance.kernel.paging import PageRequest
from admittance.pki.model import REVOCATION_REASONS, IssuedCertificate

BASE = PREFIX + "/devices"
GROUPS = BASE + "/groups"
API = "/inventory/managedObjects"
PAGE_SIZE = 25
GROUP_CHOICES = 200  # groups offered in a select; above that, the group id is typed
DEVICE_FRAGMENT = "c8y_IsDevice"
GROUP_FRAGMENT = "c8y_IsDeviceGroup"
GROUP_TYPE = "c8y_DeviceGroup"
KINDS = {"devices": DEVICE_FRAGMENT, "groups": GROUP_FRAGMENT, "all": None}


def kind_of(mo: ManagedObject) -> str:
    if GROUP_FRAGMENT in mo.fragments:
        return "group"
    if DEVICE_FRAGMENT in mo.fragments:
        return "device"
    return "object"


def url_of(mo: ManagedObject) -> str:
    return f"{GROUPS}/{mo.id}" if kind_of(mo) == "group" else f"{BASE}/{mo.id}"


def _object_id(text: str) -> str:
    """A managed object id from a path or a field (anything else is 'not found' to the service)."""
    if not (text.isascii() and text.isdecimal()) or len(text) > 18:
        raise ConsoleError(404, f"There is no managed object {text}.")
    return text


def _search_text(current: Page) -> str:
    text = current.query("q")
    if len(text) > MAX_NAME_CHARS:
        raise ConsoleError(400, f"The search text can have at most {MAX_NAME_CHARS} characters.")
    return text


def _pretty(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS).decode()


def routes(console: Console) -> list[BaseRoute]:
    async def group_choices(current: Page, exclude: set[int]) -> tuple[list[tuple[str, str]], bool]:
        """(id, label) of the groups offered for "add to group", and whether there are more than offered."""
        found = await current.services.inventory.list_managed_objects(
            current.principal,
            InventoryFilter(fragment_type=GROUP_FRAGMENT),
            PageRequest(1, GROUP_CHOICES),
            with_children=False,
        )
        choices = [(str(g.id), f"{g.name or 'unnamed'} ({g.id})") for g in found.items if g.id not in exclude]
        return choices, found.has_more

    @page(console, needs=("GET", API))
    async def list_devices(current: Page) -> Response:
        text = _search_text(current)
        kind = current.query("kind", "devices") or "devices"
        if kind not in KINDS:
            raise ConsoleError(400, "The kind must be devices, groups or all.")
        group_text = current.query("group")
        group = int(_object_id(group_text)) if group_text else None
        number = current.page_number()
        filters = InventoryFilter(fragment_type=KINDS[kind], text=text or None, parent=group)
        found = await current.services.inventory.list_managed_objects(
            current.principal, filters, PageRequest(number, PAGE_SIZE), with_children=kind != "groups"
        )
        exact = None
        if text.isascii() and text.isdecimal() and len(text) <= 18:
            try:
                exact = await current.services.inventory.get_managed_object(
                    current.principal, text, with_children=False
                )
            except NotFound:
                exact = None
        groups, more_groups = await group_choices(current, set())
        keep = {key: value for key, value in (("q", text), ("kind", kind), ("group", group_text)) if value}
        filtered = bool(text or group_text or kind != "devices")
        prev_url = f"{BASE}?{urlencode({**keep, 'page': number - 1})}" if number > 1 else None
        next_url = f"{BASE}?{urlencode({**keep, 'page': number + 1})}" if found.has_more else None
        return current.render(
            "devices.html",
            title="Devices",
            objects=[(mo, kind_of(mo), url_of(mo)) for mo in found.items],
            exact=(exact, url_of(exact)) if exact is not None else None,
            text=text,
            kind=kind,
            group=group_text,
            groups=groups,
            more_groups=more_groups,
            filtered=filtered,
            number=number,
            prev_url=prev_url,
            next_url=next_url,
            can_create_group=current.can("POST", API),
        )

    @page(console)
    async def device_detail(current: Page) -> Response:
        mo_id = _object_id(current.request.path_params["mo_id"])
        current.require("GET", f"{API}/{mo_id}")
        services, principal = current.services, current.principal
        mo = await services.inventory.get_managed_object(principal, mo_id)
        external_ids = None
        if current.can("GET", f"/identity/globalIds/{mo_id}/externalIds"):
            external_ids = await services.inventory.external_ids_of(principal, mo_id)
        credentials = await services.inventory.device_credentials(principal, mo_id)
        methods: frozenset[str] | None = None
        certificates: list[tuple[IssuedCertificate, str, bool]] | None = None
        can_rotate = False
        if credentials.username is not None:
            username = credentials.username
            if credentials.exists:
                methods = await services.certificates.grant_methods_of(principal, username)
                can_rotate = current.can("PUT", f"/user/{principal.tenant_id}/users/{username}") and current.can(
                    "PUT", f"{API}/{mo_id}"
                )
            if current.can("GET", "/admittance/v1/certificates"):
                issued = await services.certificates.list_issued(principal, username, PageRequest(1, 50))
                now = services.clock.now()
                certificates = [
                    (
                        item,
                        item.state_at(now),
                        not item.revoked and current.can("POST", f"/admittance/v1/certificates/{item.serial}/revoke"),
                    )
                    for item in issued.items
                ]
        parents = {ref.id for ref in mo.relations.asset_parents}
        can_assign = current.can("POST", f"{API}/0/childAssets")
        groups, more_groups = await group_choices(current, parents | {mo.id}) if can_assign else ([], False)
        history = await services.inventory.history(principal, mo_id)
        return current.render(
            "devices_detail.html",
            title=f"Device {mo.name or mo.id}",
            mo=mo,
            kind=kind_of(mo),
            fragments=[(key, _pretty(value)) for key, value in sorted(mo.fragments.items())],
            external_ids=external_ids,
            credentials=credentials,
            methods=sorted(methods) if methods is not None else None,
            certificates=certificates,
            reasons=list(REVOCATION_REASONS),
            can_rotate=can_rotate,
            can_assign=can_assign,
            can_unassign=current.can("DELETE", f"{API}/0/childAssets/{mo_id}"),
            can_delete=current.can("DELETE", f"{API}/{mo_id}"),
            groups=groups,
            more_groups=more_groups,
            history=history,
        )

    @page(console)
    async def delete_device(current: Page) -> Response:
        mo_id = _object_id(current.request.path_params["mo_id"])
        current.require("DELETE", f"{API}/{mo_id}")
        mo = await current.services.inventory.get_managed_object(current.principal, mo_id, with_children=False)
        with_user = current.field("with_device_user") == "1"
        await current.services.inventory.delete_managed_object(current.principal, mo_id, with_device_user=with_user)
        target = GROUPS if kind_of(mo) == "group" else BASE
        suffix = " and its device user" if with_user and mo.owner.startswith("device_") else ""
        return current.redirect(target, f"Deleted {mo.name or mo.id}{suffix}.")

    @page(console)
    async def assign(current: Page) -> Response:
        """Puts the device (`mo_id`) into a group; from the device page or the group page."""
        mo_id = _object_id(current.request.path_params["mo_id"])
        group_text = current.field("group")
        if not group_text:
            raise InvalidInput("Choose a group.")
        group_id = _object_id(group_text)
        current.require("POST", f"{API}/{group_id}/childAssets")
        await current.services.inventory.assign_child_asset(current.principal, group_id, mo_id)
        return current.back(f"Added {mo_id} to the group {group_id}.", default=f"{BASE}/{mo_id}")

    @page(console)
    async def add_member(current: Page) -> Response:
        """Puts a device (typed id) into this group; from the group page."""
        group_id = _object_id(current.request.path_params["mo_id"])
        member_text = current.field("member")
        if not member_text:
            raise InvalidInput("Give the id of the device to add.")
        member = member_text if member_text.isdecimal() else ""
        if not member:
            raise InvalidInput("The device id is the number shown in the device list.")
        current.require("POST", f"{API}/{group_id}/childAssets")
        await current.services.inventory.assign_child_asset(current.principal, group_id, member)
        return current.redirect(f"{GROUPS}/{group_id}", f"Added the device {member} to this group.")

    @page(console)
    async def unassign(current: Page) -> Response:
        mo_id = _object_id(current.request.path_params["mo_id"])
        group_id = _object_id(current.request.path_params["group_id"])
        current.require("DELETE", f"{API}/{group_id}/childAssets/{mo_id}")
        await current.services.inventory.unassign_child_asset(current.principal, group_id, mo_id)
        return current.back(f"Removed {mo_id} from the group {group_id}.", default=f"{BASE}/{mo_id}")

    @page(console)
    async def rotate_password(current: Page) -> Response:
        mo_id = _object_id(current.request.path_params["mo_id"])
        current.require("PUT", f"{API}/{mo_id}")
        credentials = await current.services.inventory.device_credentials(current.principal, mo_id)
        if credentials.username is None or not credentials.exists:
            raise ConsoleError(409, "This managed object has no device user to give a new password.")
        current.require("PUT", f"/user/{current.principal.tenant_id}/users/{credentials.username}")
        username, password = await current.services.inventory.rotate_device_password(current.principal, mo_id)
        return current.render(
            "devices_password.html",
            title="New device password",
            mo_id=mo_id,
            tenant=current.principal.tenant_id,
            username=username,
            password=password,
        )

    @page(console)
    async def revoke_certificate(current: Page) -> Response:
        mo_id = _object_id(current.request.path_params["mo_id"])
        serial = current.request.path_params["serial"]
        current.require("POST", f"/admittance/v1/certificates/{serial}/revoke")
        reason = current.field("reason") or "unspecified"
        credentials = await current.services.inventory.device_credentials(current.principal, mo_id)
        issued = await current.services.certificates.get_issued(current.principal, serial)
        if credentials.username is None or issued.owner != credentials.username:
            raise ConsoleError(404, "This device has no certificate with that serial number.")
        await current.services.certificates.revoke(current.principal, serial, reason)
        return current.redirect(f"{BASE}/{mo_id}", f"Revoked the certificate {issued.serial}.")

    @page(console, needs=("GET", API))
    async def list_groups(current: Page) -> Response:
        text = _search_text(current)
        number = current.page_number()
        found = await current.services.inventory.list_managed_objects(
            current.principal,
            InventoryFilter(fragment_type=GROUP_FRAGMENT, text=text or None),
            PageRequest(number, PAGE_SIZE),
            with_children=False,
        )
        keep = {"q": text} if text else {}
        prev_url = f"{GROUPS}?{urlencode({**keep, 'page': number - 1})}" if number > 1 else None
        next_url = f"{GROUPS}?{urlencode({**keep, 'page': number + 1})}" if found.has_more else None
        return current.render(
            "groups.html",
            title="Groups",
            groups=found.items,
            text=text,
            number=number,
            prev_url=prev_url,
            next_url=next_url,
            can_create=current.can("POST", API),
        )

    @page(console, needs=("POST", API))
    async def create_group(current: Page) -> Response:
        name = current.field("name")
        if not name:
            raise InvalidInput("Give the group a name.")
        body = {"name": name, "type": GROUP_TYPE, GROUP_FRAGMENT: {}}
        created = await current.services.inventory.create_managed_object(current.principal, body)
        return current.redirect(f"{GROUPS}/{created.id}", f"Created the group {name}.")

    @page(console)
    async def group_detail(current: Page) -> Response:
        group_id = _object_id(current.request.path_params["mo_id"])
        current.require("GET", f"{API}/{group_id}")
        services, principal = current.services, current.principal
        group = await services.inventory.get_managed_object(principal, group_id, with_children=False)
        number = current.page_number()
        members = await services.inventory.list_managed_objects(
            principal, InventoryFilter(parent=group.id), PageRequest(number, PAGE_SIZE), with_children=False
        )
        base = f"{GROUPS}/{group_id}"
        return current.render(
            "groups_detail.html",
            title=f"Group {group.name or group.id}",
            group=group,
            is_group=kind_of(group) == "group",
            members=[(mo, kind_of(mo), url_of(mo)) for mo in members.items],
            number=number,
            prev_url=f"{base}?page={number - 1}" if number > 1 else None,
            next_url=f"{base}?page={number + 1}" if members.has_more else None,
            can_add=current.can("POST", f"{API}/{group_id}/childAssets"),
            can_remove=current.can("DELETE", f"{API}/{group_id}/childAssets/0"),
            can_delete=current.can("DELETE", f"{API}/{group_id}"),
        )

    return [
        Route(BASE, list_devices, methods=["GET"]),
        Route(GROUPS, list_groups, methods=["GET"]),
        Route(GROUPS, create_group, methods=["POST"]),
        Route(GROUPS + "/{mo_id}", group_detail, methods=["GET"]),
        Route(GROUPS + "/{mo_id}/members", add_member, methods=["POST"]),
        Route(BASE + "/{mo_id}", device_detail, methods=["GET"]),
        Route(BASE + "/{mo_id}/delete", delete_device, methods=["POST"]),
        Route(BASE + "/{mo_id}/groups", assign, methods=["POST"]),
        Route(BASE + "/{mo_id}/groups/{group_id}/remove", unassign, methods=["POST"]),
        Route(BASE + "/{mo_id}/rotate-password", rotate_password, methods=["POST"]),
        Route(BASE + "/{mo_id}/certificates/{serial}/revoke", revoke_certificate, methods=["POST"]),
    ]
